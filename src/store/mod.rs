//! The database: one SQLite file (by default) opened in WAL mode with `synchronous=FULL` (the
//! log cut back to [`WAL_SIZE_LIMIT`] after checkpoints), migrations applied at open. Table
//! families live in their own files. `herald run` opens it under a lease ([`lease`]) that fences every write; transient errors are waited out by
//! [`Store::retry`] ([`retry`]).

pub mod approvals;
pub mod audit;
pub mod boots;
pub mod bots;
pub mod capability_snapshots;
pub mod claims;
pub mod command_windows;
pub mod daily_updates;
pub mod failures;
pub mod fault_counts;
mod fence;
pub mod files;
pub mod gym_bookings;
pub mod health;
pub mod job_once;
pub mod lease;
pub mod leave_snapshots;
pub mod nudge;
pub mod pauses;
mod processes;
pub mod requests;
pub mod retention;
pub mod retry;
pub mod retry_policy;
mod retrying;
pub mod sent;
pub mod signals;
pub mod slots;
mod timestamps;
pub mod updates;
pub mod volts;
mod write;

pub use write::Write;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use fence::{Fence, Held};
use retry_policy::RetryPolicy;
use retrying::Retrying;
use signals::Signals;
pub use timestamps::{parse_time, time_key};

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL {url:?} is not valid: {source}")]
    BadUrl { url: String, source: sqlx::Error },
    #[error("cannot create the database {path} or its folder: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {url:?}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("cannot apply migrations to {url:?}: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("{url}: {held}")]
    Held { url: String, held: Box<Held> },
}

/// A handle to the database; cheap to clone. Writing is crate-private: outside the crate, a
/// row is written only through what the crate offers (an outbox row only through a
/// `Poster<I>`); reading goes through [`Store::reader`].
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// The same database opened read-only (lazily: no connection until first used).
    reader: SqlitePool,
    /// The lease of `herald run`: checked by every write transaction. None for the other
    /// commands (`herald pause`, `herald log`), which take no lease.
    fence: Option<Arc<Fence>>,
    retrying: Arc<Retrying>,
    /// What this store's commits wake ([`signals`]).
    signals: Arc<Signals>,
    /// The turn to write, handed out first come, first served to this process's writers (the
    /// poller reading in a backlog, the senders, the scheduler), so that none waits in
    /// SQLite's busy handler, which sleeps and retries and favours whoever retries last.
    writer: Arc<tokio::sync::Mutex<()>>,
}

/// The default database of a deployment: `<config>/state/herald.db`.
pub fn default_url(config_dir: &Path) -> String {
    format!(
        "sqlite://{}",
        config_dir.join("state").join("herald.db").display()
    )
}

/// The database file a `sqlite://` URL names; `None` for an in-memory or unparsable URL.
pub fn file_of(url: &str) -> Option<std::path::PathBuf> {
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    (file.as_os_str() != ":memory:" && !file.as_os_str().is_empty()).then(|| file.to_owned())
}

/// The size in bytes the write-ahead log is cut back to after a checkpoint: about SQLite's
/// automatic checkpoint (1,000 pages of 4 KiB).
pub const WAL_SIZE_LIMIT: u64 = 4 * 1024 * 1024;

/// Connects to (creating if missing) the database at `url`, without migrating.
async fn connect(url: &str) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|source| StoreError::BadUrl {
            url: url.to_owned(),
            source,
        })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        // A checkpoint that resets the write-ahead log truncates it to this size, so one large
        // transaction (the daily prune) does not leave the log at its high-water mark forever.
        .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string());
    let file = options.get_filename();
    if file.as_os_str() != ":memory:" && !file.as_os_str().is_empty() {
        // A private folder and file before SQLite opens it: its -wal and -shm take its mode.
        files::prepare(file).map_err(|source| StoreError::StateDir {
            path: file.to_owned(),
            source,
        })?;
    }
    SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .map_err(|source| StoreError::Open {
            url: url.to_owned(),
            source,
        })
}

async fn migrate(pool: &SqlitePool, url: &str) -> Result<(), StoreError> {
    sqlx::migrate!("./migrations")
        .run(pool)
        .await
        .map_err(|source| StoreError::Migrate {
            url: url.to_owned(),
            source,
        })
}

impl Store {
    /// Opens (creating if missing) the database at `url` and applies migrations. Takes no
    /// lease: for the commands that may run beside `herald run` ([`Store::open_leased`]).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = connect(url).await?;
        migrate(&pool, url).await?;
        Ok(Self::from_pool(pool, RetryPolicy::default()))
    }

    fn from_pool(pool: SqlitePool, policy: RetryPolicy) -> Self {
        let read_only = (*pool.connect_options()).clone().read_only(true);
        let reader = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_lazy_with(read_only);
        Self {
            pool,
            reader,
            fence: None,
            retrying: Arc::new(Retrying::new(policy)),
            signals: Arc::default(),
            writer: Arc::default(),
        }
    }

    /// A store that never connected (for tests of the retry helper in paused time).
    #[cfg(test)]
    pub(crate) fn unopened_for_tests() -> Self {
        let pool = SqlitePoolOptions::new()
            .connect_lazy("sqlite::memory:")
            .expect("a lazy pool");
        Self::from_pool(pool, RetryPolicy::default())
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The database for reading only: its connections are opened read-only by SQLite, so
    /// nothing written through them can succeed (tests and tools look at rows this way). A
    /// file database only: an in-memory one would be another, empty database.
    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// Begins a write transaction that takes SQLite's write lock at once, so it never fails
    /// half-way with a busy snapshot when another writer committed in between. Under a lease,
    /// it first checks (under that lock) that the lease is still ours: a holder that lost it
    /// gets [`lease::LeaseLost`] and writes nothing. Its commit raises the wake-ups its writes
    /// marked ([`signals`]).
    ///
    /// Within the process, writers queue for their turn (first come, first served) before
    /// they ask SQLite for the lock; the turn is held until the transaction ends.
    pub(crate) async fn begin_write(&self) -> Result<Write, sqlx::Error> {
        let turn = self.writer.clone().lock_owned().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(fence) = &self.fence {
            fence.check(&mut tx).await?;
        }
        // Without a lease this is a command beside `herald run`: its commits nudge it.
        let nudge = self.fence.is_none().then(|| self.pool.clone());
        Ok(Write::new(tx, turn, self.signals.clone(), nudge))
    }

    /// The wake-ups raised by this store's commits, for the tasks that wait on them.
    pub fn signals(&self) -> &Arc<Signals> {
        &self.signals
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.reader.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_durable_with_a_bounded_write_ahead_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&format!("sqlite://{}", dir.path().join("h.db").display()))
            .await
            .expect("opens");
        let mut conn = store.pool().acquire().await.expect("connection");
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .expect("journal_mode");
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .expect("synchronous");
        let limit: i64 = sqlx::query_scalar("PRAGMA journal_size_limit")
            .fetch_one(&mut *conn)
            .await
            .expect("journal_size_limit");
        assert_eq!(mode, "wal");
        assert_eq!(synchronous, 2, "synchronous=FULL");
        assert_eq!(u64::try_from(limit).ok(), Some(WAL_SIZE_LIMIT));
    }
}
