//! Faults counted per (bot, kind), and the hourly throttle of the operator DM about them.
//! A poison update, a panicking handler or an unreadable update is handled once and skipped;
//! this table is what remembers that it happened (for status and metrics) and keeps one bad
//! sender from turning into a DM per update. Written in the transaction that audits the fault.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{parse_time, time_key};

/// The operator hears about one (bot, kind) of fault at most this often.
pub fn alert_every() -> chrono::Duration {
    chrono::Duration::hours(1)
}

/// A kind of fault that stays inside its unit of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// A handler of an update panicked.
    HandlerPanic,
    /// A handler of an update returned an error.
    HandlerError,
    /// An update did not parse (or teloxide read it as `UpdateKind::Error`).
    UnreadableUpdate,
    /// A step of the approval desk panicked.
    DeskPanic,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::HandlerPanic => "handler panic",
            FaultKind::HandlerError => "handler error",
            FaultKind::UnreadableUpdate => "unreadable update",
            FaultKind::DeskPanic => "desk panic",
        }
    }

    /// Whether the operator is DMed about it. An unreadable update is audited, logged and
    /// counted only: Telegram adds update kinds over time, and nothing was lost that a DM
    /// could bring back.
    pub fn alerts(self) -> bool {
        !matches!(self, FaultKind::UnreadableUpdate)
    }
}

/// What counting one fault decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// Occurrences of this (bot, kind) so far, this one included.
    pub occurrences: i64,
    /// Whether this one gets an operator DM (none about this (bot, kind) in the last hour).
    pub alert: bool,
    /// With `alert`: how many since the last DM were held back (to be named in this one).
    pub held_back: i64,
}

/// Counts one fault of `kind` in `bot` at `at`, and decides whether the operator is DMed.
pub async fn count(
    conn: &mut SqliteConnection,
    bot: &str,
    kind: FaultKind,
    at: DateTime<Utc>,
) -> Result<Counted, sqlx::Error> {
    let row: Option<(i64, Option<String>, i64)> = sqlx::query_as(
        "SELECT occurrences, alerted_at, held_back FROM fault_counts WHERE bot = ? AND kind = ?",
    )
    .bind(bot)
    .bind(kind.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let (before, alerted_at, held_back) = row.unwrap_or((0, None, 0));
    let last_alert = alerted_at.as_deref().and_then(parse_time);
    let due = last_alert.is_none_or(|last| at - last >= alert_every());
    let alert = kind.alerts() && due;
    let (alerted_at, held_after) = if alert {
        (Some(time_key(at)), 0)
    } else if kind.alerts() {
        (alerted_at, held_back + 1)
    } else {
        (alerted_at, held_back)
    };
    sqlx::query(
        "INSERT INTO fault_counts (bot, kind, occurrences, first_at, last_at, alerted_at, held_back)
         VALUES (?, ?, 1, ?, ?, ?, ?)
         ON CONFLICT (bot, kind) DO UPDATE SET
             occurrences = occurrences + 1,
             last_at = excluded.last_at,
             alerted_at = excluded.alerted_at,
             held_back = excluded.held_back",
    )
    .bind(bot)
    .bind(kind.as_str())
    .bind(time_key(at))
    .bind(time_key(at))
    .bind(alerted_at)
    .bind(held_after)
    .execute(&mut *conn)
    .await?;
    Ok(Counted {
        occurrences: before + 1,
        alert,
        held_back: if alert { held_back } else { 0 },
    })
}

/// One (bot, kind) of fault, as counted.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FaultCount {
    pub bot: String,
    pub kind: String,
    pub occurrences: i64,
    pub first_at: String,
    pub last_at: String,
}

/// Every (bot, kind) of fault counted so far, by bot then kind.
pub async fn all(pool: &sqlx::SqlitePool) -> Result<Vec<FaultCount>, sqlx::Error> {
    sqlx::query_as(
        "SELECT bot, kind, occurrences, first_at, last_at FROM fault_counts ORDER BY bot, kind",
    )
    .fetch_all(pool)
    .await
}

/// How many faults of `kind` were counted for `bot` (0 if none).
pub async fn occurrences(
    pool: &sqlx::SqlitePool,
    bot: &str,
    kind: FaultKind,
) -> Result<i64, sqlx::Error> {
    let n: Option<i64> =
        sqlx::query_scalar("SELECT occurrences FROM fault_counts WHERE bot = ? AND kind = ?")
            .bind(bot)
            .bind(kind.as_str())
            .fetch_optional(pool)
            .await?;
    Ok(n.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        (dir, store)
    }

    async fn count_at(store: &Store, bot: &str, kind: FaultKind, at: DateTime<Utc>) -> Counted {
        let mut tx = store.begin_write().await.unwrap();
        let counted = count(&mut tx, bot, kind, at).await.unwrap();
        tx.commit().await.unwrap();
        counted
    }

    #[tokio::test]
    async fn one_alert_per_bot_and_kind_per_hour_naming_the_held_back_ones() {
        let (_dir, store) = store().await;
        let t0 = DateTime::UNIX_EPOCH + chrono::Duration::days(20_000);
        let minutes = |m: i64| t0 + chrono::Duration::minutes(m);
        let first = count_at(&store, "clawrence", FaultKind::HandlerPanic, t0).await;
        assert_eq!(
            first,
            Counted {
                occurrences: 1,
                alert: true,
                held_back: 0
            }
        );
        for m in [1, 30, 59] {
            let again = count_at(&store, "clawrence", FaultKind::HandlerPanic, minutes(m)).await;
            assert!(!again.alert, "a second DM within the hour (minute {m})");
        }
        // Another bot, and another kind of the same bot, have their own hour.
        assert!(
            count_at(&store, "happy", FaultKind::HandlerPanic, minutes(2))
                .await
                .alert
        );
        assert!(
            count_at(&store, "clawrence", FaultKind::HandlerError, minutes(2))
                .await
                .alert
        );
        let next = count_at(&store, "clawrence", FaultKind::HandlerPanic, minutes(60)).await;
        assert_eq!(
            next,
            Counted {
                occurrences: 5,
                alert: true,
                held_back: 3
            }
        );
        assert_eq!(
            occurrences(store.pool(), "clawrence", FaultKind::HandlerPanic)
                .await
                .unwrap(),
            5
        );
    }

    #[tokio::test]
    async fn unreadable_updates_are_counted_without_alerts() {
        let (_dir, store) = store().await;
        let t0 = DateTime::UNIX_EPOCH;
        for i in 0..3 {
            let counted = count_at(
                &store,
                "lawrence",
                FaultKind::UnreadableUpdate,
                t0 + chrono::Duration::hours(i),
            )
            .await;
            assert!(!counted.alert);
            assert_eq!(counted.occurrences, i + 1);
        }
        let all = all(store.pool()).await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].kind, "unreadable update");
        assert_eq!(all[0].occurrences, 3);
    }
}
