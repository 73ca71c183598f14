//! A write transaction of [`super::Store`]: the process's turn to write and SQLite's write
//! lock taken at its start, the lease checked, and the wake-ups its writes marked
//! ([`super::signals`]) raised once it committed.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::OwnedMutexGuard;

use super::signals::{self, Signals};

/// An open write transaction; used as a `SqliteConnection` (`&mut *tx`). Dropped without
/// [`Write::commit`], it rolls back and its marks are forgotten.
pub struct Write {
    /// Boxed: the marks are keyed by the connection's address ([`signals`]), which must stay
    /// put while the `Write` moves (into the poller's unit of work and out again).
    tx: Option<Box<Transaction<'static, Sqlite>>>,
    /// This process's turn to write, given back when the transaction ends (declared after
    /// `tx`, so dropped after it).
    _turn: OwnedMutexGuard<()>,
    signals: Arc<Signals>,
    /// For a store without a lease: the pool through which its commits nudge the running
    /// herald ([`super::nudge`]).
    nudge: Option<SqlitePool>,
}

impl Write {
    pub(super) fn new(
        tx: Transaction<'static, Sqlite>,
        turn: OwnedMutexGuard<()>,
        signals: Arc<Signals>,
        nudge: Option<SqlitePool>,
    ) -> Self {
        Self {
            tx: Some(Box::new(tx)),
            _turn: turn,
            signals,
            nudge,
        }
    }

    fn key(&self) -> Option<usize> {
        self.tx.as_deref().map(|tx| signals::key(tx))
    }

    /// Commits, then wakes the tasks the transaction's writes gave work to.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let key = self.key();
        let Some(tx) = self.tx.take() else {
            return Ok(());
        };
        // Taken before the commit: the connection goes back to the pool with it, and another
        // transaction may open on it at once.
        let wakes = key.map(signals::take).unwrap_or_default();
        (*tx).commit().await?;
        self.signals.raise(&wakes);
        if let (Some(pool), false) = (&self.nudge, wakes.is_empty()) {
            super::nudge::holder(pool).await;
        }
        Ok(())
    }
}

impl Write {
    /// Rolls back: nothing written stands, nothing is woken.
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        if let Some(key) = self.key() {
            signals::take(key);
        }
        match self.tx.take() {
            Some(tx) => (*tx).rollback().await,
            None => Ok(()),
        }
    }
}

impl Drop for Write {
    fn drop(&mut self) {
        if let Some(key) = self.key() {
            signals::take(key);
        }
    }
}

impl Deref for Write {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.tx
            .as_deref()
            .expect("a Write holds its transaction until commit consumes it")
    }
}

impl DerefMut for Write {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.tx
            .as_deref_mut()
            .expect("a Write holds its transaction until commit consumes it")
    }
}

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Write").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;
    use futures::FutureExt;

    use crate::outbox::OutgoingMessage;
    use crate::store::pauses::{self, PauseScope};
    use crate::store::Store;

    const BOTS: [&str; 3] = ["claudia", "clawrence", "lawrence"];

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("h.db").display());
        (dir, Store::open(&url).await.expect("opens"))
    }

    /// Which of the tasks were woken since the last call (taking their wake-ups).
    fn woken(store: &Store) -> BTreeMap<&'static str, bool> {
        let signals = store.signals();
        let mut woken: BTreeMap<&'static str, bool> = BOTS
            .iter()
            .map(|&bot| (bot, signals.sender(bot).notified().now_or_never().is_some()))
            .collect();
        woken.insert(
            "scheduler",
            signals.scheduler().notified().now_or_never().is_some(),
        );
        woken
    }

    fn only(names: &[&str]) -> BTreeMap<&'static str, bool> {
        BOTS.iter()
            .chain(&["scheduler"])
            .map(|&name| (name, names.contains(&name)))
            .collect()
    }

    fn at() -> chrono::DateTime<chrono::Utc> {
        chrono::Utc.with_ymd_and_hms(2026, 11, 23, 3, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn a_row_wakes_its_own_bots_sender_once_committed_and_nobody_else() {
        let (_dir, store) = store().await;
        assert_eq!(woken(&store), only(&[]));
        let mut tx = store.begin_write().await.unwrap();
        crate::outbox::enqueue(&mut tx, "clawrence", at(), OutgoingMessage::direct(1, "hi"))
            .await
            .unwrap();
        assert_eq!(woken(&store), only(&[]), "nothing before the commit");
        tx.commit().await.unwrap();
        assert_eq!(woken(&store), only(&["clawrence"]));
        assert_eq!(woken(&store), only(&[]), "one wake-up per commit");
    }

    #[tokio::test]
    async fn a_write_moved_between_its_writes_and_its_commit_still_wakes() {
        let (_dir, store) = store().await;
        let mut tx = store.begin_write().await.unwrap();
        crate::outbox::enqueue(&mut tx, "claudia", at(), OutgoingMessage::direct(1, "hi"))
            .await
            .unwrap();
        // As the poller does with its unit of work.
        let shared = std::sync::Arc::new(tokio::sync::Mutex::new(tx));
        let tx = std::sync::Arc::into_inner(shared).unwrap().into_inner();
        let moved = vec![tx];
        for tx in moved {
            tx.commit().await.unwrap();
        }
        assert_eq!(woken(&store), only(&["claudia"]));
    }

    #[tokio::test]
    async fn a_rollback_or_a_dropped_transaction_wakes_nobody() {
        let (_dir, store) = store().await;
        let mut tx = store.begin_write().await.unwrap();
        crate::outbox::enqueue(&mut tx, "claudia", at(), OutgoingMessage::direct(1, "a"))
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        let mut tx = store.begin_write().await.unwrap();
        crate::outbox::enqueue(&mut tx, "claudia", at(), OutgoingMessage::direct(1, "b"))
            .await
            .unwrap();
        drop(tx);
        // The next transaction (on the same connection, most likely) inherits no marks.
        let tx = store.begin_write().await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(woken(&store), only(&[]));
    }

    #[tokio::test]
    async fn a_pause_or_a_resume_wakes_every_sender_and_the_scheduler() {
        let (_dir, store) = store().await;
        for bot in BOTS {
            store.signals().sender(bot);
        }
        let scope = PauseScope::Bot("claudia".to_owned());
        let mut tx = store.begin_write().await.unwrap();
        assert!(pauses::pause(&mut tx, &scope, "op", at()).await.unwrap());
        tx.commit().await.unwrap();
        assert_eq!(
            woken(&store),
            only(&["claudia", "clawrence", "lawrence", "scheduler"])
        );
        let mut tx = store.begin_write().await.unwrap();
        assert!(!pauses::pause(&mut tx, &scope, "op", at()).await.unwrap());
        tx.commit().await.unwrap();
        assert_eq!(woken(&store), only(&[]), "already paused: nothing changed");
        let mut tx = store.begin_write().await.unwrap();
        assert!(pauses::resume(&mut tx, &scope, "op", at()).await.unwrap());
        tx.commit().await.unwrap();
        assert_eq!(
            woken(&store),
            only(&["claudia", "clawrence", "lawrence", "scheduler"])
        );
    }

    #[tokio::test]
    async fn two_stores_in_one_process_never_wake_each_other() {
        let (_a_dir, a) = store().await;
        let (_b_dir, b) = store().await;
        b.signals().sender("clawrence");
        let mut tx = a.begin_write().await.unwrap();
        crate::outbox::enqueue(&mut tx, "clawrence", at(), OutgoingMessage::direct(1, "hi"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(woken(&b), only(&[]));
        assert_eq!(woken(&a), only(&["clawrence"]));
    }
}
