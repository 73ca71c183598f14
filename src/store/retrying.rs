//! What one store's retries have seen, shared by its clones: the counters, the persistent
//! failure it gave up on, the units waiting out a failure now. [`super::retry`] does the
//! retrying.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio_util::sync::CancellationToken;

use super::retry_policy::RetryPolicy;

/// Why the store gave up: the one line the process stops with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersistentFailure {
    #[error("the database stayed unavailable for {waited_s} s while {unit} ({error}); is another program holding its write lock, or is the disk failing?")]
    GaveUp {
        unit: String,
        waited_s: u64,
        error: String,
    },
    #[error("the disk holding the database is full ({error}) while {unit}; free some space, then start herald again")]
    DiskFull { unit: String, error: String },
    #[error("the database file is damaged ({error}) while {unit}; restore it from a backup, then start herald again")]
    Corrupt { unit: String, error: String },
}

/// The retry policy of one store and what it has seen (shared by its clones).
#[derive(Debug, Default)]
pub(crate) struct Retrying {
    pub(crate) policy: RetryPolicy,
    pub(super) transient_errors: AtomicU64,
    pub(super) waited_out: AtomicU64,
    pub(super) longest_wait_ms: AtomicU64,
    pub(super) failure: Mutex<Option<PersistentFailure>>,
    /// The units of work waiting out a failure now, by a number of their own (for readiness).
    waiting: Mutex<std::collections::BTreeMap<u64, String>>,
    next_waiting: AtomicU64,
    /// Cancelled when the store gives up.
    pub(super) failed: CancellationToken,
    /// Cancelled when the process stops: waits end, the last error is returned.
    pub(super) stopping: CancellationToken,
}

impl Retrying {
    pub(crate) fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }

    pub(super) fn give_up(&self, failure: PersistentFailure) {
        tracing::error!(%failure, "persistent database failure");
        let mut slot = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(failure);
        }
        drop(slot);
        self.failed.cancel();
    }
}

/// A unit of work waiting out a failure, listed in [`Retrying::waiting`] until dropped.
pub(super) struct Waiting<'a> {
    retrying: &'a Retrying,
    id: u64,
}

impl<'a> Waiting<'a> {
    pub(super) fn new(retrying: &'a Retrying, unit: &str) -> Self {
        let id = retrying.next_waiting.fetch_add(1, Ordering::Relaxed);
        retrying
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, unit.to_owned());
        Self { retrying, id }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.retrying
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

impl Retrying {
    /// The unit of work that has waited longest among those waiting out a failure now.
    pub(super) fn longest_waiting(&self) -> Option<String> {
        let waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        waiting.values().next().cloned()
    }
}
