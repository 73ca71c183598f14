//! What the scheduler's files share: its settings and error, how a slot is named to the
//! operator, and how an alert or a reply to the operator is written.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::jobs::JobSpec;
use crate::outbox::alerts::ConsoleChannel;
use crate::outbox::EnqueueError;

/// Tunables of the scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// The longest the scheduler sleeps between two looks, in clock time, however far the
    /// next slot is: a guard against a wall clock set forward while it slept.
    pub longest_sleep: chrono::Duration,
    /// A slot not finished this long after its time is a failure.
    pub absence_after: chrono::Duration,
    /// Real time between two watchdog checks.
    pub watchdog_every: Duration,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            longest_sleep: chrono::Duration::minutes(1),
            absence_after: chrono::Duration::minutes(5),
            watchdog_every: Duration::from_secs(60),
        }
    }
}

/// Why the scheduler stopped on its own.
#[derive(Debug, thiserror::Error)]
#[error("scheduler: the database could not be read or written: {0}")]
pub struct SchedulerError(#[from] pub(super) sqlx::Error);

/// `Mon 2026-11-23 11:00 +08 (03:00 UTC)`.
pub fn local_and_utc(spec: &JobSpec, slot: DateTime<Utc>) -> String {
    format!(
        "{} ({} UTC)",
        spec.local(slot).format("%a %Y-%m-%d %H:%M %Z"),
        slot.format("%H:%M")
    )
}

/// Enqueues an operator DM; an alert that cannot be addressed is logged at ERROR (the console
/// channel does that), a database error fails the caller's transaction.
pub(super) async fn alert(
    console: &ConsoleChannel,
    conn: &mut sqlx::SqliteConnection,
    html: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    match console.alert(conn, html, None, at).await {
        Ok(_) => Ok(()),
        Err(EnqueueError::Db(e)) => Err(e),
        Err(other) => {
            tracing::error!(error = %other, "operator alert not enqueued");
            Ok(())
        }
    }
}

/// A reply to the operator who asked (`/run`, `/preview`).
pub(super) async fn tell(
    console: &ConsoleChannel,
    conn: &mut sqlx::SqliteConnection,
    operator: i64,
    html: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    match console.direct(conn, operator, html, at).await {
        Ok(()) => Ok(()),
        Err(EnqueueError::Db(e)) => Err(e),
        Err(other) => {
            tracing::error!(error = %other, "console reply not enqueued");
            Ok(())
        }
    }
}
