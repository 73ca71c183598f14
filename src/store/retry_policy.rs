//! How long the store waits out transient failures (busy database, interrupted I/O) before
//! it calls them persistent: a settings type of its own, so that the lease (which opens the
//! store with one) and the retry loop (which reads it) do not import each other.

use std::time::Duration;

/// How long transient failures are waited out, and how the waits grow.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// A unit of work failing transiently for longer than this is a persistent failure.
    pub give_up_after: Duration,
    /// The first wait after a transient failure; it doubles up to `max_wait`.
    pub first_wait: Duration,
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            give_up_after: Duration::from_secs(60),
            first_wait: Duration::from_millis(100),
            max_wait: Duration::from_secs(2),
        }
    }
}
