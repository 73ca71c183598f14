//! One `herald run` per database. Two instances on one database would both poll, both send
//! and both recover each other's in-flight sends as "interrupted": the outbox protocol's
//! at-most-once promise holds only with one sender per bot. So `herald run` takes a lease
//! (the one row of `lease`: host, pid, start time, heartbeat, epoch) before it polls, sends,
//! schedules or touches any row, and renews it every few seconds.
//!
//! - A second `herald run` finds the lease held and refuses to start, naming the holder,
//!   without changing anything: the look that refuses is a read, done before migrations.
//! - A lease not renewed for the TTL (30 s: its holder was killed, or is paused) may be taken
//!   over, raising the epoch; so may one whose holder on this host is gone (killed, crashed)
//!   or that was released by a clean stop.
//! - Fencing: every write transaction of the holder ([`Store::begin_write`]) first checks
//!   that the lease row still carries its epoch, under the write lock, so a holder that was
//!   paused past the TTL and taken over cannot claim, send-record or change anything. It
//!   notices (a fenced write, or the next renewal) and stops.
//!
//! The lease lives in real time (heartbeats compared across processes), whatever clock the
//! run rehearses with.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio_util::sync::CancellationToken;

use super::audit::{self, AuditEntry};
use super::fence::{read_holder, Fence};
pub use super::fence::{Held, Holder, LeaseLost};
use super::retry_policy::RetryPolicy;
use super::{processes, Store, StoreError};
use crate::clock::Clock;

/// How long a lease lives without renewal, and how often it is renewed.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// A lease whose heartbeat is older than this may be taken over.
    pub ttl: Duration,
    /// How often the holder renews its heartbeat.
    pub renew_every: Duration,
    /// Real time: heartbeats are compared between processes.
    pub clock: Clock,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self::with_ttl(Duration::from_secs(30))
    }
}

impl LeaseSettings {
    /// A TTL of `ttl`, renewed three times within it (every 10 s for the default 30 s): a
    /// holder misses two renewals before it may be taken over. Each renewal is one write
    /// (not waited onto the disk: see [`Lease::keep`]), so an idle herald writes every 10 s
    /// and no more often.
    pub fn with_ttl(ttl: Duration) -> Self {
        Self {
            ttl,
            renew_every: ttl / 3,
            clock: Clock::system(),
        }
    }
}

/// The process asking for the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimant {
    pub host: String,
    pub pid: i64,
    pub started_at: DateTime<Utc>,
}

impl Claimant {
    /// This process, starting at `at`.
    pub fn this_process(at: DateTime<Utc>) -> Self {
        Self {
            host: processes::host_name(),
            pid: i64::from(std::process::id()),
            started_at: at,
        }
    }
}

/// Why a lease that someone held may be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Free {
    /// Released by a clean stop.
    Released,
    /// Held by this very process (an earlier start of it; the newer one wins).
    ThisProcess,
    /// Its holder ran on this host and is gone (killed, crashed).
    HolderGone,
    /// Not renewed within the TTL.
    Expired,
}

/// Whether `holder` keeps `me` out at `now`: `None` if it does, or why it does not.
fn judge(
    holder: &Holder,
    me: &Claimant,
    now: DateTime<Utc>,
    ttl: Duration,
    alive: impl Fn(i64) -> bool,
) -> Option<Free> {
    if holder.released_at.is_some() {
        return Some(Free::Released);
    }
    if holder.host == me.host && holder.pid == me.pid {
        return Some(Free::ThisProcess);
    }
    if holder.host == me.host && !alive(holder.pid) {
        return Some(Free::HolderGone);
    }
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    match holder.heartbeat() {
        Some(beat) if now - beat <= ttl => None,
        // Not renewed within the TTL, or a heartbeat nobody can read: nobody holds it.
        _ => Some(Free::Expired),
    }
}

