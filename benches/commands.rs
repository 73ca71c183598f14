//! What a command costs, of the real binary against the simulator on loopback (`cargo bench
//! --bench commands`), next to a bare teloxide 0.17 echo bot measured in the same run (this
//! bench binary run again as one, as in `benches/idle.rs`).
//!
//! 600 members each DM `/help` once, at 20 per second, to Clawrence (herald: the update, its
//! audit entry and the reply committed in one transaction with `synchronous=FULL`, then the
//! send) and to the echo bot (the reply, nothing written). For each process:
//! - CPU seconds per 1,000 commands (user + system, over the run);
//! - voluntary context switches per command;
//! - reply latency p50 / p99: from the simulator queueing the DM to it accepting the reply.
//!
//! Then 2,000 members DM `/help` at the same instant, with the simulator's flood limits on:
//! the time until the last reply, against the least the limits allow (one bot sends at most
//! 30 messages a second: 2,000 / 30 s), and the 429s met.
//!
//! With `HERALD_BENCH_MANY=N` (e.g. 100000), last: N commands as fast as herald answers them
//! (limits off on both sides), and herald's resident memory before and after, with the
//! database file's size.
//!
//! Prints figures and asserts nothing.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::Deployment;
use support::{cpu_seconds, quantile, voluntary_switches};
const MEMBERS: usize = 600;
const PER_SECOND: f64 = 20.0;
const AT_ONCE: usize = 2_000;
/// Telegram's limit on one bot's messages per second.
const BOT_PER_SECOND: f64 = 30.0;

fn main() {
    let runtime = support::runtime();
    if support::run_echo_if_asked(&runtime) {
        return;
    }
    runtime.block_on(async {
        // Each herald run gets a deployment (and database) of its own: a new simulator
        // numbers its updates from the start again, which a used database has seen.
        let (deployment, everyone) = with_members(AT_ONCE);
        let members = &everyone[..MEMBERS];
        let username = deployment.config().bots["clawrence"].username.clone();

        let sim = deployment.simulator().await;
        let herald = support::spawn_herald(&deployment, &sim, &[]);
        let herald_cost = drive(&sim, herald.child.id(), &username, members).await;
        herald.terminate();
        herald.wait().await;

        let echo_sim = deployment.simulator().await;
        let token = deployment.tokens["clawrence"].clone();
        let echo = support::spawn_echo(&token, &echo_sim.base_url());
        let echo_cost = drive(&echo_sim, echo.id().expect("pid"), &username, members).await;
        support::stop_echo(echo).await;

        for (who, cost) in [
            ("herald (7 bots)", herald_cost),
            ("teloxide echo (1 bot)", echo_cost),
        ] {
            println!(
                "{MEMBERS} DMs at {PER_SECOND}/s, {who}: {:.2} CPU-s per 1,000 commands, {:.1} context switches per command, reply latency p50 {:.1} ms, p99 {:.1} ms",
                cost.cpu_per_thousand, cost.switches_per_command, cost.p50_ms, cost.p99_ms
            );
        }

        let (deployment, everyone) = with_members(AT_ONCE);
        at_once(&deployment, &username, &everyone).await;
        if let Some(n) = std::env::var("HERALD_BENCH_MANY")
            .ok()
            .and_then(|n| n.parse().ok())
        {
            let (deployment, everyone) = with_members(AT_ONCE);
            many(&deployment, &username, &everyone, n).await;
        }
    });
}

/// Every member DMs `/help` at once, the simulator's limits on.
async fn at_once(deployment: &Deployment, bot: &str, members: &[i64]) {
    let sim = deployment.simulator().await;
    sim.set_rate_limits(true);
    let herald = support::spawn_herald(deployment, &sim, &[]);
    support::polling_and_started(&sim, bot).await;
    let replies_before = sim.sent_count();
    let limited_before = sim.too_many_requests();
    let start = Instant::now();
    for &member in members {
        sim.user_dms(member, bot, "/help");
    }
    let sent = sent_at_least(
        &sim,
        replies_before + members.len(),
        Duration::from_secs(600),
    )
    .await;
    let replies = &sent[replies_before.min(sent.len())..];
    let last = replies.iter().map(|r| r.at).max().unwrap_or(start);
    let took = last.saturating_duration_since(start).as_secs_f64();
    let minimum = members.len() as f64 / BOT_PER_SECOND;
    println!(
        "{} DMs at once, limits on: {} replies in {took:.2} s; the limits allow {minimum:.2} s at best: {:.3}x; 429s: {}",
        members.len(),
        replies.len(),
        took / minimum,
        sim.too_many_requests() - limited_before,
    );
    herald.terminate();
    herald.wait().await;
}

