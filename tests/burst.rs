//! Delivery under Telegram's flood limits, through the simulator with its limits on.
//!
//! The burst: 300 scheduled posts from three identities (Clawrence, Happy, GymBooker), each
//! 20 posts across the team's 10 threads and 80 DMs across 30 private chats. Every message
//! must arrive exactly once, in order within its thread, with no 429. How long it takes,
//! against the least time the limits allow, is measured by `cargo bench --bench burst`.
//!
//! The kill switch: with a backlog of 200 posts going out, `pause all` stops every
//! non-console send at the next claim (at most the send in flight gets out), the operator
//! still hears about it, and `resume` delivers the rest exactly once. Its timing is measured
//! by `cargo bench --bench pause`.
//!
//! Needs the `fault-injection` feature: the backlog is written through the running fleet's
//! posters (`RunningFleet::poster`, `herald::outbox::injected`), as each bot would write it.
#![cfg(feature = "fault-injection")]

mod common;

use std::collections::BTreeMap;

use common::burst::{enqueue, minimum_seconds, plan, simulator, Post, BOTS};
use common::{Deployment, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_300_posts_arrives_once_in_order_and_without_a_429() {
    let deployment = Deployment::example();
    let sim = simulator(&deployment, true).await;
    let fleet = herald::fleet::start(&deployment.run_options(&sim))
        .await
        .expect("fleet starts");
    let posts = plan(&deployment, &BOTS, 20, 80);
    assert_eq!(posts.len(), 300);
    let usernames: BTreeMap<&str, String> = BOTS
        .iter()
        .map(|b| (*b, deployment.config().bots[b].username.clone()))
        .collect();

    enqueue(&fleet, &posts).await;
    sim.wait_for(
        |s| s.iter().filter(|r| r.text.starts_with("burst ")).count() >= posts.len(),
        // The limits allow it in about 20 s.
        PATIENCE + PATIENCE,
    )
    .await
    .unwrap_or_else(|s| panic!("only {} of 300 arrived", s.len()));
    // Anything a wrong sender would send twice has been sent by now.
    common::settled(&sim, &fleet).await;
    let sent = sim.sent();
    let burst: Vec<_> = sent
        .iter()
        .filter(|r| r.text.starts_with("burst "))
        .collect();

    // Exactly once.
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &burst {
        *seen.entry(r.text.as_str()).or_default() += 1;
    }
    assert_eq!(seen.len(), 300, "every message arrived");
    assert!(seen.values().all(|&n| n == 1), "none twice");
    // In order within each thread and each private chat, per bot.
    for &bot in &BOTS {
        let mut places: BTreeMap<(i64, Option<i32>), Vec<&str>> = BTreeMap::new();
        for post in posts.iter().filter(|p| p.bot == bot) {
            places
                .entry((post.chat_id, post.thread_id))
                .or_default()
                .push(post.text.as_str());
        }
        for ((chat, thread), expected) in places {
            let arrived: Vec<&str> = burst
                .iter()
                .filter(|r| r.bot == usernames[bot] && r.chat_id == chat && r.thread_id == thread)
                .map(|r| r.text.as_str())
                .collect();
            assert_eq!(arrived, expected, "{bot} in chat {chat} thread {thread:?}");
        }
    }
    assert_eq!(sim.too_many_requests(), 0, "no 429");
    fleet.stop().await.expect("clean stop");
}

#[test]
fn the_minimum_follows_the_limits() {
    let post = |chat_id: i64| Post {
        bot: "clawrence",
        chat_id,
        thread_id: None,
        text: String::new(),
    };
    // 20 to a group: one a second.
    assert_eq!(minimum_seconds(&vec![post(-1); 20]), 19.0);
    // 21 to a group: the 21st waits a minute after the first.
    assert_eq!(minimum_seconds(&vec![post(-1); 21]), 60.0);
    // 60 DMs to 60 people: 30 a second.
    let dms: Vec<Post> = (1..=60).map(post).collect();
    assert_eq!(minimum_seconds(&dms), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_all_stops_a_backlog_of_200_at_the_next_claim_and_resume_delivers_the_rest_once() {
    let deployment = Deployment::example();
    // Limits off: the sender goes as fast as it can, the hardest case for a pause.
    let sim = simulator(&deployment, false).await;
    let fleet = herald::fleet::start(&deployment.run_options(&sim))
        .await
        .expect("fleet starts");
    let config = deployment.config();
    let clawrence = config.bots["clawrence"].username.clone();
    let lawrence = config.bots["lawrence"].username.clone();
    let operator = deployment.operator();
    // Mostly DMs, so the backlog drains fast once resumed (a group takes 20 a minute).
    let posts = plan(&deployment, &["clawrence"], 10, 190);
    assert_eq!(posts.len(), 200);
    enqueue(&fleet, &posts).await;
    sim.wait_for(
        |s| s.iter().filter(|r| r.bot == clawrence).count() >= 10,
        PATIENCE,
    )
    .await
    .expect("the backlog is going out");

    let words = vec!["all".to_owned()];
    herald::commands::pause::set_pause(
        deployment.path(),
        &deployment.db_url(),
        &words,
        true,
        "test",
        herald::clock::Clock::system().now(),
    )
    .await
    .expect("pause");
    // Committed: from here on only the send in flight may still reach Telegram.
    let committed_at = sim.sent().len();
    // Every sender has looked at the outbox since the pause and found nothing it may send.
    common::settled(&sim, &fleet).await;

    let sent = sim.sent();
    let by_clawrence = sent.iter().filter(|r| r.bot == clawrence).count();
    let after = sent[committed_at..]
        .iter()
        .filter(|r| r.bot == clawrence)
        .count();
    assert!(after <= 1, "at most the send in flight: {after}");
    assert!(by_clawrence < 200, "the pause held part of the backlog");
    // The claim of a row and the pause check are one statement: no row was claimed after the
    // pause committed (audit entries are numbered in commit order).
    let claimed_after: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit WHERE kind = 'outbox' AND bot = 'clawrence'
         AND decision = 'pending -> sending'
         AND seq > (SELECT max(seq) FROM audit WHERE kind = 'pause')",
    )
    .fetch_one(fleet.store().reader())
    .await
    .expect("audit readable");
    assert_eq!(claimed_after, 0, "rows claimed after the pause committed");
    assert!(
        sent.iter().any(|r| {
            r.bot == lawrence && r.chat_id == operator && r.text.contains("Paused <b>all</b>")
        }),
        "the operator is told, even while paused"
    );

    herald::commands::pause::set_pause(
        deployment.path(),
        &deployment.db_url(),
        &words,
        false,
        "test",
        herald::clock::Clock::system().now(),
    )
    .await
    .expect("resume");
    sim.wait_for(
        |s| s.iter().filter(|r| r.bot == clawrence).count() >= 200,
        PATIENCE,
    )
    .await
    .unwrap_or_else(|s| {
        panic!(
            "after resume only {} of 200 arrived",
            s.iter().filter(|r| r.bot == clawrence).count()
        )
    });
    common::settled(&sim, &fleet).await;
    let sent = sim.sent();
    let mut texts: Vec<&str> = sent
        .iter()
        .filter(|r| r.bot == clawrence)
        .map(|r| r.text.as_str())
        .collect();
    assert_eq!(texts.len(), 200, "nothing sent twice");
    texts.sort_unstable();
    texts.dedup();
    assert_eq!(texts.len(), 200, "every post exactly once");
    fleet.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bots_backlog_never_delays_another_bot() {
    let deployment = Deployment::example();
    let sim = simulator(&deployment, true).await;
    let fleet = herald::fleet::start(&deployment.run_options(&sim))
        .await
        .expect("fleet starts");
    // Clawrence has 30 group posts queued: with 20 a minute per group, at least a minute of
    // backlog.
    let backlog = plan(&deployment, &["clawrence"], 30, 0);
    enqueue(&fleet, &backlog).await;
    let clawrence = deployment.config().bots["clawrence"].username.clone();
    sim.wait_for(|s| s.iter().any(|r| r.bot == clawrence), PATIENCE)
        .await
        .expect("the backlog started");
    // Happy posts one message to the same group meanwhile.
    let chat = deployment.config().roster.chat_id();
    enqueue(
        &fleet,
        &[Post {
            bot: "happy",
            chat_id: chat,
            thread_id: None,
            text: "happy is not waiting".into(),
        }],
    )
    .await;
    let sent = sim
        .wait_for(
            |s| s.iter().any(|r| r.text == "happy is not waiting"),
            PATIENCE,
        )
        .await
        .expect("delivered");
    // It went out while Clawrence's backlog was still going, not behind it.
    let before_happy = sent
        .iter()
        .take_while(|r| r.text != "happy is not waiting")
        .filter(|r| r.bot == clawrence)
        .count();
    assert!(
        before_happy < backlog.len(),
        "Happy's message waited for Clawrence's backlog ({before_happy} sent before it)"
    );
    assert_eq!(sim.too_many_requests(), 0, "no 429");
    fleet.stop().await.expect("clean stop");
}
