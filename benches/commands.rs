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
//! Prints figures and asserts nothing.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::Deployment;
use support::{cpu_seconds, quantile, voluntary_switches, wait_until};
const MEMBERS: usize = 600;
const PER_SECOND: f64 = 20.0;

fn main() {
    let runtime = support::runtime();
    if support::run_echo_if_asked(&runtime) {
        return;
    }
    runtime.block_on(async {
        let deployment = Deployment::example();
        let members = add_members(&deployment);
        let username = deployment.config().bots["clawrence"].username.clone();

        let sim = deployment.simulator().await;
        let herald = deployment.spawn_command({
            let mut command = deployment.herald(&sim, &["run"]);
            command.env("RUST_LOG", "warn");
            command
        });
        let herald_cost = drive(&sim, herald.child.id(), &username, &members).await;
        herald.terminate();
        herald.wait().await;

        let echo_sim = deployment.simulator().await;
        let token = deployment.tokens["clawrence"].clone();
        let echo = support::spawn_echo(&token, &echo_sim.base_url());
        let echo_cost = drive(&echo_sim, echo.id().expect("pid"), &username, &members).await;
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
    });
}

/// Adds `MEMBERS` plain members to the roster (before the simulator learns the roster).
fn add_members(deployment: &Deployment) -> Vec<i64> {
    let path = deployment.path().join("bots").join("roster.toml");
    let mut text = std::fs::read_to_string(&path).expect("roster.toml");
    let ids: Vec<i64> = (0..MEMBERS as i64).map(|i| 7_000_000_000 + i).collect();
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
    wait_until("polling", || sim.polls(bot) > 0).await;
    // Let start-up work (commands published, boot alerts) finish first.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = (cpu_seconds(pid), voluntary_switches(pid));
    let replies_before = sim.sent().len();
    let mut asked: HashMap<i64, Instant> = HashMap::new();
    let gap = Duration::from_secs_f64(1.0 / PER_SECOND);
    let start = Instant::now();
    for (i, &member) in members.iter().enumerate() {
        tokio::time::sleep_until((start + gap * i as u32).into()).await;
        asked.insert(member, Instant::now());
        sim.user_dms(member, bot, "/help");
    }
    let sent = sim
        .wait_for(
            |sent| sent.len() >= replies_before + members.len(),
            Duration::from_secs(120),
        )
        .await
        .unwrap_or_else(|sent| sent);
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
