//! Bounded storage under sustained traffic: 40,000 updates (100,000 with
//! `HERALD_SOAK_UPDATES=100000`) through the real binary (poller,
//! store, outbox, sender) against the simulator, with Telegram's limits off on both sides and
//! the clock running fast enough that the daily prune runs many times. After the first 20,000
//! updates the database file and the process's resident memory must stay flat, and the
//! write-ahead log within a few checkpoints' worth.
//!
//! It prints both figures at 20,000 updates and at the end. The suite's default is 40,000, so
//! that the README's test command stays well inside CI's 30 minutes on two cores (100,000
//! take about nine minutes there).
//!
//! Two checks, one exact and one coarse:
//! - **Rows.** At the end no table holds as many rows as half the updates pushed. Each update
//!   writes several rows (its handled-mark, its reply's outbox row, ...), and the prune keeps
//!   at most two clock days of them (a few thousand), so any table that keeps a row per update,
//!   however small the row, is caught whatever the machine's speed.
//! - **File and memory.** The file's size is a high-water mark of the live rows, and those are
//!   "two clock days of traffic", which depends on how fast this machine answers in that
//!   stretch: a CI machine that sped up by a third after the warm-up grew the file by a third
//!   with nothing leaking. So the file may grow by half (plus 1 MiB) after the warm-up;
//!   growth with traffic (the prune not running) would double it. Freed pages are reused,
//!   not returned, and the allocator keeps some slack, so memory gets a quarter.
//!
//! Needs the `fault-injection` feature: only such a build lets a test switch the sender's
//! flood limits off (`HERALD_TEST_RATE_LIMITS`).
#![cfg(feature = "fault-injection")]

mod common;

use std::path::Path;
use std::time::Duration;

use common::Deployment;

/// Updates in all unless `HERALD_SOAK_UPDATES` says otherwise, and the point after which size
/// and memory must stay flat.
const DEFAULT_TOTAL: usize = 40_000;
const WARM: usize = 20_000;
/// Updates pushed before waiting for their replies (the simulator queues them like Telegram).
const CHUNK: usize = 2_000;
/// Clock-seconds per real second: a clock day passes every 8.6 s, so the daily prune runs
/// many times before the warm-up point and the kept rows reach their steady size early.
const CLOCK_SPEED: &str = "10000";

/// How many updates this run pushes: `HERALD_SOAK_UPDATES` rounded up to whole chunks, at
/// least twice the warm-up.
fn total_updates() -> usize {
    let asked = match std::env::var("HERALD_SOAK_UPDATES") {
        Ok(text) => text
            .parse::<usize>()
            .unwrap_or_else(|_| panic!("HERALD_SOAK_UPDATES={text}: not a number")),
        Err(_) => DEFAULT_TOTAL,
    };
    asked.max(2 * WARM).div_ceil(CHUNK) * CHUNK
}

/// Drops the example's scheduled jobs (the last blocks of their files): at this clock speed
/// every slot would be overdue, and the soak is about traffic, not the scheduler.
fn without_jobs(deployment: &Deployment) {
    for entry in std::fs::read_dir(deployment.path().join("bots")).expect("bots folder") {
        let path = entry.expect("bots entry").path();
        let text = std::fs::read_to_string(&path).expect("bots file");
        if let Some(at) = text.find("[[jobs]]") {
            std::fs::write(&path, &text[..at]).expect("bots file writable");
        }
    }
}

/// Resident memory of `pid` in KiB (Linux `/proc`).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