/// The lease as it is, read without a write lock; None if nobody ever took one (the table
/// may not exist yet on a database older than the lease).
async fn peek(pool: &SqlitePool) -> Result<Option<Holder>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'lease')",
    )
    .fetch_one(&mut *conn)
    .await?;
    if !exists {
        return Ok(None);
    }
    read_holder(&mut conn).await
}

/// The live herald holding the database at `url`, if one does: `None` when the database does
/// not exist yet, has no lease table, or its lease is free (released, expired, or held by a
/// process on this host that is gone). Reads only, through a read-only connection, and creates
/// nothing: for commands that must not run beside `herald run` (`herald xero connect`).
pub async fn running_holder(
    url: &str,
    settings: &LeaseSettings,
) -> Result<Option<Holder>, StoreError> {
    let Some(file) = super::file_of(url) else {
        return Ok(None);
    };
    if !file.exists() {
        return Ok(None);
    }
    let opening = |source| StoreError::Open {
        url: url.to_owned(),
        source,
    };
    let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(url)
        .map_err(opening)?
        .read_only(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(opening)?;
    let holder = peek(&pool).await;
    pool.close().await;
    let me = Claimant::this_process(settings.clock.now());
    let now = settings.clock.now();
    Ok(holder
        .map_err(opening)?
        .filter(|h| judge(h, &me, now, settings.ttl, processes::alive).is_none()))
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The lease this process holds: renew it with [`Lease::keep`], give it back with
/// [`Lease::release`] at a clean stop. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Lease {
    store: Store,
    fence: Arc<Fence>,
    settings: LeaseSettings,
    /// Who held it before, if anyone did.
    pub previous: Option<Holder>,
}

impl Store {
    /// Opens the database for `herald run`: takes the lease before anything else changes
    /// the file (migrations included), and returns a store whose every write transaction is
    /// fenced by it. A lease held by a live instance refuses with [`StoreError::Held`],
    /// having changed nothing.
    pub async fn open_leased(
        url: &str,
        settings: &LeaseSettings,
        policy: RetryPolicy,
    ) -> Result<(Store, Lease), StoreError> {
        let pool = super::connect(url).await?;
        let me = Claimant::this_process(settings.clock.now());
        let opening = |source| StoreError::Open {
            url: url.to_owned(),
            source,
        };
        // A read only: a refused start must change nothing, so it refuses before migrating.
        match peek(&pool).await {
            Ok(Some(holder)) => {
                let now = settings.clock.now();
                if judge(&holder, &me, now, settings.ttl, processes::alive).is_none() {
                    pool.close().await;
                    return Err(refused(url, holder, now, settings.ttl));
                }
            }
            Ok(None) => {}
            Err(e) => {
                pool.close().await;
                return Err(opening(e));
            }
        }
        super::migrate(&pool, url).await?;
        let store = Store::from_pool(pool, policy);
        let taken = store
            .retry("taking the database lease", || {
                acquire(&store, &me, settings)
            })
            .await;
        let (epoch, previous, why, beat) = match taken {
            Ok(Ok(taken)) => taken,
            Ok(Err(holder)) => {
                store.close().await;
                return Err(refused(url, holder, settings.clock.now(), settings.ttl));
            }
            Err(e) => {
                store.close().await;
                return Err(opening(e));
            }
        };
        // A holder whose lease expired may be paused, not dead: it may wake once.
        let fence = Arc::new(Fence::new(
            epoch,
            why == Some(Free::Expired),
            beat,
            settings.ttl,
        ));
        let store = Store {
            fence: Some(fence.clone()),
            ..store
        };
        let lease = Lease {
            store: store.clone(),
            fence,
            settings: settings.clone(),
            previous,
        };
        Ok((store, lease))
    }

    /// Whether this store's lease (if it has one) was found lost, and to whom.
    pub fn lease_lost(&self) -> Option<LeaseLost> {
        self.fence.as_ref().and_then(|f| f.lost_to())
    }

    /// Whether this store took its lease over from a holder that stopped renewing: that
    /// holder may be paused, wake once and poll before it notices (so Telegram may end one
    /// of our polls with 409 on its account).
    pub fn took_over_stale(&self) -> bool {
        self.fence.as_ref().is_some_and(|f| f.took_over_stale)
    }

    /// Cancelled when this store learns it lost its lease (never, without a lease).
    pub fn lease_lost_signal(&self) -> CancellationToken {
        self.fence
            .as_ref()
            .map_or_else(CancellationToken::new, |f| f.lost.clone())
    }

    /// Checks that this store still holds its lease (always Ok without one): with a read,
    /// unless its last heartbeat is so recent that nobody may have taken it over. For
    /// whoever is about to act outside a write transaction (a `getUpdates` call).
    pub async fn check_lease(&self) -> Result<(), sqlx::Error> {
        let Some(fence) = &self.fence else {
            return Ok(());
        };
        if fence.surely_held() {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await?;
        fence.check(&mut conn).await
    }
}

fn refused(url: &str, holder: Holder, now: DateTime<Utc>, ttl: Duration) -> StoreError {
    let heartbeat_age = holder
        .heartbeat()
        .map_or(chrono::Duration::zero(), |beat| now - beat);
    StoreError::Held {
        url: url.to_owned(),
        held: Box::new(Held {
            holder,
            heartbeat_age,
            ttl,
        }),
    }
}

/// A lease taken: epoch, previous holder, why it was free, real instant before its heartbeat.
type Acquired = (i64, Option<Holder>, Option<Free>, std::time::Instant);

/// Takes the lease in one write transaction, unless a live holder keeps it: then
/// `Ok(Err(holder))` and nothing was written. Returns the new epoch, the previous holder, why
/// it could be taken, and a real instant taken before the first heartbeat was stamped.
async fn acquire(
    store: &Store,
    me: &Claimant,
    settings: &LeaseSettings,
) -> Result<Result<Acquired, Holder>, sqlx::Error> {
    let before = std::time::Instant::now();
    let now = settings.clock.now();
    let mut tx = store.begin_write().await?;
    let current = read_holder(&mut tx).await?;
    let why = match &current {
        None => None,
        Some(holder) => match judge(holder, me, now, settings.ttl, processes::alive) {
            None => return Ok(Err(holder.clone())),
            Some(free) => Some(free),
        },
    };
    let epoch = current.as_ref().map_or(0, |h| h.epoch) + 1;
    sqlx::query(
        "INSERT INTO lease (id, epoch, host, pid, started_at, heartbeat_at, released_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, NULL)
         ON CONFLICT (id) DO UPDATE SET epoch = ?1, host = ?2, pid = ?3, started_at = ?4,
             heartbeat_at = ?5, released_at = NULL",
    )
    .bind(epoch)
    .bind(&me.host)
    .bind(me.pid)
    .bind(stamp(me.started_at))
    .bind(stamp(now))
    .execute(&mut *tx)
    .await?;
    let decision = match why {
        None | Some(Free::Released) | Some(Free::ThisProcess) => "taken".to_owned(),
        Some(Free::HolderGone) => "taken over: its holder on this host is gone".to_owned(),
        Some(Free::Expired) => "taken over: not renewed within its TTL".to_owned(),
    };
    let mut detail = format!("epoch {epoch}: pid {} on host {}", me.pid, me.host);
    if let Some(previous) = &current {
        detail.push_str(&format!(
            "; before: {previous}, last heartbeat {}",
            previous.heartbeat_at
        ));
    }
    audit::record(
        &mut tx,
        now,
        &AuditEntry::new("lease", decision.clone()).detail(detail.clone()),
    )
    .await?;
    tx.commit().await?;
    match why {
        Some(Free::HolderGone) | Some(Free::Expired) => {
            tracing::warn!(%detail, "{decision}")
        }
        _ => tracing::info!(%detail, "database lease {decision}"),
    }
    Ok(Ok((epoch, current, why, before)))
}

impl Lease {
    pub fn epoch(&self) -> i64 {
        self.fence.epoch
    }

    /// When the lease was last taken or renewed (real time; a moment before the heartbeat
    /// was stamped).
    pub fn last_renewed(&self) -> std::time::Instant {
        self.fence.last_beat()
    }

    /// How often the lease is renewed.
    pub fn renew_every(&self) -> Duration {
        self.settings.renew_every
    }

    /// How long the lease lives without renewal.
    pub fn ttl(&self) -> Duration {
        self.settings.ttl
    }

    /// Renews the heartbeat every `renew_every` until `shutdown`. Returns the error that ends
    /// the renewals: [`LeaseLost`] (as a database error) when another instance took the
    /// lease, which it also notices when any fenced write found it first; or a persistent
    /// database failure.
    ///
    /// The renewals go through a connection of their own, which also tells whether any
    /// other connection committed since the last renewal (SQLite's `data_version`, read in
    /// the same breath): another process's writes (`herald pause` and `resume`, a request,
    /// a row for the outbox) raise [`super::signals::Signals::raise_all`], so they are seen
    /// within one renewal. This process's own commits wake their tasks directly; they also
    /// move the version, which costs a spare look by each task at most once a renewal.
    ///
    /// That connection commits without waiting for the disk (`synchronous = NORMAL`, in WAL
    /// mode: no fsync at commit). A heartbeat tells the living that its holder lives; after a
    /// power cut there is no holder, so losing the last heartbeat loses nothing, and an idle
    /// herald does not wait on the disk every renewal. Every other connection keeps `FULL`.
    pub async fn keep(&self, shutdown: &CancellationToken) -> Result<(), sqlx::Error> {
        let options = (*self.store.pool().connect_options())
            .clone()
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
        let watcher = Arc::new(tokio::sync::Mutex::new(
            SqliteConnection::connect_with(&options).await?,
        ));
        let mut seen = data_version(&mut *watcher.lock().await).await?;
        // Fault injection only: SIGUSR1 stops the renewals, as a hung task would.
        let fault_stop = crate::faults::stop_on_signal("lease");
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = fault_stop.cancelled() => {
                    tracing::error!("fault injection: the lease is no longer renewed");
                    shutdown.cancelled().await;
                    return Ok(());
                }
                _ = self.fence.lost.cancelled() => {
                    let lost = self.fence.lost_to().unwrap_or_else(|| LeaseLost::new(self.fence.epoch, None));
                    return Err(sqlx::Error::Database(Box::new(lost)));
                }
                _ = tokio::time::sleep(self.settings.renew_every) => {}
            }
            let version = self
                .store
                .retry("renewing the database lease", || async {
                    let mut conn = watcher.lock().await;
                    self.renew(&mut conn).await?;
                    data_version(&mut conn).await
                })
                .await?;
            if version != seen {
                seen = version;
                self.store.signals().raise_all();
            }
        }
    }

    /// One statement, its own transaction: the heartbeat moves only while the row still
    /// carries our epoch and was not released; otherwise the lease was lost.
    async fn renew(&self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        let before = std::time::Instant::now();
        let now = self.settings.clock.now();
        let renewed = sqlx::query(
            "UPDATE lease SET heartbeat_at = ? WHERE id = 1 AND epoch = ? AND released_at IS NULL",
        )
        .bind(stamp(now))
        .bind(self.fence.epoch)
        .execute(&mut *conn)
        .await?;
        if renewed.rows_affected() == 0 {
            return Err(self.fence.lose(read_holder(conn).await?));
        }
        self.fence.beat(before);
        Ok(())
    }

    /// Gives the lease back (a clean stop), in the caller's transaction, so the next start
    /// need not wait. Later writes of this store are fenced off.
    pub async fn release(&self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE lease SET released_at = ? WHERE id = 1 AND epoch = ?")
            .bind(stamp(self.settings.clock.now()))
            .bind(self.fence.epoch)
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// SQLite's count of commits by other connections, as seen by `conn`.
async fn data_version(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(conn)
        .await
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn url(dir: &tempfile::TempDir) -> String {
        format!("sqlite://{}/t.db", dir.path().display())
    }

    fn settings(clock: &Clock) -> LeaseSettings {
        LeaseSettings {
            ttl: Duration::from_secs(30),
            renew_every: Duration::from_secs(5),
            clock: clock.clone(),
        }
    }

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 3, 0, 0).unwrap()
    }

    /// Every row of every table (and the schema), in a stable order: equal dumps mean
    /// nothing changed.
    async fn dump(url: &str) -> String {
        use sqlx::Connection;
        let mut conn = SqliteConnection::connect(url).await.unwrap();
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let mut out: Vec<String> =
            sqlx::query_scalar("SELECT quote(sql) FROM sqlite_master ORDER BY name")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        for table in tables {
            let columns: Vec<String> =
                sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            let row = columns
                .iter()
                .map(|c| format!("quote(\"{c}\")"))
                .collect::<Vec<_>>()
                .join(" || ',' || ");
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT {row} FROM \"{table}\" ORDER BY rowid"))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            out.push(format!("{table}: {rows:?}"));
        }
        out.join("\n")
    }

    /// Makes the lease look held by another live process on this host (our parent).
    async fn hand_to_parent(store: &Store) {
        let parent = i64::from(std::os::unix::process::parent_id());
        sqlx::query("UPDATE lease SET pid = ?")
            .bind(parent)
            .execute(store.pool())
            .await
            .unwrap();
    }

    #[test]
    fn who_may_take_a_held_lease() {
        let now = start();
        let me = Claimant {
            host: "a".into(),
            pid: 10,
            started_at: now,
        };
        let holder = Holder {
            epoch: 3,
            host: "a".into(),
            pid: 20,
            started_at: stamp(now),
            heartbeat_at: stamp(now - chrono::Duration::seconds(10)),
            released_at: None,
        };
        let ttl = Duration::from_secs(30);
        let alive = |_| true;
        let dead = |_| false;
        assert_eq!(judge(&holder, &me, now, ttl, alive), None);
        assert_eq!(judge(&holder, &me, now, ttl, dead), Some(Free::HolderGone));
        let elsewhere = Holder {
            host: "b".into(),
            ..holder.clone()
        };
        assert_eq!(
            judge(&elsewhere, &me, now, ttl, dead),
            None,
            "pids of other hosts mean nothing here"
        );
        let stale = Holder {
            heartbeat_at: stamp(now - chrono::Duration::seconds(31)),
            ..elsewhere.clone()
        };
        assert_eq!(judge(&stale, &me, now, ttl, alive), Some(Free::Expired));
        let released = Holder {
            released_at: Some(stamp(now)),
            ..elsewhere.clone()
        };
        assert_eq!(judge(&released, &me, now, ttl, alive), Some(Free::Released));
        let mine = Holder {
            pid: 10,
            ..holder.clone()
        };
        assert_eq!(judge(&mine, &me, now, ttl, alive), Some(Free::ThisProcess));
        assert!(processes::alive(i64::from(std::process::id())));
        assert!(!processes::alive(0));
        assert!(!processes::alive(-1));
    }

    #[tokio::test]
    async fn a_second_instance_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(start());
        let (first, lease) =
            Store::open_leased(&url(&dir), &settings(&clock), RetryPolicy::default())
                .await
                .unwrap();
        assert_eq!(lease.epoch(), 1);
        hand_to_parent(&first).await;
        let before = dump(&url(&dir)).await;
        clock.advance(chrono::Duration::seconds(29));
        let refused = Store::open_leased(&url(&dir), &settings(&clock), RetryPolicy::default())
            .await
            .unwrap_err();
        let StoreError::Held { held, .. } = &refused else {
            panic!("{refused}");
        };
        assert_eq!(held.holder.epoch, 1);
        assert_eq!(held.heartbeat_age, chrono::Duration::seconds(29));
        let text = refused.to_string();
        let parent = std::os::unix::process::parent_id();
        assert!(
            text.contains(&format!("pid {parent} on host {}", processes::host_name())),
            "{text}"
        );
        assert!(
            text.contains("running since 2026-11-23T03:00:00.000Z"),
            "{text}"
        );
        assert_eq!(
            dump(&url(&dir)).await,
            before,
            "the refused start changed the database"
        );
    }

    #[tokio::test]
    async fn a_stale_lease_is_taken_over_and_the_old_holder_is_fenced() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(start());
        let (old, old_lease) =
            Store::open_leased(&url(&dir), &settings(&clock), RetryPolicy::default())
                .await
                .unwrap();
        hand_to_parent(&old).await;
        clock.advance(chrono::Duration::seconds(31));
        let (new, new_lease) =
            Store::open_leased(&url(&dir), &settings(&clock), RetryPolicy::default())
                .await
                .unwrap();
        assert_eq!(new_lease.epoch(), 2);
        assert_eq!(new_lease.previous.as_ref().map(|h| h.epoch), Some(1));

        // The old holder can no longer write, and knows it.
        assert_eq!(old.lease_lost(), None);
        let error = old.begin_write().await.unwrap_err();
        assert_eq!(
            super::super::retry::classify(&error),
            super::super::retry::ErrorClass::LeaseLost
        );
        let lost = old.lease_lost().expect("noticed");
        assert_eq!(lost.ours, 1);
        assert_eq!(lost.holder.as_ref().map(|h| h.epoch), Some(2));
        assert!(
            error
                .to_string()
                .contains("another herald took this database over"),
            "{error}"
        );
        assert!(old.check_lease().await.is_err());
        let stop = CancellationToken::new();
        assert!(old_lease.keep(&stop).await.is_err(), "renewal ends at once");

        // The new one writes, renews and releases.
        new.check_lease().await.unwrap();
        new_lease
            .renew(&mut new.pool().acquire().await.unwrap())
            .await
            .unwrap();
        let mut tx = new.begin_write().await.unwrap();
        new_lease.release(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        assert!(new.begin_write().await.is_err(), "released: fenced off");
        let audited: Vec<String> =
            sqlx::query_scalar("SELECT decision FROM audit WHERE kind = 'lease' ORDER BY seq")
                .fetch_all(new.pool())
                .await
                .unwrap();
        assert_eq!(
            audited,
            vec!["taken", "taken over: not renewed within its TTL"]
        );
    }

    #[tokio::test]
    async fn a_released_lease_or_a_gone_holder_is_taken_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(start());
        let (store, lease) =
            Store::open_leased(&url(&dir), &settings(&clock), RetryPolicy::default())
                .await
                .unwrap();
        let mut tx = store.begin_write().await.unwrap();
        lease.release(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        hand_to_parent(&store).await;
        let (again, lease) =
            Store::open_leased(&url(&dir), &settings(&clock), RetryPolicy::default())
                .await
                .unwrap();
        assert_eq!(lease.epoch(), 2);
        // A holder on this host whose process is gone (pid far above any pid_max).
        sqlx::query("UPDATE lease SET pid = 2000000000")
            .execute(again.pool())
            .await
            .unwrap();
        let (_third, lease) =
            Store::open_leased(&url(&dir), &settings(&clock), RetryPolicy::default())
                .await
                .unwrap();
        assert_eq!(lease.epoch(), 3);
        assert!(again.begin_write().await.is_err());
    }

    #[tokio::test]
    async fn the_holder_renews_its_heartbeat() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(start());
        let (store, lease) =
            Store::open_leased(&url(&dir), &settings(&clock), RetryPolicy::default())
                .await
                .unwrap();
        clock.advance(chrono::Duration::seconds(7));
        lease
            .renew(&mut store.pool().acquire().await.unwrap())
            .await
            .unwrap();
        let beat: String = sqlx::query_scalar("SELECT heartbeat_at FROM lease")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(beat, "2026-11-23T03:00:07.000Z");
    }
}
