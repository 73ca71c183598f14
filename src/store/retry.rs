//! Transient database errors are waited out, not fatal. One busy moment (another program
//! holding SQLite's write lock past the busy timeout, a pool with every connection taken, an
//! interrupted read) used to stop all seven bots; now the unit of work that met it is run
//! again from its start, with backoff, and the wait is counted. Only a persistent failure
//! ends the process: over a minute of continuous failure, a full disk or a corrupt file. The
//! store remembers which, so the fleet can stop with one clear line.
//!
//! Retries are at the transaction level: [`Store::retry`] reruns a whole unit of work (a
//! closure that begins, fills and commits its own transaction), never half of one.

use std::future::Future;
use std::sync::atomic::Ordering;

use tokio_util::sync::CancellationToken;

use super::fence::LeaseLost;
pub use super::retry_policy::RetryPolicy;
pub use super::retrying::PersistentFailure;
use super::retrying::Waiting;
use super::Store;

/// What a database error means for the unit of work that met it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Busy or locked database, pool timeout, interrupted I/O: wait and run the unit again.
    Transient,
    /// The disk (or the database's page limit) is full.
    DiskFull,
    /// The file is not a database, or is damaged.
    Corrupt,
    /// Another herald took the database over (see [`super::lease`]).
    LeaseLost,
    /// Anything else (a constraint, a decoding bug): retrying would fail the same way.
    Other,
}

impl ErrorClass {
    /// Whether this failure ends the process at once, whatever the caller does with it.
    pub fn is_persistent(self) -> bool {
        matches!(self, Self::DiskFull | Self::Corrupt)
    }
}

/// SQLite's primary result codes that matter here (the extended code's low byte).
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_INTERRUPT: i64 = 9;
const SQLITE_IOERR: i64 = 10;
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_FULL: i64 = 13;
const SQLITE_PROTOCOL: i64 = 15;
const SQLITE_NOTADB: i64 = 26;

/// Classifies a database error.
pub fn classify(error: &sqlx::Error) -> ErrorClass {
    match error {
        sqlx::Error::PoolTimedOut => ErrorClass::Transient,
        sqlx::Error::Io(io) => classify_io(io),
        sqlx::Error::Database(db) => {
            if db.try_downcast_ref::<LeaseLost>().is_some() {
                return ErrorClass::LeaseLost;
            }
            let Some(code) = db.code().and_then(|c| c.parse::<i64>().ok()) else {
                return ErrorClass::Other;
            };
            match code & 0xff {
                SQLITE_BUSY | SQLITE_LOCKED | SQLITE_INTERRUPT | SQLITE_IOERR | SQLITE_PROTOCOL => {
                    ErrorClass::Transient
                }
                SQLITE_FULL => ErrorClass::DiskFull,
                SQLITE_CORRUPT | SQLITE_NOTADB => ErrorClass::Corrupt,
                _ => ErrorClass::Other,
            }
        }
        _ => ErrorClass::Other,
    }
}

fn classify_io(io: &std::io::Error) -> ErrorClass {
    use std::io::ErrorKind;
    if io.raw_os_error() == Some(libc::ENOSPC) || io.kind() == ErrorKind::StorageFull {
        return ErrorClass::DiskFull;
    }
    match io.kind() {
        ErrorKind::Interrupted | ErrorKind::TimedOut | ErrorKind::WouldBlock => {
            ErrorClass::Transient
        }
        _ => ErrorClass::Other,
    }
}

/// An error that may have come from the database: how the retry helper finds the
/// `sqlx::Error` inside a caller's own error type.
pub trait DbFailure {
    fn db_error(&self) -> Option<&sqlx::Error>;
}

impl DbFailure for sqlx::Error {
    fn db_error(&self) -> Option<&sqlx::Error> {
        Some(self)
    }
}

/// Counters of transient failures, readable by status and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryStats {
    /// Every failed try of a unit of work that was then tried again.
    pub transient_errors: u64,
    /// Units of work that met a transient failure and then succeeded.
    pub waited_out: u64,
    /// The longest such wait, in milliseconds.
    pub longest_wait_ms: u64,
}

