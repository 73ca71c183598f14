//! The lease's fence, apart from the lease that renews it ([`super::lease`]): who holds the
//! database ([`Holder`]), the holder's own epoch that every write transaction checks
//! ([`Fence`]), and the error a holder that lost it gets ([`LeaseLost`]). The store holds a
//! fence without knowing how a lease is taken.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::SqliteConnection;
use tokio_util::sync::CancellationToken;

/// The lease row as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Holder {
    pub epoch: i64,
    pub host: String,
    pub pid: i64,
    pub started_at: String,
    pub heartbeat_at: String,
    pub released_at: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "herald pid {} on host {}, running since {}",
            self.pid, self.host, self.started_at
        )
    }
}

impl Holder {
    pub(super) fn heartbeat(&self) -> Option<DateTime<Utc>> {
        super::timestamps::parse_time(&self.heartbeat_at)
    }
}

/// How a holder that lost the lease learns it: a database error (so it travels through
/// every caller's `sqlx::Error` plumbing) that [`super::retry::classify`] recognises.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LeaseLost {
    /// Our epoch.
    pub ours: i64,
    /// Who holds the database now (None: the lease row is gone, or was released).
    pub holder: Option<Holder>,
    message: String,
}

impl LeaseLost {
    pub(super) fn new(ours: i64, holder: Option<Holder>) -> Self {
        let message = match &holder {
            Some(h) if h.epoch != ours => format!(
                "another herald took this database over ({h}, lease epoch {}; ours was {ours}); this one stops and writes nothing more",
                h.epoch
            ),
            _ => format!(
                "this herald no longer holds the database lease (epoch {ours} was released or removed); it stops and writes nothing more"
            ),
        };
        Self {
            ours,
            holder,
            message,
        }
    }
}

impl DatabaseError for LeaseLost {
    fn message(&self) -> &str {
        &self.message
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

/// The holder's side of the fence: its epoch, and whether it has learnt it lost the lease.
#[derive(Debug)]
pub(crate) struct Fence {
    pub(super) epoch: i64,
    pub(super) lost: CancellationToken,
    lost_to: Mutex<Option<LeaseLost>>,
    /// Taken over from a holder that stopped renewing but may still be alive (paused): it
    /// may wake up and make one last `getUpdates` before it notices.
    pub(super) took_over_stale: bool,
    /// Real instant just before the last heartbeat this holder committed (taking the lease
    /// counts): nobody may take the lease over before that heartbeat is a TTL old.
    beat: Mutex<Instant>,
    ttl: Duration,
}

impl Fence {
    /// `beat`: a real instant taken before the heartbeat that took the lease was stamped.
    pub(super) fn new(epoch: i64, took_over_stale: bool, beat: Instant, ttl: Duration) -> Self {
        Self {
            epoch,
            lost: CancellationToken::new(),
            lost_to: Mutex::new(None),
            took_over_stale,
            beat: Mutex::new(beat),
            ttl,
        }
    }

    /// Records a committed heartbeat, stamped after `before` (a real instant).
    pub(super) fn beat(&self, before: Instant) {
        *self.beat.lock().unwrap_or_else(|p| p.into_inner()) = before;
    }

    /// When the last committed heartbeat was stamped, or a moment before.
    pub(super) fn last_beat(&self) -> Instant {
        *self.beat.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the lease is certainly still ours without reading it: our last heartbeat is
    /// less than half a TTL old, so nobody may have taken it over, and we did not learn we
    /// lost it. A process paused for longer finds its heartbeat old when it wakes (real
    /// time ran on) and reads the lease again. Not a fence for writes: a write checks the
    /// row under the write lock ([`Fence::check`]), as a pause may fall between this look
    /// and the write.
    pub(super) fn surely_held(&self) -> bool {
        !self.lost.is_cancelled() && self.last_beat().elapsed() < self.ttl / 2
    }

    /// Checks the lease row on `conn` (inside a write transaction, under the write lock:
    /// nobody can take the lease before this transaction ends).
    pub(crate) async fn check(&self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        let holder = read_holder(conn).await?;
        match holder {
            Some(h) if h.epoch == self.epoch && h.released_at.is_none() => Ok(()),
            other => Err(self.lose(other)),
        }
    }

    pub(super) fn lose(&self, holder: Option<Holder>) -> sqlx::Error {
        let lost = LeaseLost::new(self.epoch, holder);
        let mut slot = self.lost_to.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            tracing::error!(%lost, "lost the database lease");
            *slot = Some(lost.clone());
        }
        drop(slot);
        self.lost.cancel();
        sqlx::Error::Database(Box::new(lost))
    }

    pub(super) fn lost_to(&self) -> Option<LeaseLost> {
        self.lost_to
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

pub(super) async fn read_holder(
    conn: &mut SqliteConnection,
) -> Result<Option<Holder>, sqlx::Error> {
    sqlx::query_as(
        "SELECT epoch, host, pid, started_at, heartbeat_at, released_at FROM lease WHERE id = 1",
    )
    .fetch_optional(conn)
    .await
}

/// Why the lease could not be taken: someone else holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub holder: Holder,
    /// How long ago the holder last renewed it (negative: its clock is ahead of ours).
    pub heartbeat_age: chrono::Duration,
    pub ttl: Duration,
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "another herald holds this database: {} (last heartbeat {} s ago). Stop it first; a holder that stops renewing (killed on another host, or hung) is taken over {} s after its last heartbeat.",
            self.holder,
            self.heartbeat_age.num_seconds().max(0),
            self.ttl.as_secs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What lets an idle poll skip its read of the lease: a heartbeat under half a TTL old,
    /// and no loss learnt.
    #[test]
    fn the_lease_is_surely_held_only_while_the_last_heartbeat_is_young_and_not_lost() {
        let ttl = Duration::from_secs(30);
        let fence = Fence::new(1, false, Instant::now(), ttl);
        assert!(fence.surely_held(), "a heartbeat just committed");

        // A process paused past half a TTL wakes with an old heartbeat: it reads the row.
        let old = Instant::now()
            .checked_sub(ttl / 2)
            .expect("an earlier instant");
        fence.beat(old);
        assert!(!fence.surely_held(), "half a TTL old");
        fence.beat(Instant::now());
        assert!(fence.surely_held(), "renewed");

        let lost = fence.lose(None);
        assert!(lost.to_string().contains("no longer holds"), "{lost}");
        assert!(!fence.surely_held(), "lost: never surely held again");
    }
}
