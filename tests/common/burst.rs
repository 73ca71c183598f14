//! Bursts of outbox rows for the delivery tests (`tests/burst.rs`) and the delivery benchmarks
//! (`benches/`): who posts what where, how to queue it as a job run would, and the least time
//! Telegram's flood limits allow for it.

use std::collections::BTreeMap;

use herald::fleet::RunningFleet;
use herald::identity::{visit_all, BotIdentity, IdentityVisitor};
use herald::outbox::injected::OutboxWriter;
use herald::outbox::post::ErasedPoster;
use herald::outbox::{Lane, OutgoingMessage};
use herald_sim::{SimUser, Simulator};

use super::Deployment;

/// The three identities of the 300-post burst.
pub const BOTS: [&str; 3] = ["clawrence", "happy", "gymbooker"];
/// Extra people the simulator knows, for the DMs of a burst.
pub const DM_USERS: i64 = 30;
pub const FIRST_DM_USER: i64 = 9_100_000_001;

/// One queued post: which bot, where, and its text (unique).
#[derive(Debug, Clone)]
pub struct Post {
    pub bot: &'static str,
    pub chat_id: i64,
    pub thread_id: Option<i32>,
    pub text: String,
}

/// The simulator for `deployment`, knowing 30 extra users to DM, limits on or off.
pub async fn simulator(deployment: &Deployment, rate_limits: bool) -> Simulator {
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
pub fn plan(deployment: &Deployment, bots: &[&'static str], group: usize, dms: usize) -> Vec<Post> {
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

/// Every identity's poster from the running fleet, under its name (the plan names bots).
fn posters(fleet: &RunningFleet) -> BTreeMap<&'static str, Box<dyn ErasedPoster>> {
    struct Collect<'a>(
        &'a RunningFleet,
        BTreeMap<&'static str, Box<dyn ErasedPoster>>,
    );
    impl IdentityVisitor for Collect<'_> {
        fn visit<I: BotIdentity>(&mut self) {
            let poster = self.0.poster::<I>().expect("every identity was launched");
            self.1.insert(I::NAME, Box::new(poster));
        }
    }
    let mut collect = Collect(fleet, BTreeMap::new());
    visit_all(&mut collect);
    collect.1
}

/// Writes every post as a pending scheduled row of its bot in one transaction, as a job run
/// would, through the bot's own poster.
pub async fn enqueue(fleet: &RunningFleet, posts: &[Post]) {
    let posters = posters(fleet);
    let mut rows = OutboxWriter::begin(fleet.store()).await.expect("tx");
    for post in posts {
        let message = OutgoingMessage::new(post.chat_id, post.thread_id, post.text.as_str())
            .in_lane(Lane::Scheduled);
        rows.enqueue(&*posters[post.bot], message)
            .await
            .expect("enqueue");
    }
    rows.commit().await.expect("commit");
}

/// The least time Telegram's limits allow for one bot's posts: per chat one message a
/// second, per group 20 a minute, per bot 30 a second.
pub fn minimum_seconds(posts: &[Post]) -> f64 {
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

/// The least time for a burst of several bots: bots are independent, so the largest of the
/// bots' minimums.
pub fn minimum_seconds_of_bots(posts: &[Post]) -> f64 {
    let mut bots: Vec<&'static str> = posts.iter().map(|p| p.bot).collect();
    bots.sort_unstable();
    bots.dedup();
    bots.iter()
        .map(|bot| {
            let own: Vec<Post> = posts.iter().filter(|p| p.bot == *bot).cloned().collect();
            minimum_seconds(&own)
        })
        .fold(0.0, f64::max)
}