impl Store {
    /// Runs `work` (one whole unit of work: it begins and commits its own transaction) until
    /// it succeeds or fails in a way waiting cannot fix. A transient failure is counted and
    /// the unit runs again after a wait (doubling from 100 ms to 2 s) for up to a minute of
    /// continuous failure; then, or at once for a full disk or a damaged file, the store
    /// records a [`PersistentFailure`] and the error is returned. Errors that are not from
    /// the database, or not transient, are returned as they are.
    pub async fn retry<T, E, F, Fut>(&self, unit: &str, mut work: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: DbFailure + std::fmt::Display,
    {
        let retrying = &self.retrying;
        let policy = &retrying.policy;
        let mut failing_since: Option<tokio::time::Instant> = None;
        let mut wait = policy.first_wait;
        let mut tries: u64 = 0;
        // Registered while this unit waits out a failure; gone when it returns.
        let mut waiting: Option<Waiting<'_>> = None;
        loop {
            // Continuous failure counts from the start of the first failing try (a busy
            // database fails only after the 10 s busy timeout).
            let try_started = tokio::time::Instant::now();
            let error = match work().await {
                Ok(done) => {
                    if let Some(since) = failing_since {
                        let waited = since.elapsed();
                        let waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
                        retrying.waited_out.fetch_add(1, Ordering::Relaxed);
                        retrying
                            .longest_wait_ms
                            .fetch_max(waited_ms, Ordering::Relaxed);
                        tracing::warn!(
                            unit,
                            tries,
                            ?waited,
                            transient_errors_so_far =
                                retrying.transient_errors.load(Ordering::Relaxed),
                            "database available again; waited out a transient failure"
                        );
                    }
                    return Ok(done);
                }
                Err(error) => error,
            };
            let class = error.db_error().map_or(ErrorClass::Other, classify);
            match class {
                ErrorClass::Transient => {}
                ErrorClass::DiskFull => {
                    retrying.give_up(PersistentFailure::DiskFull {
                        unit: unit.to_owned(),
                        error: error.to_string(),
                    });
                    return Err(error);
                }
                ErrorClass::Corrupt => {
                    retrying.give_up(PersistentFailure::Corrupt {
                        unit: unit.to_owned(),
                        error: error.to_string(),
                    });
                    return Err(error);
                }
                ErrorClass::LeaseLost | ErrorClass::Other => return Err(error),
            }
            tries += 1;
            if waiting.is_none() {
                waiting = Some(Waiting::new(retrying, unit));
            }
            let since = *failing_since.get_or_insert(try_started);
            let failing_for = since.elapsed();
            if failing_for >= policy.give_up_after {
                retrying.give_up(PersistentFailure::GaveUp {
                    unit: unit.to_owned(),
                    waited_s: failing_for.as_secs(),
                    error: error.to_string(),
                });
                return Err(error);
            }
            retrying.transient_errors.fetch_add(1, Ordering::Relaxed);
            if tries == 1 {
                tracing::warn!(unit, %error, "transient database failure; waiting it out");
            } else {
                tracing::debug!(unit, tries, %error, "still failing; waiting");
            }
            let pause = wait.min(policy.give_up_after.saturating_sub(failing_for));
            tokio::select! {
                _ = retrying.stopping.cancelled() => return Err(error),
                _ = tokio::time::sleep(pause) => {}
            }
            wait = (wait * 2).min(policy.max_wait);
        }
    }

    /// What the retries have seen since the store was opened.
    pub fn retry_stats(&self) -> RetryStats {
        let r = &self.retrying;
        RetryStats {
            transient_errors: r.transient_errors.load(Ordering::Relaxed),
            waited_out: r.waited_out.load(Ordering::Relaxed),
            longest_wait_ms: r.longest_wait_ms.load(Ordering::Relaxed),
        }
    }

    /// Ends every wait for the database: units failing transiently return their error at
    /// once (the process is stopping).
    pub fn stop_retrying(&self) {
        self.retrying.stopping.cancel();
    }

    /// Cancelled when the store gives up on the database ([`Store::persistent_failure`]).
    pub fn failed_signal(&self) -> CancellationToken {
        self.retrying.failed.clone()
    }

    /// The unit of work that has waited longest among those waiting out a failure now, if any.
    pub fn waiting_out(&self) -> Option<String> {
        self.retrying.longest_waiting()
    }

    /// The persistent failure the store gave up on, if any.
    pub fn persistent_failure(&self) -> Option<PersistentFailure> {
        self.retrying
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;
    use std::sync::atomic::AtomicUsize;

    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    use sqlx::{Connection, Executor};

    use super::*;
    use std::time::Duration;

    async fn store(dir: &tempfile::TempDir) -> Store {
        Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .expect("store opens")
    }

    #[tokio::test]
    async fn a_write_lock_held_elsewhere_is_busy_and_transient() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
        holder.execute("BEGIN IMMEDIATE").await.unwrap();
        let options = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .busy_timeout(Duration::ZERO);
        let mut impatient = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        let error = impatient.execute("BEGIN IMMEDIATE").await.unwrap_err();
        assert_eq!(classify(&error), ErrorClass::Transient, "{error}");
        holder.execute("ROLLBACK").await.unwrap();
        drop(store);
    }

    #[tokio::test]
    async fn a_full_database_is_persistent_and_stops_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        // One connection, so the page limit below applies to every try.
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&pool)
            .await
            .unwrap();
        sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
            .execute(&pool)
            .await
            .unwrap();
        let tries = AtomicUsize::new(0);
        let result: Result<(), sqlx::Error> = store
            .retry("filling the audit log", || async {
                tries.fetch_add(1, Ordering::SeqCst);
                let mut tx = pool.begin().await?;
                for _ in 0..200 {
                    sqlx::query(
                        "INSERT INTO audit (at, kind, decision, detail) VALUES ('t', 'k', 'd', ?)",
                    )
                    .bind("x".repeat(2000))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await
            })
            .await;
        let error = result.unwrap_err();
        assert_eq!(classify(&error), ErrorClass::DiskFull, "{error}");
        assert_eq!(tries.load(Ordering::SeqCst), 1, "not retried");
        let failure = store.persistent_failure().expect("recorded");
        assert!(
            matches!(&failure, PersistentFailure::DiskFull { unit, .. } if unit == "filling the audit log"),
            "{failure:?}"
        );
        assert!(failure
            .to_string()
            .contains("disk holding the database is full"));
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_database_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("garbage.db");
        std::fs::write(&path, vec![0x5a_u8; 8192]).unwrap();
        // Depending on the connect pragmas, opening or the first read notices.
        let error =
            match sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await {
                Err(error) => error,
                Ok(mut conn) => conn
                    .execute("SELECT * FROM sqlite_master")
                    .await
                    .unwrap_err(),
            };
        assert_eq!(classify(&error), ErrorClass::Corrupt, "{error}");
    }

