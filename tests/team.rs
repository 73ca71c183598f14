//! Clawrence's team rituals end to end, in process, against the simulator with the clock under
//! test control: who the 11:00 laser-chase mentions (filed, on leave, holiday, not expected,
//! weekend), every `/volts` refusal and both ways to grant, the noon leaderboard's ties and
//! week boundary, the per-user command rate limit, commands in the wrong thread, and the
//! privacy-mode warning at start.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::Deployment;
use herald::clock::Clock;
use herald::fleet::RunningFleet;
use herald::sandbox::STRANGER_ID;
use herald_sim::{SentRecord, Simulator};

const WAIT: Duration = Duration::from_secs(10);
const DAILY_UPDATES: i32 = 12;
const VOLTS: i32 = 14;
const PULSE: i32 = 39;

// Members of the example roster.
const PRIYA: i64 = 6023847561; // files_updates
const SITI: i64 = 7345601928;
const MARCUS: i64 = 2210938475;
const HUI_MIN: i64 = 6650192834; // no @handle
const ARJUN: i64 = 5987123460;
const GRACE: i64 = 1209384756;

fn t(text: &str) -> DateTime<Utc> {
    text.parse().expect("RFC 3339 instant")
}

struct Team {
    deployment: Deployment,
    sim: Simulator,
    clock: Clock,
    fleet: RunningFleet,
    clawrence: String,
    lawrence: String,
}

impl Team {
    /// The example deployment edited by `edit`, the simulator and herald on one manual clock
    /// stopped at `start`.
    async fn start(start: &str, edit: impl FnOnce(&Deployment)) -> Team {
        Self::start_with(start, edit, |_| {}).await
    }

    async fn start_with(
        start: &str,
        edit: impl FnOnce(&Deployment),
        edit_sim: impl FnOnce(&mut herald_sim::SimConfig),
    ) -> Team {
        let deployment = Deployment::example();
        edit(&deployment);
        let clock = Clock::manual(t(start));
        let sim_clock = clock.clone();
        let sim = deployment
            .simulator_with(|config| {
                config.clock = Some(herald_sim::SimClock::from_fn(move || sim_clock.now()));
                edit_sim(config);
            })
            .await;
        let mut options = deployment.run_options(&sim);
        options.clock = clock.clone();
        let fleet = herald::fleet::start(&options).await.expect("fleet starts");
        let config = deployment.config();
        Team {
            clawrence: config.bots["clawrence"].username.clone(),
            lawrence: config.bots["lawrence"].username.clone(),
            deployment,
            sim,
            clock,
            fleet,
        }
    }

    /// Moves the clock to `at` and waits until herald has acted on it: the scheduler has
    /// looked at the schedule at `at` (or later) and everything that look did has been sent.
    async fn set_clock(&self, at: &str) {
        self.clock.set(t(at));
        self.settled().await;
    }

    /// Waits until herald has finished reacting to everything so far ([`common::settled`]).
    async fn settled(&self) {
        common::settled(&self.sim, &self.fleet).await;
    }

    async fn table(&self, sql: &str) -> Vec<String> {
        sqlx::query_scalar(sql)
            .fetch_all(self.fleet.store().reader())
            .await
            .expect("query")
    }

    /// Clawrence's inbound decisions so far, oldest first.
    async fn decisions(&self) -> Vec<String> {
        self.table(
            "SELECT decision FROM audit WHERE kind = 'inbound' AND bot = 'clawrence' ORDER BY seq",
        )
        .await
    }

    /// Waits until Clawrence has decided on `n` updates in all.
    async fn wait_for_decisions(&self, n: usize) -> Vec<String> {
        common::try_wait_until(WAIT, || async { self.decisions().await.len() >= n }).await;
        self.decisions().await
    }

    /// A member says `text` in `thread` and Clawrence decides on it; returns the decision.
    async fn says(&self, user: i64, thread: Option<i32>, text: &str) -> String {
        let before = self.decisions().await.len();
        self.sim.user_says_in_topic(user, thread, text);
        self.decided_after(before).await
    }

    async fn decided_after(&self, before: usize) -> String {
        let decisions = self.wait_for_decisions(before + 1).await;
        decisions
            .get(before)
            .cloned()
            .unwrap_or_else(|| panic!("no decision after {before}: {decisions:#?}"))
    }

