//! Idle cost and start-up, of the real binary against the simulator on loopback
//! (`cargo bench --bench idle`), next to a reference measured in the same run: a bare
//! teloxide 0.17 echo bot (this bench binary run again as one, `HERALD_BENCH_ECHO`), long
//! polling with the same 50 s timeout as herald.
//!
//! For each process, once it polls and has finished starting (for herald: a minute after the
//! start its boot is recorded healthy and the capability probe runs once; idle is after that):
//! - wake-ups per second: voluntary context switches of all its threads (a thread that blocks
//!   and is woken again), over the window;
//! - CPU seconds per minute (user + system) over the window;
//! - resident memory at the end of the window.
//!
//! For herald, also the time from spawn to all seven bots long-polling.
//!
//! The window is 60 s (`HERALD_BENCH_IDLE_SECONDS` to change it). Prints figures and asserts
//! nothing: the behaviour behind them (a sender wakes only for its own bot, the scheduler
//! sleeps until a slot) is tested in `tests/wakeups.rs` and `tests/schedule.rs`.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::time::{Duration, Instant};

use common::Deployment;
use support::{cpu_seconds, rss_mib, voluntary_switches, wait_until};

fn main() {
    let runtime = support::runtime();
    if support::run_echo_if_asked(&runtime) {
        return;
    }
    let window = Duration::from_secs(
        std::env::var("HERALD_BENCH_IDLE_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );
    runtime.block_on(async {
        let deployment = Deployment::example();
        let sim = deployment.simulator().await;
        let usernames: Vec<String> = deployment
            .config()
            .bots
            .values()
            .map(|b| b.username.clone())
            .collect();

        let spawned = Instant::now();
        let herald = support::spawn_herald(&deployment, &sim, &[]);
        wait_until("seven bots polling", || usernames.iter().all(|u| sim.polls(u) > 0)).await;
        let polling = spawned.elapsed();
        // Start-up ends a minute later: the boot is recorded healthy and the jobs that run
        // at every start (the capability probe) run. Idle begins after them.
        start_runs_done(&deployment).await;
        let herald_idle = measure(herald.child.id(), window).await;
        herald.terminate();
        herald.wait().await;

        // The reference: one bot, its own simulator (the same server code), same long poll.
        let echo_sim = deployment.simulator().await;
        let token = deployment.tokens["clawrence"].clone();
        let username = deployment.config().bots["clawrence"].username.clone();
        let echo = support::spawn_echo(&token, &echo_sim.base_url());
        wait_until("the echo polling", || echo_sim.polls(&username) > 0).await;
        let echo_idle = measure(echo.id().expect("echo pid"), window).await;
        support::stop_echo(echo).await;

        println!(
            "idle over {} s: herald (7 bots) {:.2} wake-ups/s, {:.3} CPU-s/min, RSS {:.1} MiB | teloxide echo (1 bot) {:.2} wake-ups/s, {:.3} CPU-s/min, RSS {:.1} MiB",
            window.as_secs(),
            herald_idle.wakeups_per_second,
            herald_idle.cpu_per_minute,
            herald_idle.rss_mib,
            echo_idle.wakeups_per_second,
            echo_idle.cpu_per_minute,
            echo_idle.rss_mib,
        );
        println!(
            "start: spawn to seven bots long-polling {:.0} ms (verification, migrations, lease included)",
            polling.as_secs_f64() * 1000.0
        );
    });
}

/// Waits (polling once a second: a bench may) until every slot run at start has finished.
async fn start_runs_done(deployment: &Deployment) {
    let store = herald::store::Store::open(&deployment.db_url())
        .await
        .expect("db opens");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (finished, running): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE state != 'running'), count(*) FILTER (WHERE state = 'running')
             FROM job_slots WHERE trigger = 'start'",
        )
        .fetch_one(store.reader())
        .await
        .unwrap_or((0, 0));
        if finished > 0 && running == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the runs at start did not finish"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    store.close().await;
}

struct Idle {
    wakeups_per_second: f64,
    cpu_per_minute: f64,
    rss_mib: f64,
}

/// Lets `pid` settle for 5 s, then counts over `window`.
async fn measure(pid: u32, window: Duration) -> Idle {
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (switches, cpu) = (voluntary_switches(pid), cpu_seconds(pid));
    tokio::time::sleep(window).await;
    let (switches_after, cpu_after) = (voluntary_switches(pid), cpu_seconds(pid));
    let seconds = window.as_secs_f64();
    Idle {
        wakeups_per_second: switches_after.saturating_sub(switches) as f64 / seconds,
        cpu_per_minute: (cpu_after - cpu) * 60.0 / seconds,
        rss_mib: rss_mib(pid),
    }
}
