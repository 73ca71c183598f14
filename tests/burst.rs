//! Delivery under Telegram's flood limits, through the simulator with its limits on.
//!
//! The burst: 300 scheduled posts from three identities (Clawrence, Happy, GymBooker), each
//! 20 posts across the team's 10 threads and 80 DMs across 30 private chats. Every message
//! must arrive exactly once, in order within its thread, with no 429, and the whole burst
//! must take at most 10% longer than the least time Telegram's limits allow. The figures
//! are printed (`cargo test --test burst -- --nocapture`).
//!
//! The kill switch: with a backlog of 200 posts going out, `pause all` stops every
//! non-console send within one second, the operator still hears about it, and `resume`
//! delivers the rest exactly once.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::Deployment;
use herald::fleet::RunningFleet;
use herald_sim::{SimUser, Simulator};

const BOTS: [&str; 3] = ["clawrence", "happy", "gymbooker"];
const DM_USERS: i64 = 30;
const FIRST_DM_USER: i64 = 9_100_000_001;

/// One queued post: which bot, where, and its text (unique).
#[derive(Debug, Clone)]
struct Post {
    bot: &'static str,
    chat_id: i64,
    thread_id: Option<i32>,
    text: String,
}

/// The simulator for `deployment`, knowing 30 extra users to DM, limits on or off.
async fn simulator(deployment: &Deployment, rate_limits: bool) -> Simulator {
    let config = deployment.config();
    let mut sim_config = herald::sandbox::sim_config(&config, &deployment.tokens);
    for i in 0..DM_USERS {
        sim_config.users.push(SimUser {
            user_id: FIRST_DM_USER + i,
            first_name: format!("Customer {i}"),
            last_name: None,
            username: None,
        });
    }
    sim_config.rate_limits = rate_limits;
    Simulator::start(sim_config).await.expect("simulator")
}

