//! One database, one `herald run`, and a database that is busy for a while: the real binary
//! against the Telegram simulator.
//!
//! - Another connection holds SQLite's write lock in the middle of a 200-post burst until
//!   herald reports that it met it (past herald's 10 s busy timeout): herald waits it out.
//!   Nothing is lost, nothing is sent twice, the process does not exit.
//! - A lock held past the (shortened) give-up time is a persistent failure: herald stops
//!   with exit 1, one clear line, and a last DM to the operator.
//! - Two binaries on one database: the second is refused (exit 2, naming the holder) with
//!   zero changed rows. Then the first is stopped (SIGSTOP) past the lease TTL, a second one
//!   takes the database over, the first is continued (SIGCONT): it stops itself (exit 1)
//!   and no message reaches Telegram twice.
//!
//! The lease TTL is shortened with a hidden flag so the takeover needs seconds, not 30 s.
//! Every wait is on an event (a record in the simulator, a row, a process exit).

mod common;

use std::collections::BTreeMap;
use std::process::ExitStatus;
use std::str::FromStr;
use std::time::Duration;

use common::{Deployment, Herald};
use herald_sim::{SentRecord, SimUser, Simulator};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Connection, Executor, SqliteConnection, SqlitePool};

/// Longest wait for anything that should happen.
const WAIT: Duration = Duration::from_secs(60);
/// What herald logs when a transaction met a lock past its busy timeout and it waits it out.
const MET_THE_LOCK: &str = "transient database failure; waiting it out";
const DM_USERS: i64 = 40;
const FIRST_DM_USER: i64 = 9_200_000_001;

/// A running `herald` child (killed, continued first, if the test fails before it ended).
struct Running(Herald);

impl Running {
    fn pid(&self) -> u32 {
        self.0.child.id()
    }

    fn log(&self) -> String {
        self.0.output()
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.pid() as i32, signal) };
        assert_eq!(rc, 0, "signal {signal} failed");
    }

    fn running(&mut self) -> bool {
        !self.0.exited()
    }

    /// Waits (without blocking the runtime) for the child to exit; its status and output.
    async fn exit(&mut self) -> (ExitStatus, String) {
        self.0.exit().await
    }
}

/// The deployment's simulator, knowing 40 extra people to DM, with Telegram's limits on.
async fn simulator(deployment: &Deployment) -> Simulator {
    deployment
        .simulator_with(|config| {
            for i in 0..DM_USERS {
                config.users.push(SimUser {
                    user_id: FIRST_DM_USER + i,
                    first_name: format!("Customer {i}"),
                    last_name: None,
                    username: None,
                });
            }
            config.rate_limits = true;
        })
        .await
}

fn spawn(deployment: &Deployment, sim: &Simulator, extra: &[&str]) -> Running {
    let mut args = vec!["run", "--poll-seconds", "1"];
    args.extend_from_slice(extra);
    Running(deployment.spawn_herald(sim, &args))
}

/// Waits until herald's start-up is over: seven bots polling and every job's schedule
/// cursor set (the scheduler's preparation, the last write of start-up).
async fn wait_until_started(
    sim: &Simulator,
    deployment: &Deployment,
    db: &SqlitePool,
    herald: &Running,
) {
    common::wait_until_polling(sim, 0, &herald.0.log).await;
    let jobs: usize = deployment
        .config()
        .bots
        .values()
        .map(|bot| bot.jobs.len())
        .sum();
    let started = common::try_wait_until(WAIT, || async {
        let cursors: i64 = sqlx::query_scalar("SELECT count(*) FROM job_cursors")
            .fetch_one(db)
            .await
            .expect("job_cursors readable");
        cursors as usize == jobs
    })
    .await;
    assert!(started, "herald did not finish starting:\n{}", herald.log());
}

/// A plain reader and writer of the deployment's database, beside herald (WAL mode).
async fn db(deployment: &Deployment) -> SqlitePool {
    let options = SqliteConnectOptions::from_str(&deployment.db_url())
        .expect("database URL")
        .busy_timeout(Duration::from_secs(30));
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("database opens")
}

