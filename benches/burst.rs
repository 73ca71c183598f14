//! Delivery under Telegram's flood limits, timed, against the simulator on loopback with its
//! limits on (`cargo bench --bench burst`):
//! - the 300-post burst of `tests/burst.rs` (three bots, each 20 posts across the team's
//!   threads and 80 DMs across 30 chats): how long it takes against the least time the
//!   limits allow, and how many 429s it met;
//! - one bot's message beside another bot's backlog of 30 group posts: how long it waits.
//!
//! Prints figures and asserts nothing: what must hold (exactly once, in order, no 429, no bot
//! behind another's backlog) is tested in `tests/burst.rs`.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::time::{Duration, Instant};

use common::burst::{enqueue, minimum_seconds_of_bots, plan, simulator, Post, BOTS};
use common::Deployment;

fn main() {
    let runtime = support::runtime();
    runtime.block_on(async {
        burst().await;
        independence().await;
    });
}

async fn burst() {
    let deployment = Deployment::example();
    let sim = simulator(&deployment, true).await;
    let fleet = herald::fleet::start(&deployment.run_options(&sim))
        .await
        .expect("fleet starts");
    let posts = plan(&deployment, &BOTS, 20, 80);
    let started = Instant::now();
    enqueue(&fleet, &posts).await;
    let sent = sim
        .wait_for(
            |s| s.iter().filter(|r| r.text.starts_with("burst ")).count() >= posts.len(),
            Duration::from_secs(300),
        )
        .await
        .unwrap_or_else(|s| panic!("only {} of {} arrived", s.len(), posts.len()));
    let last = sent
        .iter()
        .filter(|r| r.text.starts_with("burst "))
        .map(|r| r.at)
        .max()
        .expect("some");
    let elapsed = last.duration_since(started).as_secs_f64();
    let minimum = minimum_seconds_of_bots(&posts);
    println!(
        "burst: {} posts (3 bots x (20 group + 80 DM)) in {elapsed:.2} s; minimum allowed by the limits {minimum:.2} s ({:+.1}%); 429s: {}",
        posts.len(),
        (elapsed / minimum - 1.0) * 100.0,
        sim.too_many_requests()
    );
    fleet.stop().await.expect("clean stop");
}

async fn independence() {
    let deployment = Deployment::example();
    let sim = simulator(&deployment, true).await;
    let fleet = herald::fleet::start(&deployment.run_options(&sim))
        .await
        .expect("fleet starts");
    let backlog = plan(&deployment, &["clawrence"], 30, 0);
    enqueue(&fleet, &backlog).await;
    let clawrence = deployment.config().bots["clawrence"].username.clone();
    sim.wait_for(
        |s| s.iter().any(|r| r.bot == clawrence),
        Duration::from_secs(60),
    )
    .await
    .expect("the backlog started");
    let asked = Instant::now();
    enqueue(
        &fleet,
        &[Post {
            bot: "happy",
            chat_id: deployment.config().roster.chat_id(),
            thread_id: None,
            text: "happy is not waiting".into(),
        }],
    )
    .await;
    let sent = sim
        .wait_for(
            |s| s.iter().any(|r| r.text == "happy is not waiting"),
            Duration::from_secs(120),
        )
        .await
        .expect("delivered");
    let took = sent
        .iter()
        .find(|r| r.text == "happy is not waiting")
        .map(|r| r.at.saturating_duration_since(asked))
        .unwrap_or_default();
    let before = sent
        .iter()
        .take_while(|r| r.text != "happy is not waiting")
        .filter(|r| r.bot == clawrence)
        .count();
    println!(
        "independence: Happy delivered in {:.0} ms while Clawrence had sent {before} of {}",
        took.as_secs_f64() * 1000.0,
        backlog.len()
    );
    fleet.stop().await.expect("clean stop");
}