/// `group` posts spread over the roster's threads and `dms` over the 30 chats, interleaved,
/// for each bot.
fn plan(deployment: &Deployment, bots: &[&'static str], group: usize, dms: usize) -> Vec<Post> {
    let roster = deployment.config().roster;
    let chat = roster.chat_id();
    let threads: Vec<Option<i32>> = roster
        .threads()
        .iter()
        .map(|t| t.message_thread_id)
        .collect();
    let mut posts = Vec::new();
    for &bot in bots {
        let (mut g, mut d) = (0, 0);
        while g < group || d < dms {
            // DMs and group posts interleaved in the planned ratio.
            if g < group && (d >= dms || d * group >= g * dms) {
                posts.push(Post {
                    bot,
                    chat_id: chat,
                    thread_id: threads[g % threads.len()],
                    text: format!("burst {bot} group {g}"),
                });
                g += 1;
            } else {
                posts.push(Post {
                    bot,
                    chat_id: FIRST_DM_USER + (d as i64 % DM_USERS),
                    thread_id: None,
                    text: format!("burst {bot} dm {d}"),
                });
                d += 1;
            }
        }
    }
    posts
}

/// Writes every post as a pending scheduled row in one transaction, as a job run would.
async fn enqueue(fleet: &RunningFleet, posts: &[Post]) {
    let mut tx = fleet.store().begin_write().await.expect("tx");
    for post in posts {
        sqlx::query(
            "INSERT INTO outbox (bot, kind, lane, chat_id, thread_id, text, created_at, updated_at)
             VALUES (?, 'send', 1, ?, ?, ?, '2026-11-21T00:00:00Z', '2026-11-21T00:00:00Z')",
        )
        .bind(post.bot)
        .bind(post.chat_id)
        .bind(post.thread_id)
        .bind(&post.text)
        .execute(&mut *tx)
        .await
        .expect("insert");
    }
    tx.commit().await.expect("commit");
}

/// The least time Telegram's limits allow for one bot's posts: per chat one message a
/// second, per group 20 a minute, per bot 30 a second. Bots are independent, so the burst's
/// minimum is the largest of the bots'.
fn minimum_seconds(posts: &[Post]) -> f64 {
    let mut per_chat: BTreeMap<i64, usize> = BTreeMap::new();
    for post in posts {
        *per_chat.entry(post.chat_id).or_default() += 1;
    }
    let mut least: f64 = 0.0;
    for (&chat, &n) in &per_chat {
        let n = n as f64;
        let mut chat_least = n - 1.0;
        if chat < 0 && n > 20.0 {
            chat_least = chat_least.max(((n - 1.0) / 20.0).floor() * 60.0);
        }
        least = least.max(chat_least);
    }
    let total = posts.len() as f64;
    least.max((total / 30.0).ceil() - 1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_300_posts_keeps_telegrams_limits_and_order_within_10_percent_of_the_minimum() {
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

    let started = Instant::now();
    enqueue(&fleet, &posts).await;
    let sent = sim
        .wait_for(
            |s| s.iter().filter(|r| r.text.starts_with("burst ")).count() >= posts.len(),
            Duration::from_secs(90),
        )
        .await
        .unwrap_or_else(|s| panic!("only {} of 300 arrived", s.len()));
    let burst: Vec<_> = sent
        .iter()
        .filter(|r| r.text.starts_with("burst "))
        .collect();
    let last = burst.iter().map(|r| r.at).max().expect("some");
    let elapsed = last.duration_since(started).as_secs_f64();

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
    let too_many = sim.too_many_requests();
    let minimum = minimum_seconds_of_bots(&posts);
    eprintln!(
        "burst: 300 posts (3 bots x (20 group + 80 DM)) in {elapsed:.2} s; minimum allowed by the limits {minimum:.2} s ({:+.1}%); 429s: {too_many}",
        (elapsed / minimum - 1.0) * 100.0
    );
    assert_eq!(too_many, 0, "no 429");
    assert!(
        elapsed <= minimum * 1.10,
        "took {elapsed:.2} s, more than 10% over the minimum {minimum:.2} s"
    );
    fleet.stop().await.expect("clean stop");
}

fn minimum_seconds_of_bots(posts: &[Post]) -> f64 {
    BOTS.iter()
        .map(|bot| {
            let own: Vec<Post> = posts.iter().filter(|p| p.bot == *bot).cloned().collect();
            minimum_seconds(&own)
        })
        .fold(0.0, f64::max)
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
async fn pause_all_stops_a_backlog_of_200_within_a_second_and_resume_delivers_the_rest_once() {
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
        Duration::from_secs(10),
    )
    .await
    .expect("the backlog is going out");

    let words = vec!["all".to_owned()];
    let requested = Instant::now();
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
    let paused_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let sent = sim.sent();
    let by_clawrence: Vec<_> = sent.iter().filter(|r| r.bot == clawrence).collect();
    let after: Vec<_> = by_clawrence.iter().filter(|r| r.at > paused_at).collect();
    let last = by_clawrence.iter().map(|r| r.at).max().expect("some");
    // Measured from the moment the pause was asked for (before its transaction began).
    let tail = last.saturating_duration_since(requested);
    eprintln!(
        "pause: {} of 200 sent before the pause committed, {} after it (in flight), last non-console message {:.1} ms after the pause was asked for (pause took {:.1} ms to commit)",
        by_clawrence.len() - after.len(),
        after.len(),
        tail.as_secs_f64() * 1000.0,
        paused_at.duration_since(requested).as_secs_f64() * 1000.0
    );
    assert!(
        after.len() <= 1,
        "at most the send in flight: {}",
        after.len()
    );
    assert!(tail < Duration::from_secs(1), "{tail:?}");
    assert!(
        by_clawrence.len() < 200,
        "the pause held part of the backlog"
    );
    sim.wait_for(
        |s| {
            s.iter().any(|r| {
                r.bot == lawrence && r.chat_id == operator && r.text.contains("Paused <b>all</b>")
            })
        },
        Duration::from_secs(5),
    )
    .await
    .expect("the operator is told, even while paused");

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
    let sent = sim
        .wait_for(
            |s| s.iter().filter(|r| r.bot == clawrence).count() >= 200,
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|s| {
            panic!(
                "after resume only {} of 200 arrived",
                s.iter().filter(|r| r.bot == clawrence).count()
            )
        });
    let mut texts: Vec<&str> = sent
        .iter()
        .filter(|r| r.bot == clawrence)
        .map(|r| r.text.as_str())
        .collect();
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
    // Clawrence has 30 group posts queued: at one a second that is half a minute of backlog.
    let backlog = plan(&deployment, &["clawrence"], 30, 0);
    enqueue(&fleet, &backlog).await;
    let clawrence = deployment.config().bots["clawrence"].username.clone();
    sim.wait_for(
        |s| s.iter().any(|r| r.bot == clawrence),
        Duration::from_secs(5),
    )
    .await
    .expect("the backlog started");
    // Happy posts one message to the same group meanwhile.
    let asked = Instant::now();
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
            Duration::from_secs(5),
        )
        .await
        .expect("delivered");
    let took = sent
        .iter()
        .find(|r| r.text == "happy is not waiting")
        .map(|r| r.at.saturating_duration_since(asked))
        .unwrap_or_default();
    let clawrence_sent = sent.iter().filter(|r| r.bot == clawrence).count();
    eprintln!(
        "independence: Happy delivered in {:.0} ms while Clawrence had sent {clawrence_sent} of 30",
        took.as_secs_f64() * 1000.0
    );
    assert!(clawrence_sent < 30, "the backlog was still going");
    assert!(took < Duration::from_secs(1), "{took:?}");
    fleet.stop().await.expect("clean stop");
}
