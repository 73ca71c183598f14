//! One fault stays in its unit of work. herald hosts seven bots in one process, so a panic in
//! one update's handler, one job run or one approval-desk step must not end the task that runs
//! it, and with it every bot. Each unit runs under [`catch_panic`], which turns a panic into a
//! value its caller records like any other failure; the unit's transaction was dropped with
//! it, so rolled back. [`count_and_tell`] counts such a fault and DMs the operator about it at
//! most once an hour per (bot, kind), in the transaction that audits it.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use sqlx::SqliteConnection;

use crate::outbox::alerts::ConsoleChannel;
use crate::outbox::EnqueueError;
use crate::store::fault_counts::{self, Counted, FaultKind};

/// A unit of work panicked, with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("panicked: {message}")]
pub struct Panicked {
    pub message: String,
}

/// Runs `unit` to its end, catching a panic in it (its state is dropped: an open transaction
/// rolls back). The panic hook has already printed it by then.
pub async fn catch_panic<F: Future>(unit: F) -> Result<F::Output, Panicked> {
    // Unwind safety: a unit owns its transaction and shares nothing it could leave half-changed
    // (handlers write through the transaction; tokio's mutexes do not poison).
    AssertUnwindSafe(unit)
        .catch_unwind()
        .await
        .map_err(|payload| Panicked {
            message: panic_message(payload.as_ref()),
        })
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

/// `text` cut to at most `max` characters, ending in `…` when cut: for echoing what came from
/// outside (a panic message, callback data, a parse error) into audit details and DMs.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => {
            let keep = text[..end]
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(end, |(i, _)| i);
            format!("{}…", &text[..keep])
        }
    }
}

/// Counts a fault of `kind` in `bot` and, if the operator heard about no fault of this
/// (bot, kind) in the last hour, DMs them `html` (plus how many were held back since the last
/// DM). In the caller's transaction, the one that audits the fault.
pub async fn count_and_tell(
    conn: &mut SqliteConnection,
    console: &ConsoleChannel,
    bot: &str,
    kind: FaultKind,
    html: &str,
    at: DateTime<Utc>,
) -> Result<Counted, sqlx::Error> {
    let counted = fault_counts::count(conn, bot, kind, at).await?;
    if !counted.alert {
        return Ok(counted);
    }
    let mut text = html.to_owned();
    if counted.held_back > 0 {
        text.push_str(&format!(
            "\n{} more of these since my last DM about them.",
            counted.held_back
        ));
    }
    text.push_str(&format!(
        "\nI DM about a {} in {bot} at most once an hour; <code>herald log</code> lists every one.",
        kind.as_str()
    ));
    match console.alert(conn, &text, None, at).await {
        Ok(_) => {}
        Err(EnqueueError::Db(e)) => return Err(e),
        Err(other) => {
            tracing::error!(error = %other, bot, kind = kind.as_str(), "fault alert not enqueued")
        }
    }
    Ok(counted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_a_value_with_its_message() {
        let caught = catch_panic(async { panic!("boom {}", 42) }).await;
        assert_eq!(
            caught,
            Err(Panicked {
                message: "boom 42".into()
            })
        );
        let caught = catch_panic(async { std::panic::panic_any(7_u8) }).await;
        assert_eq!(caught.unwrap_err().message, "(a panic without a message)");
        assert_eq!(catch_panic(async { 5 }).await, Ok(5));
    }

    #[test]
    fn cut_keeps_at_most_max_characters() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "ab…");
        assert_eq!(cut("ééééé", 4), "ééé…");
        assert_eq!(cut("", 0), "");
        assert_eq!(cut("🎉🎉🎉", 2).chars().count(), 2);
    }
}