    #[test]
    fn other_errors_are_neither_transient_nor_persistent() {
        assert_eq!(classify(&sqlx::Error::RowNotFound), ErrorClass::Other);
        assert_eq!(classify(&sqlx::Error::PoolTimedOut), ErrorClass::Transient);
        let interrupted = std::io::Error::from(std::io::ErrorKind::Interrupted);
        assert_eq!(
            classify(&sqlx::Error::Io(interrupted)),
            ErrorClass::Transient
        );
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(classify(&sqlx::Error::Io(full)), ErrorClass::DiskFull);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_counted_and_waited_out() {
        let store = Store::unopened_for_tests();
        let tries = AtomicUsize::new(0);
        let started = tokio::time::Instant::now();
        let got: Result<&str, sqlx::Error> = store
            .retry("a flaky unit", || async {
                let tried = tries.fetch_add(1, Ordering::SeqCst);
                // Readiness sees the unit waiting from its first failure on.
                let waiting = store.waiting_out();
                assert_eq!(waiting.is_some(), tried > 0, "try {tried}: {waiting:?}");
                if tried < 3 {
                    Err(sqlx::Error::PoolTimedOut)
                } else {
                    Ok("done")
                }
            })
            .await;
        assert_eq!(got.unwrap(), "done");
        assert_eq!(tries.load(Ordering::SeqCst), 4);
        assert_eq!(
            store.waiting_out(),
            None,
            "no longer waiting once it succeeded"
        );
        // 100 + 200 + 400 ms of backoff, in paused time.
        assert_eq!(started.elapsed(), Duration::from_millis(700));
        assert_eq!(
            store.retry_stats(),
            RetryStats {
                transient_errors: 3,
                waited_out: 1,
                longest_wait_ms: 700
            }
        );
        assert_eq!(store.persistent_failure(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn over_a_minute_of_continuous_failure_is_persistent() {
        let store = Store::unopened_for_tests();
        let started = tokio::time::Instant::now();
        let got: Result<(), sqlx::Error> = store
            .retry("claiming a row", || async {
                Err(sqlx::Error::PoolTimedOut)
            })
            .await;
        assert!(matches!(got, Err(sqlx::Error::PoolTimedOut)));
        assert_eq!(started.elapsed(), Duration::from_secs(60));
        let failure = store.persistent_failure().expect("gave up");
        assert_eq!(
            failure,
            PersistentFailure::GaveUp {
                unit: "claiming a row".into(),
                waited_s: 60,
                error: sqlx::Error::PoolTimedOut.to_string(),
            }
        );
    }

    #[tokio::test]
    async fn errors_that_waiting_cannot_fix_are_returned_at_once() {
        let store = Store::unopened_for_tests();
        let tries = AtomicUsize::new(0);
        let got: Result<(), sqlx::Error> = store
            .retry("a buggy unit", || async {
                tries.fetch_add(1, Ordering::SeqCst);
                Err(sqlx::Error::RowNotFound)
            })
            .await;
        assert!(matches!(got, Err(sqlx::Error::RowNotFound)));
        assert_eq!(tries.load(Ordering::SeqCst), 1);
        assert_eq!(store.retry_stats(), RetryStats::default());
        assert_eq!(store.persistent_failure(), None);
    }
}