/// `n` commands as fast as herald answers, limits off; memory before and after.
async fn many(deployment: &Deployment, bot: &str, members: &[i64], n: usize) {
    let sim = deployment.simulator().await;
    let herald = support::spawn_herald(deployment, &sim, &[("HERALD_TEST_RATE_LIMITS", "off")]);
    let pid = herald.child.id();
    support::polling_and_started(&sim, bot).await;
    let idle_rss = support::rss_mib(pid);
    let replies_before = sim.sent_count();
    let start = Instant::now();
    // At most 500 unanswered at a time, so the simulator's queue stays small.
    const WINDOW: usize = 500;
    let mut asked = 0;
    while asked < n {
        let done = sim.sent_count() - replies_before;
        while asked < n && asked < done + WINDOW {
            sim.user_dms(members[asked % members.len()], bot, "/help");
            asked += 1;
        }
        answered(&sim, replies_before + asked.saturating_sub(WINDOW / 2)).await;
    }
    answered(&sim, replies_before + n).await;
    let took = start.elapsed().as_secs_f64();
    let db_mib =
        std::fs::metadata(deployment.db_path()).map_or(0.0, |m| m.len() as f64) / (1024.0 * 1024.0);
    println!(
        "{n} commands, limits off: {:.0} commands/s; RSS idle {idle_rss:.1} MiB, after {:.1} MiB; database file {db_mib:.1} MiB",
        n as f64 / took,
        support::rss_mib(pid),
    );
    herald.terminate();
    herald.wait().await;
}

/// Every sent message once `sim` holds `count` of them (or `patience` ran out).
async fn sent_at_least(
    sim: &herald_sim::Simulator,
    count: usize,
    patience: Duration,
) -> Vec<herald_sim::SentRecord> {
    support::sent_reaches(sim, count, patience).await;
    sim.sent()
}

/// Waits for `count` sent messages in all; fails if they do not come within two minutes.
async fn answered(sim: &herald_sim::Simulator, count: usize) {
    assert!(
        support::sent_reaches(sim, count, Duration::from_secs(120)).await,
        "stalled at {} of {count} messages",
        sim.sent_count()
    );
}

/// The example deployment with `count` plain members added to its roster.
fn with_members(count: usize) -> (Deployment, Vec<i64>) {
    let deployment = Deployment::example();
    let members = add_members(&deployment, count);
    (deployment, members)
}

/// Adds `count` plain members to the roster (before the simulator learns the roster).
fn add_members(deployment: &Deployment, count: usize) -> Vec<i64> {
    let path = deployment.path().join("bots").join("roster.toml");
    let mut text = std::fs::read_to_string(&path).expect("roster.toml");
    let ids: Vec<i64> = (0..count as i64).map(|i| 7_000_000_000 + i).collect();
    for (i, id) in ids.iter().enumerate() {
        text.push_str(&format!(
            "\n[[members]]\nname = \"Bench Member {i}\"\ntelegram_id = {id}\nhandle = \"bench_member_{i}\"\n"
        ));
    }
    std::fs::write(&path, text).expect("roster.toml writable");
    ids
}

struct Cost {
    cpu_per_thousand: f64,
    switches_per_command: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn drive(sim: &herald_sim::Simulator, pid: u32, bot: &str, members: &[i64]) -> Cost {
    support::polling_and_started(sim, bot).await;
    let before = (cpu_seconds(pid), voluntary_switches(pid));
    let replies_before = sim.sent_count();
    let mut asked: HashMap<i64, Instant> = HashMap::new();
    let gap = Duration::from_secs_f64(1.0 / PER_SECOND);
    let start = Instant::now();
    for (i, &member) in members.iter().enumerate() {
        tokio::time::sleep_until((start + gap * i as u32).into()).await;
        asked.insert(member, Instant::now());
        sim.user_dms(member, bot, "/help");
    }
    let sent = sent_at_least(
        sim,
        replies_before + members.len(),
        Duration::from_secs(120),
    )
    .await;
    let after = (cpu_seconds(pid), voluntary_switches(pid));
    let mut latencies: Vec<f64> = sent[replies_before..]
        .iter()
        .filter_map(|r| {
            asked
                .get(&r.chat_id)
                .map(|&at| r.at.saturating_duration_since(at).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let n = members.len() as f64;
    Cost {
        cpu_per_thousand: (after.0 - before.0) * 1000.0 / n,
        switches_per_command: after.1.saturating_sub(before.1) as f64 / n,
        p50_ms: quantile(&latencies, 0.5),
        p99_ms: quantile(&latencies, 0.99),
    }
}