/// Writes `count` DMs from Clawrence as pending rows (one transaction, as a job run would),
/// to the 40 extra people in turn; returns their texts.
async fn enqueue_dms(db: &SqlitePool, prefix: &str, count: i64) -> Vec<String> {
    let mut tx = db.begin().await.expect("tx");
    let mut texts = Vec::new();
    for i in 0..count {
        let text = format!("{prefix} {i}");
        sqlx::query(
            "INSERT INTO outbox (bot, kind, lane, chat_id, text, created_at, updated_at)
             VALUES ('clawrence', 'send', 1, ?, ?, '2026-11-21T00:00:00Z', '2026-11-21T00:00:00Z')",
        )
        .bind(FIRST_DM_USER + i % DM_USERS)
        .bind(&text)
        .execute(&mut *tx)
        .await
        .expect("insert");
        texts.push(text);
    }
    tx.commit().await.expect("commit");
    texts
}

/// How many times each text starting with `prefix` reached Telegram.
fn copies(sent: &[SentRecord], prefix: &str) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for record in sent.iter().filter(|r| r.text.starts_with(prefix)) {
        *seen.entry(record.text.clone()).or_insert(0) += 1;
    }
    seen
}

/// `(text, state)` of every outbox row whose text starts with `prefix`.
async fn rows(db: &SqlitePool, prefix: &str) -> Vec<(String, String)> {
    sqlx::query_as("SELECT text, state FROM outbox WHERE text LIKE ? || '%' ORDER BY id")
        .bind(prefix)
        .fetch_all(db)
        .await
        .expect("outbox readable")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_lock_held_past_the_busy_timeout_during_a_200_post_burst_loses_nothing_and_sends_nothing_twice(
) {
    let deployment = Deployment::example();
    let sim = simulator(&deployment).await;
    let mut herald = spawn(&deployment, &sim, &[]);
    common::wait_until_polling(&sim, 0, &herald.0.log).await;
    let db = db(&deployment).await;
    wait_until_started(&sim, &deployment, &db, &herald).await;
    let texts = enqueue_dms(&db, "lock burst", 200).await;
    // 200 DMs to 40 people take a few seconds at one message a second per chat.
    sim.wait_for(|s| copies(s, "lock burst ").len() >= 20, WAIT)
        .await
        .unwrap_or_else(|s| panic!("the burst did not start: {}\n{}", s.len(), herald.log()));

    // Another program takes the write lock in the middle of the burst and holds it until
    // herald met it: a transaction waited out its busy timeout and failed with SQLITE_BUSY.
    let mut holder = SqliteConnection::connect(&deployment.db_url())
        .await
        .expect("connects");
    holder.execute("BEGIN IMMEDIATE").await.expect("write lock");
    let sent_when_locked = copies(&sim.sent(), "lock burst ").len();
    let met_before = herald.log().matches(MET_THE_LOCK).count();
    let met = common::try_wait_until(WAIT, || {
        std::future::ready(herald.log().matches(MET_THE_LOCK).count() > met_before)
    })
    .await;
    assert!(met, "herald never met the lock:\n{}", herald.log());
    let sent_while_locked = copies(&sim.sent(), "lock burst ").len() - sent_when_locked;
    assert!(
        herald.running(),
        "herald exited while the database was locked:\n{}",
        herald.log()
    );
    holder.execute("ROLLBACK").await.expect("lock released");
    drop(holder);
    // Nothing can be claimed without the lock: at most the one send in flight got out.
    assert!(
        sent_while_locked <= 1,
        "{sent_while_locked} sends went out while the database was locked"
    );

    let sent = sim
        .wait_for(|s| copies(s, "lock burst ").len() == texts.len(), WAIT)
        .await
        .unwrap_or_else(|s| {
            panic!(
                "only {} of 200 arrived:\n{}",
                copies(&s, "lock burst ").len(),
                herald.log()
            )
        });
    let seen = copies(&sent, "lock burst ");
    let twice: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    // Every row ends `sent`: none lost, none left in doubt.
    let all_sent = common::try_wait_until(WAIT, || async {
        let states = rows(&db, "lock burst ").await;
        states.iter().all(|(_, state)| state == "sent")
    })
    .await;
    let states = rows(&db, "lock burst ").await;
    assert!(all_sent, "{states:?}");
    assert_eq!(states.len(), 200);
    let log = herald.log();
    assert!(log.contains(MET_THE_LOCK), "the lock was met:\n{log}");
    assert!(log.contains("database available again"), "{log}");
    assert!(herald.running(), "{log}");

    herald.0.terminate();
    let (status, output) = herald.exit().await;
    assert_eq!(status.code(), Some(0), "{output}");
    eprintln!(
        "lock: 200 posts, write lock held until herald met it, after {sent_when_locked} were sent; {sent_while_locked} sent while locked; all 200 once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_past_the_give_up_time_stops_herald_with_one_line_and_a_dm() {
    let deployment = Deployment::example();
    let sim = simulator(&deployment).await;
    let config = deployment.config();
    let lawrence = config.bots["lawrence"].username.clone();
    let operator = deployment.operator();
    // Give up after 2 s of failure (the first failure itself takes the 10 s busy timeout).
    let mut herald = spawn(&deployment, &sim, &["--store-give-up-ms", "2000"]);
    common::wait_until_polling(&sim, 0, &herald.0.log).await;
    wait_until_started(&sim, &deployment, &db(&deployment).await, &herald).await;
    let mut holder = SqliteConnection::connect(&deployment.db_url())
        .await
        .expect("connects");
    holder.execute("BEGIN IMMEDIATE").await.expect("write lock");
    // Held until herald gave up (its lease renewal meets the lock within 5 s).
    let (status, output) = herald.exit().await;
    holder.execute("ROLLBACK").await.expect("lock released");
    assert_eq!(status.code(), Some(1), "{output}");
    let stopped: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with("herald run: stopped:"))
        .collect();
    assert_eq!(stopped.len(), 1, "{output}");
    assert!(
        stopped[0].contains("the database stayed unavailable for")
            && stopped[0].contains("is another program holding its write lock"),
        "{}",
        stopped[0]
    );
    let dms: Vec<SentRecord> = sim
        .sent_by(&lawrence)
        .into_iter()
        .filter(|r| r.chat_id == operator && r.text.contains("herald stopped"))
        .collect();
    assert_eq!(
        dms.len(),
        1,
        "one last DM to the operator: {:#?}",
        sim.sent()
    );
    assert!(
        dms[0].text.contains("the database stayed unavailable"),
        "{}",
        dms[0].text
    );
}

/// Every row of every table (and the schema), except the lease's heartbeat, which the
/// running holder renews: equal snapshots mean nobody else changed anything.
async fn snapshot(db: &SqlitePool) -> String {
    let mut conn = db.acquire().await.expect("connection");
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut *conn)
            .await
            .expect("tables");
    let mut out: Vec<String> =
        sqlx::query_scalar("SELECT quote(sql) FROM sqlite_master ORDER BY name")
            .fetch_all(&mut *conn)
            .await
            .expect("schema");
    for table in tables {
        let columns: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(&mut *conn)
                .await
                .expect("columns");
        let row = columns
            .iter()
            .filter(|c| !(table == "lease" && *c == "heartbeat_at"))
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || ',' || ");
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT {row} FROM \"{table}\" ORDER BY rowid"))
                .fetch_all(&mut *conn)
                .await
                .expect("rows");
        out.push(format!("{table} ({} rows): {rows:?}", rows.len()));
    }
    out.join("\n")
}