/// The sizes on disk of the database file and of its write-ahead log.
fn file_and_wal(db: &Path) -> (u64, u64) {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    (size(db), size(&db.with_extension("db-wal")))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_traffic_leaves_database_size_and_memory_flat() {
    let total = total_updates();
    let deployment = Deployment::example();
    // One day of retention, so the prune keeps about one clock day of rows; members may send
    // as many commands as the soak needs.
    deployment.edit(
        "herald.toml",
        "audit_retention_days = 90",
        "audit_retention_days = 1",
    );
    deployment.edit(
        "herald.toml",
        "commands_per_minute = 10",
        "commands_per_minute = 1000000",
    );
    without_jobs(&deployment);
    let sim = deployment.simulator().await;
    sim.set_rate_limits(false);
    let config = deployment.config();
    let members: Vec<i64> = config
        .roster
        .members()
        .iter()
        .map(|m| m.telegram_id)
        .collect();
    let bots: Vec<String> = [
        "clawrence",
        "claudia",
        "happy",
        "gymbooker",
        "claims",
        "pakgupei",
    ]
    .iter()
    .map(|name| config.bot(name).expect("example bot").username.clone())
    .collect();

    // The database lives in memory-backed storage when the machine has it: this test is about
    // size and memory, not durability, and a commit's fsync would make it take many minutes.
    let fast = std::path::Path::new("/dev/shm");
    let db_dir = if fast.is_dir() {
        tempfile::tempdir_in(fast)
    } else {
        tempfile::tempdir()
    }
    .expect("database folder");
    let db = db_dir.path().join("soak.db");
    let db_url = format!("sqlite://{}", db.display());
    let mut command = deployment.herald(
        &sim,
        &[
            "--db",
            &db_url,
            "--clock-start",
            "2026-11-23T01:00:00Z",
            "--clock-speed",
            CLOCK_SPEED,
            "run",
        ],
    );
    command
        .env("RUST_LOG", "warn")
        .env("HERALD_TEST_RATE_LIMITS", "off");
    let mut herald = deployment.spawn_command(command);
    let pid = herald.child.id();

    let mut pushed = 0;
    let mut warm = None;
    let started = std::time::Instant::now();
    while pushed < total {
        let base = sim.calls("sendMessage");
        for i in 0..CHUNK {
            let n = pushed + i;
            sim.user_dms(members[n % members.len()], &bots[n % bots.len()], "/help");
        }
        pushed += CHUNK;
        // Every /help gets one reply: wait for this chunk's (an event, with a generous
        // deadline that only a stuck herald reaches).
        let deadline = std::time::Instant::now() + Duration::from_secs(600);
        while sim.calls("sendMessage") < base + CHUNK {
            assert!(
                !herald.exited(),
                "herald exited during the soak:\n{}",
                std::fs::read_to_string(&herald.log).unwrap_or_default()
            );
            assert!(
                std::time::Instant::now() < deadline,
                "replies stalled at {} of {} after {pushed} updates",
                sim.calls("sendMessage") - base,
                CHUNK
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if pushed == WARM {
            warm = Some((file_and_wal(&db), rss_kib(pid)));
        }
    }
    let ((warm_db, warm_wal), warm_rss) = warm.expect("the warm-up point was reached");
    let ((end_db, end_wal), end_rss) = (file_and_wal(&db), rss_kib(pid));
    println!(
        "soak: {total} updates in {:.0} s; database file {:.1} MiB at {WARM}, {:.1} MiB at {total}; write-ahead log {:.1} MiB, {:.1} MiB; RSS {:.1} MiB at {WARM}, {:.1} MiB at {total}",
        started.elapsed().as_secs_f64(),
        mib(warm_db),
        mib(end_db),
        mib(warm_wal),
        mib(end_wal),
        warm_rss as f64 / 1024.0,
        end_rss as f64 / 1024.0,
    );

    herald.terminate();
    let finished = herald.wait().await;
    assert_eq!(finished.code, Some(0), "{}", finished.output);

    let store = herald::store::Store::open(&db_url)
        .await
        .expect("database opens");
    let pruned: i64 = sqlx::query_scalar("SELECT count(*) FROM audit WHERE kind = 'retention'")
        .fetch_one(store.reader())
        .await
        .expect("count");
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_updates")
        .fetch_one(store.reader())
        .await
        .expect("count");
    println!("soak: {pruned} prune entries; {kept} processed_updates rows kept");
    assert!(pruned > 0, "the daily prune ran during the soak");
    let rows = rows_per_table(&store).await;
    println!("soak: rows kept per table: {rows:?}");
    for (table, count) in &rows {
        assert!(
            (*count as usize) < total / 2,
            "{table} keeps a row per update: {count} rows after {total} updates"
        );
    }
    // Flat: the file at most 50% (plus 1 MiB) above the warm figure (see the module docs);
    // growth with traffic would be `total / WARM` times it. The write-ahead log's size at any instant depends on
    // the largest recent transaction (a prune) and where the checkpoint stands, not on the
    // traffic so far: it must stay within a few checkpoints' worth
    // (`WAL_SIZE_LIMIT`); a checkpoint that never completes would let it grow by hundreds of
    // MiB over this many updates.
    assert!(
        end_db <= warm_db + warm_db / 2 + 1_048_576,
        "database file grew from {warm_db} to {end_db} bytes"
    );
    for (when, wal) in [("warm", warm_wal), ("end", end_wal)] {
        assert!(
            wal <= 8 * herald::store::WAL_SIZE_LIMIT,
            "write-ahead log at {when}: {wal} bytes"
        );
    }
    assert!(
        end_rss <= warm_rss + warm_rss / 4,
        "RSS grew from {warm_rss} to {end_rss} KiB"
    );
}

/// Every table's row count, largest first (SQLite's own tables and the migrations' ledger
/// left out).
async fn rows_per_table(store: &herald::store::Store) -> Vec<(String, i64)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master
         WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '_sqlx_migrations'",
    )
    .fetch_all(store.reader())
    .await
    .expect("table names");
    let mut rows = Vec::new();
    for table in tables {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{table}\""))
            .fetch_one(store.reader())
            .await
            .expect("row count");
        rows.push((table, count));
    }
    rows.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    rows
}