    /// Clawrence's messages in `thread`.
    fn posts_in(&self, thread: i32) -> Vec<SentRecord> {
        self.sim
            .sent_by(&self.clawrence)
            .into_iter()
            .filter(|r| r.method == "sendMessage" && r.thread_id == Some(thread))
            .collect()
    }

    async fn wait_for_posts(&self, thread: i32, count: usize) -> Vec<SentRecord> {
        let clawrence = self.clawrence.clone();
        let found = self
            .sim
            .wait_for(
                |sent| {
                    sent.iter()
                        .filter(|r| {
                            r.bot == clawrence
                                && r.method == "sendMessage"
                                && r.thread_id == Some(thread)
                        })
                        .count()
                        >= count
                },
                WAIT,
            )
            .await;
        if let Err(sent) = found {
            panic!("fewer than {count} posts in thread {thread}: {sent:#?}");
        }
        self.posts_in(thread)
    }

    /// The reply Clawrence sent to message `message_id`.
    async fn reply_to(&self, message_id: i64) -> String {
        let clawrence = self.clawrence.clone();
        let found = self
            .sim
            .wait_for(
                |sent| {
                    sent.iter()
                        .any(|r| r.bot == clawrence && r.reply_to_message_id == Some(message_id))
                },
                WAIT,
            )
            .await
            .unwrap_or_else(|sent| panic!("no reply to {message_id}: {sent:#?}"));
        found
            .into_iter()
            .find(|r| r.bot == clawrence && r.reply_to_message_id == Some(message_id))
            .map(|r| r.text)
            .unwrap_or_default()
    }

