//! What the benches share: their runtime, reading a process's CPU time, context switches and memory from
//! Linux `/proc`, and the reference teloxide echo bot they measure herald against (the bench
//! binary run again with [`ECHO`] set). Each bench uses part of it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// The runtime every bench runs in: two workers, as on the two-core machines the figures
/// are for.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Environment variable that makes a bench binary the reference echo bot: `TOKEN URL`.
pub const ECHO: &str = "HERALD_BENCH_ECHO";

/// If this process was started as the echo bot, runs it (until killed) and returns true.
pub fn run_echo_if_asked(runtime: &tokio::runtime::Runtime) -> bool {
    match std::env::var(ECHO) {
        Ok(spec) => {
            runtime.block_on(echo(&spec));
            true
        }
        Err(_) => false,
    }
}

/// Starts this bench binary again as the echo bot for `token` against `api_url`.
pub fn spawn_echo(token: &str, api_url: &str) -> tokio::process::Child {
    tokio::process::Command::new(std::env::current_exe().expect("own path"))
        .env(ECHO, format!("{token} {api_url}"))
        .kill_on_drop(true)
        .spawn()
        .expect("echo starts")
}

/// Stops an echo bot started by [`spawn_echo`].
pub async fn stop_echo(mut echo: tokio::process::Child) {
    if let Err(e) = echo.kill().await {
        eprintln!("echo did not stop: {e}");
    }
}

/// Polls `done` every 10 ms (a bench may; a test may not) for up to a minute.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within a minute");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts the real binary (`herald run`, warnings only) on `deployment` against `sim`, with
/// `env` set.
pub fn spawn_herald(
    deployment: &crate::common::Deployment,
    sim: &herald_sim::Simulator,
    env: &[(&str, &str)],
) -> crate::common::Herald {
    let mut command = deployment.herald(sim, &["run"]);
    command.env("RUST_LOG", "warn");
    command.envs(env.iter().copied());
    deployment.spawn_command(command)
}

/// Waits until `bot` long-polls `sim`, then 3 s more for start-up work (commands published,
/// boot alerts) to finish.
pub async fn polling_and_started(sim: &herald_sim::Simulator, bot: &str) {
    wait_until("polling", || sim.polls(bot) > 0).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
}

/// Waits (every 20 ms: a bench may poll) until `sim` holds `count` sent messages, for at
/// most `patience`; whether they came. Counts only: copying every record each time would
/// load the simulator the bench measures against.
pub async fn sent_reaches(sim: &herald_sim::Simulator, count: usize, patience: Duration) -> bool {
    let deadline = Instant::now() + patience;
    while sim.sent_count() < count {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// Voluntary context switches of every thread of `pid`: how often its threads blocked and
/// were woken again.
pub fn voluntary_switches(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .map(|task| {
                    status_field(
                        &task.path().join("status").display().to_string(),
                        "voluntary_ctxt_switches:",
                    )
                })
                .sum()
        })
        .unwrap_or(0)
}

/// User + system CPU seconds of `pid` (all threads).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces): utime and stime are the 12th and
    // 13th after it.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) as f64 / per_second
}

/// Resident memory of `pid` in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    status_field(&format!("/proc/{pid}/status"), "VmRSS:") as f64 / 1024.0
}

/// The number in a `Name: value` line of a `/proc` status file (0 if absent).
fn status_field(path: &str, name: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// The `q` quantile of sorted `values` (NaN if empty).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * q).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

/// The reference: a minimal teloxide echo bot, long polling with herald's 50 s timeout.
async fn echo(spec: &str) {
    use teloxide::prelude::*;
    use teloxide::update_listeners::Polling;

    let (token, url) = spec.split_once(' ').expect("HERALD_BENCH_ECHO: TOKEN URL");
    let bot = Bot::new(token).set_api_url(url.parse().expect("a URL"));
    let handler = Update::filter_message().endpoint(|bot: Bot, msg: Message| async move {
        if let Some(text) = msg.text() {
            bot.send_message(msg.chat.id, text).await?;
        }
        respond(())
    });
    let listener = Polling::builder(bot.clone())
        .timeout(Duration::from_secs(50))
        .build();
    Dispatcher::builder(bot, handler)
        .build()
        .dispatch_with_listener(
            listener,
            LoggingErrorHandler::with_custom_text("echo: polling failed"),
        )
        .await;
}