/// `(epoch, pid, heartbeat_at)` of the lease.
async fn lease(db: &SqlitePool) -> (i64, i64, String) {
    sqlx::query_as("SELECT epoch, pid, heartbeat_at FROM lease WHERE id = 1")
        .fetch_one(db)
        .await
        .expect("a lease row")
}

/// Stops `herald` with SIGSTOP at a moment it holds no write lock (a paused holder of the
/// write lock is a different failure: nobody could write at all).
async fn stop_between_writes(herald: &Running, deployment: &Deployment) {
    let options = SqliteConnectOptions::from_str(&deployment.db_url())
        .expect("database URL")
        .busy_timeout(Duration::ZERO);
    let mut probe = SqliteConnection::connect_with(&options)
        .await
        .expect("connects");
    for _ in 0..1000 {
        herald.signal(libc::SIGSTOP);
        if probe.execute("BEGIN IMMEDIATE").await.is_ok() {
            probe.execute("ROLLBACK").await.expect("rollback");
            return;
        }
        herald.signal(libc::SIGCONT);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("herald always held the write lock:\n{}", herald.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_binaries_on_one_database_the_second_is_refused_then_a_paused_holder_is_taken_over_and_stops_itself(
) {
    const TTL_MS: u64 = 3000;
    let ttl = ["--lease-ttl-ms", "3000"];
    let deployment = Deployment::example();
    let sim = simulator(&deployment).await;
    let mut first = spawn(&deployment, &sim, &ttl);
    common::wait_until_polling(&sim, 0, &first.0.log).await;
    let db = db(&deployment).await;
    wait_until_started(&sim, &deployment, &db, &first).await;

    // A second instance on the same database is refused, and changes nothing.
    let before = snapshot(&db).await;
    let mut refused = spawn(&deployment, &sim, &ttl);
    let (status, output) = refused.exit().await;
    assert_eq!(status.code(), Some(2), "{output}");
    let line = output
        .lines()
        .find(|l| l.starts_with("herald run: refusing to start:"))
        .unwrap_or_else(|| panic!("no refusal line:\n{output}"))
        .to_owned();
    assert!(
        line.contains("another herald holds this database")
            && line.contains(&format!("herald pid {} on host ", first.pid()))
            && line.contains("running since 20"),
        "names the holder and since when: {line}"
    );
    let after = snapshot(&db).await;
    assert_eq!(before, after, "the refused start changed the database");
    assert!(first.running(), "{}", first.log());

    // A burst goes out; the first is paused in the middle of it, past the lease TTL.
    let texts = enqueue_dms(&db, "fence burst", 120).await;
    sim.wait_for(|s| copies(s, "fence burst ").len() >= 10, WAIT)
        .await
        .unwrap_or_else(|_| panic!("the burst did not start:\n{}", first.log()));
    stop_between_writes(&first, &deployment).await;
    let (first_epoch, first_pid, _) = lease(&db).await;
    assert_eq!(first_pid, i64::from(first.pid()));
    // The lease ages on the wall clock: wait until its heartbeat is older than the TTL.
    let aged = common::try_wait_until(WAIT, || async {
        let (_, _, beat) = lease(&db).await;
        let beat = chrono::DateTime::parse_from_rfc3339(&beat).expect("heartbeat time");
        let age = herald::clock::Clock::system().now() - beat.with_timezone(&chrono::Utc);
        age > chrono::Duration::milliseconds(TTL_MS as i64 + 200)
    })
    .await;
    assert!(aged, "the lease never aged");

    // A new instance takes the database over and delivers the rest.
    let polls = sim.calls("getUpdates");
    let mut second = spawn(&deployment, &sim, &ttl);
    common::wait_until_polling(&sim, polls, &second.0.log).await;
    let (epoch, pid, _) = lease(&db).await;
    assert_eq!(
        (epoch, pid),
        (first_epoch + 1, i64::from(second.pid())),
        "taken over:\n{}",
        second.log()
    );
    let decided = |states: &[(String, String)]| {
        states
            .iter()
            .all(|(_, s)| s == "sent" || s == "ambiguous" || s == "failed")
    };
    let settled =
        common::try_wait_until(WAIT, || async { decided(&rows(&db, "fence burst ").await) }).await;
    let states = rows(&db, "fence burst ").await;
    assert!(
        settled,
        "the new holder did not settle the burst: {states:?}\n{}",
        second.log()
    );

    // The paused one wakes up: it finds it lost the lease and stops itself.
    first.signal(libc::SIGCONT);
    let (status, first_output) = first.exit().await;
    assert_eq!(status.code(), Some(1), "{first_output}");
    let stopped: Vec<&str> = first_output
        .lines()
        .filter(|l| l.starts_with("herald run: stopped:"))
        .collect();
    assert_eq!(stopped.len(), 1, "{first_output}");
    assert!(
        stopped[0].contains("another herald took this database over")
            && stopped[0].contains(&format!("herald pid {} on host", second.pid())),
        "{}",
        stopped[0]
    );

    // Nothing twice, nothing lost: a `sent` row arrived once, an `ambiguous` one (in flight
    // when the first was paused; the operator was asked) at most once, and none failed.
    let sent = sim.sent();
    let seen = copies(&sent, "fence burst ");
    let twice: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    assert_eq!(states.len(), texts.len());
    for (text, state) in &states {
        match state.as_str() {
            "sent" => assert_eq!(seen.get(text), Some(&1), "{text} is sent but never arrived"),
            "ambiguous" => {}
            other => panic!("{text} ended {other}"),
        }
    }
    let ambiguous = states.iter().filter(|(_, s)| s == "ambiguous").count();
    assert!(
        ambiguous <= 1,
        "only the send in flight is in doubt: {states:?}"
    );
    assert!(second.running(), "{}", second.log());
    second.0.terminate();
    let (status, output) = second.exit().await;
    assert_eq!(status.code(), Some(0), "{output}");
    eprintln!(
        "lease: refused with exit 2 and an unchanged database; takeover at epoch {}; {} of 120 sent, {ambiguous} ambiguous, none twice\n  {line}\n  {}",
        first_epoch + 1,
        states.iter().filter(|(_, s)| s == "sent").count(),
        stopped[0]
    );
}

const CONFLICT: &str =
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_taking_over_a_stale_lease_one_409_is_polled_through_and_a_second_stops_the_fleet() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let config = deployment.config();
    let clawrence = config.bots["clawrence"].username.clone();
    let member = deployment.member();
    // A lease left by an instance on another host that stopped renewing long ago: it may be
    // paused, not dead, and wake to make one last getUpdates.
    herald::store::Store::open(&deployment.db_url())
        .await
        .expect("database")
        .close()
        .await;
    let other = db(&deployment).await;
    sqlx::query(
        "INSERT INTO lease (id, epoch, host, pid, started_at, heartbeat_at)
         VALUES (1, 4, 'elsewhere.example', 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
    )
    .execute(&other)
    .await
    .expect("lease row");
    other.close().await;
    sim.inject_fault(
        &clawrence,
        "getUpdates",
        herald_sim::Fault::api(409, CONFLICT),
    );

    let fleet = herald::fleet::start(&deployment.run_options(&sim))
        .await
        .expect("fleet starts");
    assert!(fleet.store().took_over_stale());
    let db = db(&deployment).await;
    assert_eq!(lease(&db).await.0, 5, "taken over, epoch raised");
    // That 409 did not stop Clawrence: it polled again and answers.
    sim.user_dms(member, &clawrence, "/help");
    sim.wait_for(
        |s| s.iter().any(|r| r.bot == clawrence && r.chat_id == member),
        WAIT,
    )
    .await
    .expect("Clawrence still answers");

    // Another 409 is another consumer of the token: herald does not fight it.
    sim.inject_fault(
        &clawrence,
        "getUpdates",
        herald_sim::Fault::api(409, CONFLICT),
    );
    let never = tokio_util::sync::CancellationToken::new();
    let stopped = tokio::time::timeout(WAIT, fleet.run_until(never))
        .await
        .expect("the fleet stops");
    let error = stopped.expect_err("stops on the second 409");
    assert!(error.to_string().contains("409 Conflict"), "{error}");
}
