//! How late a `* * * * *` post reaches Telegram after its minute, in process against the
//! simulator on loopback (`cargo bench --bench lateness`).
//!
//! A rehearsal: the clock runs 15 times faster than real time (a clock minute every 4 s, so
//! the posts stay inside the group's 20-per-minute limit), for 30 slots. The bench makes the
//! clock itself, so it knows the real instant of each slot (`start + (slot - clock start) /
//! speed`); a post's lateness is the simulator's arrival instant minus that, in real
//! milliseconds: the scheduler's wake-up, the run, the outbox commit and the send. The speed
//! changes how often a slot comes, not what happens at one, so this measures what a
//! `* * * * *` job sees at speed 1: `HERALD_BENCH_REAL_MINUTES=N` runs N slots at speed 1
//! too, to compare.
//!
//! Prints p50 / p99 / max and the slots' labels; asserts nothing (the labels are tested in
//! `tests/schedule.rs`).

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::Deployment;
use herald::clock::Clock;

const PULSE: i32 = 39;

fn main() {
    let runtime = support::runtime();
    runtime.block_on(async {
        rehearsal(15.0, 30).await;
        if let Some(minutes) = std::env::var("HERALD_BENCH_REAL_MINUTES")
            .ok()
            .and_then(|m| m.parse().ok())
        {
            rehearsal(1.0, minutes).await;
        }
    });
}

async fn rehearsal(speed: f64, slots: usize) {
    let deployment = Deployment::example();
    let path = deployment.path().join("bots").join("clawrence.toml");
    let mut text = std::fs::read_to_string(&path).expect("clawrence.toml");
    text.push_str(
        "\n[[jobs]]\nname = \"minutely\"\nkind = \"post\"\ncron = \"* * * * *\"\ntimezone = \"Asia/Singapore\"\nmisfire = \"skip\"\nthread = \"pulse\"\ntemplate = \"team_pulse.html\"\n",
    );
    std::fs::write(&path, text).expect("clawrence.toml writable");
    let sim = deployment.simulator().await;
    let mut options = deployment.run_options(&sim);
    // Sunday 22 November 2026, 18:00:30 in Singapore: no other job is due for hours.
    let clock_start: DateTime<Utc> = "2026-11-22T10:00:30Z".parse().expect("instant");
    options.clock = Clock::accelerated(clock_start, speed);
    let origin = Instant::now();
    let fleet = herald::fleet::start(&options).await.expect("fleet starts");
    let first_slot: DateTime<Utc> = "2026-11-22T10:01:00Z".parse().expect("instant");
    let slot_at = |k: usize| {
        let clock = (first_slot - clock_start).as_seconds_f64() + 60.0 * k as f64;
        origin + Duration::from_secs_f64(clock / speed)
    };
    let posts = sim
        .wait_for(
            |sent| {
                sent.iter()
                    .filter(|r| r.thread_id == Some(PULSE) && r.method == "sendMessage")
                    .count()
                    >= slots
            },
            Duration::from_secs_f64(60.0 * (slots + 2) as f64 / speed),
        )
        .await
        .unwrap_or_else(|sent| sent);
    fleet.stop().await.expect("clean stop");
    let mut late: Vec<f64> = posts
        .iter()
        .filter(|r| r.thread_id == Some(PULSE) && r.method == "sendMessage")
        .take(slots)
        .enumerate()
        .map(|(k, r)| {
            let expected = slot_at(k);
            if r.at >= expected {
                r.at.duration_since(expected).as_secs_f64() * 1000.0
            } else {
                -(expected.duration_since(r.at).as_secs_f64() * 1000.0)
            }
        })
        .collect();
    late.sort_by(f64::total_cmp);
    let store = herald::store::Store::open(&deployment.db_url())
        .await
        .expect("db opens");
    let labels: Vec<(String, i64)> = sqlx::query_as(
        "SELECT state || ' (' || trigger || ')', count(*) FROM job_slots WHERE job = 'minutely' GROUP BY 1",
    )
    .fetch_all(store.reader())
    .await
    .unwrap_or_default();
    println!(
        "lateness of a * * * * * post at {speed}x over {} slots: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (real time after the slot's instant); slots: {labels:?}",
        late.len(),
        support::quantile(&late, 0.5),
        support::quantile(&late, 0.99),
        late.last().copied().unwrap_or(f64::NAN),
    );
}
