//! The kill switch, timed, against the simulator on loopback (`cargo bench --bench pause`):
//! with a backlog of 200 posts going out as fast as the sender can (limits off),
//! - `herald pause all` (the command's own function): how long the pause took to commit,
//!   how many sends got out after it (the one in flight), and the last non-console message
//!   after the pause was asked for;
//! - `/pause all` sent to the console bot: the last non-console message after the operator's
//!   update was sent.
//!
//! Prints figures and asserts nothing: what must hold (no row claimed after the pause
//! committed, the operator told, the rest delivered once on resume) is tested in
//! `tests/burst.rs` and `tests/console.rs`.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::time::{Duration, Instant};

use common::burst::{enqueue, plan, simulator};
use common::Deployment;

fn main() {
    let runtime = support::runtime();
    runtime.block_on(async {
        command().await;
        console().await;
    });
}

/// A fleet with 200 of Clawrence's posts going out; returns once ten are out.
async fn backlog(
    deployment: &Deployment,
) -> (herald_sim::Simulator, herald::fleet::RunningFleet, String) {
    let sim = simulator(deployment, false).await;
    let fleet = herald::fleet::start(&deployment.run_options(&sim))
        .await
        .expect("fleet starts");
    let clawrence = deployment.config().bots["clawrence"].username.clone();
    enqueue(&fleet, &plan(deployment, &["clawrence"], 10, 190)).await;
    sim.wait_for(
        |s| s.iter().filter(|r| r.bot == clawrence).count() >= 10,
        Duration::from_secs(60),
    )
    .await
    .expect("the backlog is going out");
    (sim, fleet, clawrence)
}

async fn command() {
    let deployment = Deployment::example();
    let (sim, fleet, clawrence) = backlog(&deployment).await;
    let requested = Instant::now();
    herald::commands::pause::set_pause(
        deployment.path(),
        &deployment.db_url(),
        &["all".to_owned()],
        true,
        "bench",
        herald::clock::Clock::system().now(),
    )
    .await
    .expect("pause");
    let committed = Instant::now();
    common::settled(&sim, &fleet).await;
    let sent = sim.sent();
    let by_clawrence: Vec<_> = sent.iter().filter(|r| r.bot == clawrence).collect();
    let after = by_clawrence.iter().filter(|r| r.at > committed).count();
    let last = by_clawrence.iter().map(|r| r.at).max().expect("some");
    println!(
        "pause (command): {} of 200 sent before the pause committed, {after} after it (in flight); last non-console message {:.1} ms after the pause was asked for; the pause took {:.1} ms to commit",
        by_clawrence.len() - after,
        last.saturating_duration_since(requested).as_secs_f64() * 1000.0,
        committed.duration_since(requested).as_secs_f64() * 1000.0
    );
    fleet.stop().await.expect("clean stop");
}

async fn console() {
    let deployment = Deployment::example();
    let (sim, fleet, clawrence) = backlog(&deployment).await;
    let lawrence = deployment.config().bots["lawrence"].username.clone();
    let asked = Instant::now();
    sim.user_dms(deployment.operator(), &lawrence, "/pause all");
    sim.wait_for(
        |s| {
            s.iter()
                .any(|r| r.bot == lawrence && r.text.contains("Paused <b>all</b>"))
        },
        Duration::from_secs(60),
    )
    .await
    .expect("the console answers");
    common::settled(&sim, &fleet).await;
    let sent = sim.sent();
    let by_clawrence: Vec<_> = sent.iter().filter(|r| r.bot == clawrence).collect();
    let last = by_clawrence.iter().map(|r| r.at).max().expect("some");
    println!(
        "pause (console): {} of 200 sent; last non-console message {:.0} ms after the /pause all update was sent; {} non-console messages after it",
        by_clawrence.len(),
        last.saturating_duration_since(asked).as_secs_f64() * 1000.0,
        by_clawrence.iter().filter(|r| r.at > asked).count()
    );
    fleet.stop().await.expect("clean stop");
}