    async fn volts_rows(&self) -> Vec<String> {
        self.table(
            "SELECT giver || ' > ' || receiver || ' ' || amount || ' ' || local_date || ': ' || reason
             FROM volts ORDER BY id",
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_laser_chase_mentions_exactly_who_has_not_filed() {
    // Friday 20 November 2026, 10:58 in Singapore. Arjun is on leave today.
    let team = Team::start("2026-11-20T02:58:00Z", |d| {
        d.append(
            "roster.toml",
            "\n[[leave]]\nmember = \"Arjun Nair\"\nfrom = 2026-11-19\nto = 2026-11-20\n",
        );
    })
    .await;
    // Priya posts today. Siti posted yesterday and edits it today: the edit files today's.
    team.set_clock("2026-11-19T03:00:00Z").await;
    let yesterday = team
        .sim
        .user_says_in_topic(SITI, Some(DAILY_UPDATES), "Wed: audits");
    team.set_clock("2026-11-20T02:58:00Z").await;
    assert!(team
        .says(PRIYA, Some(DAILY_UPDATES), "Shipped the Q3 pack; next: AR")
        .await
        .starts_with("recorded: daily update of Priya Raman for 2026-11-20"));
    let before = team.decisions().await.len();
    team.sim
        .user_edits(SITI, yesterday, "Thu: audits, then the brief");
    assert!(team
        .decided_after(before)
        .await
        .starts_with("recorded: daily update of Siti Rahman for 2026-11-20"));
    // A stranger's message files nothing, and is counted.
    assert_eq!(
        team.says(STRANGER_ID, Some(DAILY_UPDATES), "hi all").await,
        "ignored: sender is not a roster member"
    );
    // Grace posts in another thread: that is no update.
    team.says(GRACE, Some(VOLTS), "morning!").await;

    team.set_clock("2026-11-20T03:00:01Z").await;
    let posts = team.wait_for_posts(DAILY_UPDATES, 1).await;
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let chase = &posts[0].text;
    assert!(chase.contains("Laser-chase"), "{chase}");
    for chased in ["@marcuslim_sg", "@gracechua", "tg://user?id=6650192834"] {
        assert!(chase.contains(chased), "{chased} missing from {chase}");
    }
    for spared in [
        "priya_raman",
        "siti_rahman",
        "arjun_nair",
        "weiming_tan",
        "danielkoh",
    ] {
        assert!(
            !chase.contains(&format!("@{spared}")),
            "{spared} chased: {chase}"
        );
    }
    assert!(chase.contains("2 of 5 updates are in"), "{chase}");
    assert!(chase.contains("On leave today: Arjun Nair."), "{chase}");
    // Ten minutes later there is still one post: the slot ran once.
    team.set_clock("2026-11-20T03:10:00Z").await;
    assert_eq!(team.posts_in(DAILY_UPDATES).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_sweep_is_one_line_and_update_command_files_too() {
    let team = Team::start("2026-11-20T02:58:00Z", |_| {}).await;
    for member in [PRIYA, SITI, MARCUS, HUI_MIN, ARJUN] {
        team.says(member, Some(DAILY_UPDATES), "done and dusted")
            .await;
    }
    // `/update` with nothing after it files nothing and says what is missing.
    let empty = team
        .sim
        .user_says_in_topic(GRACE, Some(DAILY_UPDATES), "/update");
    assert!(team
        .reply_to(empty)
        .await
        .contains("Add your update after the command"));
    assert_eq!(
        team.decisions().await.last().map(String::as_str),
        Some("refused: empty update")
    );
    let id = team
        .sim
        .user_says_in_topic(GRACE, Some(DAILY_UPDATES), "/update closed the books");
    assert!(team
        .reply_to(id)
        .await
        .contains("your update for Friday 20 November is in"));
    team.set_clock("2026-11-20T03:00:01Z").await;
    // Two replies to Grace, then the chase.
    let posts = team.wait_for_posts(DAILY_UPDATES, 3).await;
    let chase = &posts.last().expect("a post").text;
    assert!(chase.contains("Clean sweep"), "{chase}");
    assert!(chase.contains("all 6 updates are in"), "{chase}");
    assert!(!chase.contains('@'), "{chase}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_laser_chase_or_leaderboard_on_holidays_or_weekends() {
    // Friday 25 December 2026 (Christmas Day, a roster holiday), 10:59.
    let team = Team::start("2026-12-25T02:59:00Z", |_| {}).await;
    team.set_clock("2026-12-25T03:00:01Z").await;
    team.set_clock("2026-12-25T04:00:01Z").await;
    // Both slots ran and posted nothing.
    let slots = team
        .table(
            "SELECT job || ' ' || state || ' ' || messages FROM job_slots
             WHERE job IN ('laser-chase', 'volts-leaderboard') ORDER BY job",
        )
        .await;
    assert_eq!(
        slots,
        vec!["laser-chase done 0", "volts-leaderboard done 0"],
        "{slots:?}"
    );
    // Saturday 26 and Sunday 27: no slot of Clawrence's at all (Happy's probe and brief run
    // every day).
    team.set_clock("2026-12-26T02:59:00Z").await;
    team.set_clock("2026-12-26T04:00:01Z").await;
    team.set_clock("2026-12-27T02:59:00Z").await;
    team.set_clock("2026-12-27T04:00:01Z").await;
    let weekend = team
        .table(
            "SELECT slot FROM job_slots WHERE slot >= '2026-12-25T16:00:00Z' AND bot = 'clawrence'",
        )
        .await;
    assert!(weekend.is_empty(), "{weekend:?}");
    assert!(team.posts_in(DAILY_UPDATES).is_empty());
    assert!(team.posts_in(VOLTS).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_volts_refusal_is_a_specific_reply_and_changes_nothing() {
    // Wednesday 18 November 2026, 14:00: no job is due.
    let team = Team::start("2026-11-18T06:00:00Z", |d| {
        d.edit(
            "herald.toml",
            "commands_per_minute = 10",
            "commands_per_minute = 100",
        );
    })
    .await;
    let bot_post = team
        .sim
        .user_says_in_topic(STRANGER_ID, Some(VOLTS), "I'm not on the team");
    let cases: Vec<(i64, Option<i64>, &str, &str, &str)> = vec![
        (
            PRIYA,
            None,
            "/volts",
            "Use /volts @handle N reason",
            "usage",
        ),
        (
            PRIYA,
            None,
            "/volts @gracechua lots great work",
            "is not a number of volts",
            "not a number",
        ),
        (
            PRIYA,
            None,
            "/volts @gracechua 0 nothing",
            "A grant is 1 to 5 volts.",
            "amount out of range",
        ),
        (
            PRIYA,
            None,
            "/volts @gracechua 6 too much",
            "A grant is 1 to 5 volts.",
            "amount out of range",
        ),
        (PRIYA, None, "/volts @gracechua 2", "Say why", "no reason"),
        (
            PRIYA,
            None,
            "/volts @nobody_here 2 thanks",
            "@nobody_here is not on the team roster.",
            "unknown handle",
        ),
        (
            PRIYA,
            Some(bot_post),
            "/volts 2 thanks",
            "team members only",
            "receiver not a member",
        ),
        (
            PRIYA,
            None,
            "/volts @priya_raman 2 me",
            "No self-volts",
            "self-volts",
        ),
        (
            PRIYA,
            None,
            "/volts 2 for this",
            "Use /volts @handle N reason",
            "usage",
        ),
    ];
    for (user, reply_to, text, reply, tag) in cases {
        let id = match reply_to {
            Some(to) => team.sim.user_replies(user, Some(VOLTS), to, text),
            None => team.sim.user_says_in_topic(user, Some(VOLTS), text),
        };
        let answer = team.reply_to(id).await;
        assert!(
            answer.contains(&reply.replace('\'', "&#x27;")) || answer.contains(reply),
            "{text}: {answer}"
        );
        let decisions = team.decisions().await;
        assert_eq!(
            decisions.last().map(String::as_str),
            Some(format!("refused: {tag}").as_str()),
            "{text}"
        );
    }
    assert!(
        team.volts_rows().await.is_empty(),
        "a refusal stored a grant"
    );

    // Two grants, by @handle and by reply, then the budget (10 a day) runs out.
    let grace_msg = team
        .sim
        .user_says_in_topic(GRACE, Some(VOLTS), "Closed the month a day early");
    let id = team.sim.user_says_in_topic(
        PRIYA,
        Some(VOLTS),
        "/volts @marcuslim_sg 5 fixed the <printer> & more",
    );
    let confirmation = team.reply_to(id).await;
    assert!(
        confirmation.contains(
            "@priya_raman gave @marcuslim_sg <b>5</b> volts: fixed the &lt;printer&gt; &amp; more"
        ),
        "{confirmation}"
    );
    assert!(
        confirmation.contains("https://t.me/c/2233445566/14/"),
        "{confirmation}"
    );
    assert!(
        confirmation.contains("5 left to give today"),
        "{confirmation}"
    );
    let id = team
        .sim
        .user_replies(PRIYA, Some(VOLTS), grace_msg, "/volts 4 early close");
    assert!(team
        .reply_to(id)
        .await
        .contains("gave @gracechua <b>4</b> volts"));
    let id = team
        .sim
        .user_says_in_topic(PRIYA, Some(VOLTS), "/volts @siti_rahman 2 thanks");
    assert!(team.reply_to(id).await.contains("you have 1 left today"));
    assert_eq!(
        team.decisions().await.last().map(String::as_str),
        Some("refused: over daily budget")
    );
    let id = team
        .sim
        .user_says_in_topic(PRIYA, Some(VOLTS), "/volts @siti_rahman 1 thanks");
    assert!(team.reply_to(id).await.contains("0 left to give today"));
    let id = team
        .sim
        .user_says_in_topic(PRIYA, Some(VOLTS), "/volts @siti_rahman 1 again");
    assert!(team
        .reply_to(id)
        .await
        .contains("You've given all 10 of today's volts"));
    assert_eq!(
        team.volts_rows().await,
        vec![
            "Priya Raman > Marcus Lim 5 2026-11-18: fixed the <printer> & more",
            "Priya Raman > Grace Chua 4 2026-11-18: early close",
            "Priya Raman > Siti Rahman 1 2026-11-18: thanks",
        ]
    );
    // The budget is per local day: Thursday brings a fresh one.
    team.set_clock("2026-11-18T16:00:00Z").await;
    let id = team
        .sim
        .user_says_in_topic(PRIYA, Some(VOLTS), "/volts @siti_rahman 1 new day");
    assert!(team.reply_to(id).await.contains("9 left to give today"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leaderboard_counts_monday_to_sunday_in_team_time_with_shared_ranks() {
    // Sunday 22 November 2026, 23:59 in Singapore (15:59 UTC).
    let team = Team::start("2026-11-22T15:59:00Z", |_| {}).await;
    let id = team
        .sim
        .user_says_in_topic(PRIYA, Some(VOLTS), "/volts @siti_rahman 5 last week");
    team.reply_to(id).await;
    // Monday 23 November, 00:00 exactly: a new week.
    team.set_clock("2026-11-22T16:00:00Z").await;
    for (giver, text) in [
        (PRIYA, "/volts @marcuslim_sg 3 new week"),
        (GRACE, "/volts @siti_rahman 3 new week"),
        (SITI, "/volts @arjun_nair 2 new week"),
    ] {
        let id = team.sim.user_says_in_topic(giver, Some(VOLTS), text);
        team.reply_to(id).await;
    }
    team.set_clock("2026-11-23T03:59:30Z").await;
    let before = team.posts_in(VOLTS).len();
    team.set_clock("2026-11-23T04:00:01Z").await;
    let posts = team.wait_for_posts(VOLTS, before + 1).await;
    let board = &posts.last().expect("the leaderboard").text;
    assert!(
        board.contains("Volts leaderboard</b> · Mon 23 Nov to Sun 29 Nov"),
        "{board}"
    );
    assert!(
        board.contains("1. Marcus Lim: 3 ⚡\n1. Siti Rahman: 3 ⚡\n3. Arjun Nair: 2 ⚡\n"),
        "{board}"
    );
    assert!(board.contains("Given today: 8 ⚡"), "{board}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_over_the_per_user_limit_get_one_reply_then_silence() {
    let team = Team::start("2026-11-18T06:00:00Z", |d| {
        d.edit(
            "herald.toml",
            "commands_per_minute = 10",
            "commands_per_minute = 3",
        );
    })
    .await;
    let mut decisions = Vec::new();
    for _ in 0..5 {
        decisions.push(team.says(SITI, None, "/help").await);
    }
    assert_eq!(
        decisions,
        vec![
            "answered",
            "answered",
            "answered",
            "refused: rate limited (told once)",
            "ignored: rate limited"
        ]
    );
    let clawrence = team.clawrence.clone();
    let in_general = |sent: &[SentRecord]| -> Vec<SentRecord> {
        sent.iter()
            .filter(|r| r.bot == clawrence && r.thread_id.is_none())
            .cloned()
            .collect()
    };
    team.sim
        .wait_for(|sent| in_general(sent).len() >= 4, WAIT)
        .await
        .unwrap_or_else(|sent| panic!("fewer than 4 answers in General: {sent:#?}"));
    team.settled().await;
    let general = in_general(&team.sim.sent());
    assert_eq!(general.len(), 4, "{general:#?}");
    assert!(general[3].text.contains("more than 3 commands a minute"));
    // Another member is not limited by Siti's count; Siti is heard again after the minute.
    assert_eq!(team.says(GRACE, None, "/help").await, "answered");
    team.set_clock("2026-11-18T06:01:01Z").await;
    assert_eq!(team.says(SITI, None, "/help").await, "answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_in_the_wrong_thread_gets_one_reply_saying_where() {
    let team = Team::start("2026-11-18T06:00:00Z", |_| {}).await;
    let id = team
        .sim
        .user_says_in_topic(SITI, Some(VOLTS), "/update done");
    assert_eq!(team.reply_to(id).await, "/update works in #daily-updates.");
    let id = team
        .sim
        .user_says_in_topic(SITI, Some(PULSE), "/volts @gracechua 1 thanks");
    assert_eq!(
        team.reply_to(id).await,
        "/volts works in #volts, #daily-updates or #general."
    );
    let id = team.sim.user_says_in_topic(
        SITI,
        Some(VOLTS),
        &format!("/volts@{} @gracechua 1 thanks", team.clawrence),
    );
    assert!(team.reply_to(id).await.contains("gave @gracechua"));
    assert_eq!(team.volts_rows().await.len(), 1);
    let updates = team.table("SELECT member FROM daily_updates").await;
    assert!(updates.is_empty(), "{updates:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_mode_on_for_clawrence_is_reported_at_start() {
    let team = Team::start_with(
        "2026-11-18T06:00:00Z",
        |_| {},
        |config| {
            for bot in &mut config.bots {
                bot.can_read_all_group_messages = false;
            }
        },
    )
    .await;
    let operator = team.deployment.operator();
    let lawrence = team.lawrence.clone();
    let found = team
        .sim
        .wait_for(
            |sent| {
                sent.iter().any(|r| {
                    r.bot == lawrence && r.chat_id == operator && r.text.contains("Privacy mode")
                })
            },
            WAIT,
        )
        .await;
    let sent = found.unwrap_or_else(|sent| panic!("no privacy-mode DM: {sent:#?}"));
    let dm = sent
        .iter()
        .find(|r| r.text.contains("Privacy mode"))
        .expect("the DM");
    assert!(dm.text.contains("/setprivacy"), "{}", dm.text);
    let warnings = team
        .table("SELECT bot FROM audit WHERE decision = 'warning: privacy mode on'")
        .await;
    assert_eq!(warnings, vec!["clawrence"]);
}
