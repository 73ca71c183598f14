//! The operator console end to end, in process against the simulator: every command, the
//! refusal of non-operators, the pointer from other bots, the kill switch from Telegram on a
//! backlog (no row claimed after the pause committed; its timing is measured by
//! `cargo bench --bench pause`), the audit sequence across a restart, and diagnose mode after
//! repeated failed boots of the real binary.

mod common;

use std::time::Duration;

use common::Deployment;
use herald::fleet::RunningFleet;
use herald_sim::{Fault, SentRecord, Simulator};

const WAIT: Duration = Duration::from_secs(10);

struct Console {
    deployment: Deployment,
    sim: Simulator,
    fleet: Option<RunningFleet>,
    operator: i64,
    member: i64,
    lawrence: String,
    claudia: String,
}

impl Console {
    async fn start() -> Console {
        let deployment = Deployment::example();
        let sim = deployment.simulator().await;
        let config = deployment.config();
        let operator = deployment.operator();
        let member = deployment.member();
        let mut console = Console {
            lawrence: config.bots["lawrence"].username.clone(),
            claudia: config.bots["claudia"].username.clone(),
            deployment,
            sim,
            fleet: None,
            operator,
            member,
        };
        console.boot().await;
        console
    }

    async fn boot(&mut self) {
        let options = self.deployment.run_options(&self.sim);
        self.fleet = Some(herald::fleet::start(&options).await.expect("fleet starts"));
    }

    async fn stop(&mut self) {
        if let Some(fleet) = self.fleet.take() {
            fleet.stop().await.expect("clean stop");
        }
    }

    fn store(&self) -> &herald::store::Store {
        self.fleet.as_ref().expect("running").store()
    }

    /// Waits until herald has finished reacting to everything so far ([`common::settled`]).
    async fn settled(&self) {
        common::settled(&self.sim, self.fleet.as_ref().expect("running")).await;
    }

    /// Lawrence's DMs to `user` so far.
    fn dms_to(&self, user: i64) -> Vec<SentRecord> {
        self.sim
            .sent()
            .into_iter()
            .filter(|r| r.bot == self.lawrence && r.chat_id == user && r.method == "sendMessage")
            .collect()
    }

    /// The operator sends `text` to the console; returns the first new DM containing `needle`.
    async fn ask(&self, text: &str, needle: &str) -> SentRecord {
        let before = self.dms_to(self.operator).len();
        self.sim.user_dms(self.operator, &self.lawrence, text);
        let op = self.operator;
        let lawrence = self.lawrence.clone();
        let sent = self
            .sim
            .wait_for(
                |s| {
                    s.iter()
                        .filter(|r| {
                            r.bot == lawrence && r.chat_id == op && r.method == "sendMessage"
                        })
                        .skip(before)
                        .any(|r| r.text.contains(needle))
                },
                WAIT,
            )
            .await
            .unwrap_or_else(|s| {
                panic!(
                    "no console reply containing {needle:?} to {text:?}: {:#?}",
                    s.iter()
                        .filter(|r| r.chat_id == op)
                        .map(|r| r.text.clone())
                        .collect::<Vec<_>>()
                )
            });
        sent.into_iter()
            .filter(|r| r.bot == self.lawrence && r.chat_id == op && r.method == "sendMessage")
            .skip(before)
            .find(|r| r.text.contains(needle))
            .expect("found")
    }

    async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.store().reader())
            .await
            .expect("query")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_jobs_next_help_and_pending_answer_the_operator() {
    let mut c = Console::start().await;
    let status = c.ask("/status", "herald status").await.text;
    for part in [
        "<b>Bots</b>",
        "claudia @",
        "pakgupei @",
        "<b>Jobs</b>",
        "team-pulse",
        "weekly-call-reminder",
        "Pauses: none",
        "<b>Last failures</b>",
        "✅ Ready: every bot polling, lease held, database writable, scheduler on time",
    ] {
        assert!(status.contains(part), "{part} missing from {status}");
    }
    let jobs = c.ask("/jobs", "<b>Jobs</b>").await.text;
    assert!(
        jobs.contains(
            "<b>team-pulse</b>: clawrence → #pulse, <code>0 9 * * MON-FRI</code> Asia/Singapore"
        ),
        "{jobs}"
    );
    let next = c.ask("/next 3", "<b>Next 3</b>").await.text;
    assert_eq!(next.lines().count(), 4, "{next}");
    let help = c.ask("/help", "<b>Console</b>").await.text;
    for command in [
        "/status",
        "/run JOB",
        "/preview JOB",
        "/ambiguous",
        "/failed",
        "/log",
        "/pending",
    ] {
        assert!(help.contains(command), "{command} missing from {help}");
    }
    c.ask("/pending", "No open approvals").await;
    c.ask("hello?", "Send /help for the console commands.")
        .await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_commands_get_a_clear_reply_and_change_nothing() {
    let mut c = Console::start().await;
    c.ask("/next abc", "Usage: /next [N]").await;
    c.ask(
        "/run",
        "Usage: /run JOB. Jobs: claims-summary, team-pulse, laser-chase, volts-leaderboard, capability-probe, morning-brief, weekly-call-reminder.",
    )
    .await;
    c.ask("/run nope", "No job nope.").await;
    c.ask("/pause bot nobody", "No identity nobody.").await;
    c.ask("/pause bots x", "Usage: /pause [all | bot NAME | job NAME]")
        .await;
    c.ask("/log colour blue", "Usage: /log").await;
    c.ask("/frobnicate", "I don't know /frobnicate.").await;
    assert_eq!(c.scalar("SELECT count(*) FROM pauses").await, 0);
    assert_eq!(c.scalar("SELECT count(*) FROM job_requests").await, 0);
    assert_eq!(c.scalar("SELECT count(*) FROM job_slots").await, 0);
    c.stop().await;
}

/// A console command (but `/help`, which every bot answers) sent to the console in the group
/// gets one reply there pointing to a private chat, and runs nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_command_in_the_group_points_to_a_private_chat_and_runs_nothing() {
    let mut c = Console::start().await;
    let general = c
        .deployment
        .config()
        .roster
        .thread("general")
        .unwrap()
        .message_thread_id;
    c.sim
        .user_says_in_topic(c.operator, general, &format!("/pause@{} all", c.lawrence));
    let pointer = format!("/pause works only in a private chat with @{}.", c.lawrence);
    let sent = c
        .sim
        .wait_for(|s| s.iter().any(|r| r.text == pointer), WAIT)
        .await
        .expect("the group is pointed to a private chat");
    let reply = sent.iter().find(|r| r.text == pointer).unwrap();
    assert_eq!(
        (reply.bot.as_str(), reply.thread_id),
        (c.lawrence.as_str(), general)
    );
    assert_eq!(
        c.scalar("SELECT count(*) FROM audit WHERE command = 'pause' AND decision = 'refused: console command in a group'")
            .await,
        1
    );
    assert_eq!(c.scalar("SELECT count(*) FROM pauses").await, 0);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_posts_through_the_outbox_and_preview_shows_only_the_operator() {
    let mut c = Console::start().await;
    c.ask("/preview team-pulse", "Preview of <b>team-pulse</b>")
        .await;
    let preview = c
        .ask("/preview team-pulse", "nothing was posted")
        .await
        .text;
    assert!(preview.contains("<b>Team pulse</b>"), "{preview}");
    let pulse = c
        .deployment
        .config()
        .roster
        .thread("pulse")
        .unwrap()
        .message_thread_id;
    assert!(
        c.sim.sent().iter().all(|r| r.thread_id != pulse),
        "a preview posts nothing"
    );

    c.ask("/run team-pulse", "Running <b>team-pulse</b> now")
        .await;
    c.ask("/status", "herald status").await;
    let done = c.ask("/jobs", "<b>Jobs</b>").await;
    assert!(!done.text.is_empty());
    c.sim
        .wait_for(|s| s.iter().any(|r| r.thread_id == pulse), WAIT)
        .await
        .expect("the manual run posts in #pulse");
    let ran = c
        .sim
        .wait_for(|s| s.iter().any(|r| r.text.contains("ran by hand")), WAIT)
        .await
        .expect("the operator hears it ran");
    assert!(ran.iter().any(|r| r
        .text
        .contains("✅ <b>team-pulse</b> ran by hand: 1 message(s) queued for #pulse.")));
    assert_eq!(
        c.scalar("SELECT count(*) FROM job_slots WHERE job = 'team-pulse' AND trigger = 'manual' AND state = 'done'").await,
        1
    );
    // A paused job is not run by hand either.
    c.ask("/pause job team-pulse", "Paused <b>job team-pulse</b>")
        .await;
    c.ask("/run team-pulse", "was not run: it is paused").await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_and_failed_list_rows_with_buttons_that_decide_them() {
    let mut c = Console::start().await;
    let ar = c
        .deployment
        .config()
        .roster
        .thread("ar-brief")
        .unwrap()
        .message_thread_id;
    // One rejected send and one ambiguous one, by Claudia.
    c.sim.inject_fault(
        &c.claudia,
        "sendMessage",
        Fault::api(403, "Forbidden: bot is not a member of the supergroup chat"),
    );
    c.sim
        .user_says_in_topic(c.operator, ar, &format!("/help@{}", c.claudia));
    c.sim
        .wait_for(
            |s| s.iter().any(|r| r.text.contains("Telegram refused")),
            WAIT,
        )
        .await
        .expect("failure alert");
    c.sim
        .inject_fault(&c.claudia, "sendMessage", Fault::ReplyLost);
    c.sim
        .user_says_in_topic(c.operator, ar, &format!("/help@{}", c.claudia));
    c.sim
        .wait_for(
            |s| s.iter().any(|r| r.text.contains("Unsure whether")),
            WAIT,
        )
        .await
        .expect("ambiguous alert");

    let ambiguous = c.ask("/ambiguous", "<b>Row").await;
    let markup = ambiguous.reply_markup.clone().expect("buttons").to_string();
    assert!(
        markup.contains("ob:resend:") && markup.contains("ob:sent:"),
        "{markup}"
    );
    let failed = c.ask("/failed", "<b>Row").await;
    assert!(
        failed
            .text
            .contains("bot is not a member of the supergroup chat"),
        "{}",
        failed.text
    );
    let markup = failed.reply_markup.clone().expect("buttons");
    let retry = markup["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .unwrap()
        .to_owned();
    let dismiss = markup["inline_keyboard"][0][1]["callback_data"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(retry.starts_with("ob:retry:") && dismiss.starts_with("ob:dismiss:"));

    // Retry: the refused message goes out again (Telegram accepts it now).
    let before = c.sim.sent_by(&c.claudia).len();
    c.sim.user_taps(
        c.operator,
        &c.lawrence,
        c.operator,
        failed.message_id,
        &retry,
    );
    c.sim
        .wait_for(
            |s| s.iter().filter(|r| r.bot == c.claudia).count() > before,
            WAIT,
        )
        .await
        .expect("retried");
    // A later Dismiss on the same row is told it was already decided.
    let query = c.sim.user_taps(
        c.operator,
        &c.lawrence,
        c.operator,
        failed.message_id,
        &dismiss,
    );
    let answer = c
        .sim
        .wait_for_callback_answer(&query, WAIT)
        .await
        .unwrap_or_default();
    assert!(answer.starts_with("Already decided"), "{answer}");
    c.ask("/failed", "No failed sends.").await;

    // Dismiss: another refused send is given up on, for good.
    c.sim.inject_fault(
        &c.claudia,
        "sendMessage",
        Fault::api(400, "Bad Request: message thread not found"),
    );
    c.sim
        .user_says_in_topic(c.operator, ar, &format!("/help@{}", c.claudia));
    c.sim
        .wait_for(
            |s| {
                s.iter()
                    .any(|r| r.text.contains("message thread not found"))
            },
            WAIT,
        )
        .await
        .expect("second failure alert");
    let failed = c.ask("/failed", "message thread not found").await;
    let dismiss = failed.reply_markup.clone().expect("buttons")["inline_keyboard"][0][1]
        ["callback_data"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent_before = c.sim.sent_by(&c.claudia).len();
    let query = c.sim.user_taps(
        c.operator,
        &c.lawrence,
        c.operator,
        failed.message_id,
        &dismiss,
    );
    let answer = c
        .sim
        .wait_for_callback_answer(&query, WAIT)
        .await
        .unwrap_or_default();
    assert_eq!(answer, "Dismissed; it will not be sent.");
    assert_eq!(
        c.scalar("SELECT count(*) FROM outbox WHERE state = 'cancelled'")
            .await,
        1
    );
    assert_eq!(c.sim.sent_by(&c.claudia).len(), sent_before, "nothing sent");
    c.ask("/failed", "No failed sends.").await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_filters_by_bot_and_user() {
    let mut c = Console::start().await;
    c.sim.user_dms(c.member, &c.claudia, "/help");
    c.sim
        .wait_for(|s| s.iter().any(|r| r.chat_id == c.member), WAIT)
        .await
        .expect("claudia answered");
    let log = c.ask("/log bot claudia", "<b>Audit log</b>").await.text;
    assert!(log.contains("claudia"), "{log}");
    assert!(log.lines().skip(1).all(|l| l.contains(" claudia")), "{log}");
    let by_user = c
        .ask(&format!("/log user {}", c.member), "<b>Audit log</b>")
        .await
        .text;
    assert!(by_user.contains(&format!("user={}", c.member)), "{by_user}");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_operator_is_refused_audited_and_told_nothing() {
    let mut c = Console::start().await;
    c.sim.user_dms(c.member, &c.lawrence, "/status");
    let sent = c
        .sim
        .wait_for(|s| s.iter().any(|r| r.chat_id == c.member), WAIT)
        .await
        .expect("a refusal");
    let replies: Vec<_> = sent.iter().filter(|r| r.chat_id == c.member).collect();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].text, herald::inbound::common::STRANGER_REPLY);
    c.settled().await;
    assert_eq!(
        c.sim
            .sent()
            .iter()
            .filter(|r| r.chat_id == c.member)
            .count(),
        1
    );
    assert_eq!(
        c.scalar(&format!(
            "SELECT count(*) FROM audit WHERE user_id = {} AND decision = 'refused: console DM from a non-operator'",
            c.member
        ))
        .await,
        1
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_bots_point_an_operator_to_the_console() {
    let mut c = Console::start().await;
    c.sim.user_dms(c.operator, &c.claudia, "/status");
    let sent = c
        .sim
        .wait_for(|s| s.iter().any(|r| r.bot == c.claudia), WAIT)
        .await
        .expect("a pointer");
    let reply = sent.iter().find(|r| r.bot == c.claudia).unwrap();
    assert_eq!(
        reply.text,
        format!(
            "I'm Claudia. Operator commands go to @{} (/help there).",
            c.lawrence
        )
    );
    c.stop().await;
}

/// Needs `fault-injection`: the backlog is written through Clawrence's poster.
#[cfg(feature = "fault-injection")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_all_from_telegram_stops_a_backlog_at_the_next_claim() {
    use herald::outbox::injected::OutboxWriter;
    use herald::outbox::{Lane, OutgoingMessage};

    let mut c = Console::start().await;
    let config = c.deployment.config();
    let clawrence = config.bots["clawrence"].username.clone();
    // 200 posts queued for Clawrence: DMs to members and posts in its threads.
    let members: Vec<i64> = config
        .roster
        .members()
        .iter()
        .map(|m| m.telegram_id)
        .collect();
    let threads: Vec<Option<i32>> = ["general", "daily-updates", "volts", "pulse"]
        .iter()
        .map(|t| config.roster.thread(t).unwrap().message_thread_id)
        .collect();
    let poster = c
        .fleet
        .as_ref()
        .and_then(|fleet| fleet.poster::<herald::identity::Clawrence>())
        .expect("Clawrence runs");
    let mut rows = OutboxWriter::begin(c.store()).await.expect("tx");
    for i in 0..200 {
        let (chat, thread) = if i % 10 == 0 {
            (config.roster.chat_id(), threads[(i / 10) % threads.len()])
        } else {
            (members[i % members.len()], None)
        };
        let message =
            OutgoingMessage::new(chat, thread, format!("backlog {i}")).in_lane(Lane::Bulk);
        rows.enqueue(&poster, message).await.expect("enqueue");
    }
    rows.commit().await.expect("commit");
    c.sim
        .wait_for(
            |s| s.iter().filter(|r| r.bot == clawrence).count() >= 5,
            WAIT,
        )
        .await
        .expect("the backlog is going out");

    let answer = c.ask("/pause all", "Paused <b>all</b>").await;
    let pause_committed: i64 = c
        .scalar("SELECT count(*) FROM pauses WHERE scope = 'all'")
        .await;
    assert_eq!(pause_committed, 1);
    // Every sender has looked at the outbox since the pause and found nothing it may send.
    c.settled().await;
    let sent = c.sim.sent();
    let clawrence_sent: Vec<_> = sent.iter().filter(|r| r.bot == clawrence).collect();
    assert!(
        clawrence_sent.len() < 200,
        "the pause held part of the backlog"
    );
    // The claim of a row and the pause check are one statement: no row is claimed after the
    // pause committed (audit entries are numbered in commit order).
    let claimed_after: i64 = c
        .scalar(
            "SELECT count(*) FROM audit WHERE kind = 'outbox' AND bot = 'clawrence'
             AND decision = 'pending -> sending'
             AND seq > (SELECT max(seq) FROM audit WHERE kind = 'pause')",
        )
        .await;
    assert_eq!(claimed_after, 0, "rows claimed after the pause committed");
    // So at most the one send already in flight reached Telegram after the console's answer
    // (which was queued in the pause's transaction).
    let answered_at = sent
        .iter()
        .position(|r| r.bot == c.lawrence && r.message_id == answer.message_id)
        .expect("the answer was sent");
    let after_answer = sent[answered_at..]
        .iter()
        .filter(|r| r.bot == clawrence)
        .count();
    assert!(after_answer <= 1, "{after_answer} sends after the pause");
    // After the pause, only the console speaks.
    let later = c.sim.sent().len();
    c.ask("/status", "⏸ Paused: all").await;
    assert!(c.sim.sent()[later..].iter().all(|r| r.bot == c.lawrence));
    c.ask("/resume all", "Resumed <b>all</b>").await;
    c.sim
        .wait_for(
            |s| s.iter().filter(|r| r.bot == clawrence).count() > clawrence_sent.len(),
            WAIT,
        )
        .await
        .expect("sending resumes");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_sequence_has_no_gaps_across_a_restart() {
    let mut c = Console::start().await;
    c.ask("/status", "herald status").await;
    c.stop().await;
    c.boot().await;
    c.ask("/jobs", "<b>Jobs</b>").await;
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM audit ORDER BY seq")
        .fetch_all(c.store().reader())
        .await
        .expect("audit");
    assert!(seqs.len() >= 8, "{seqs:?}");
    assert_eq!(seqs[0], 1);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "gap in {seqs:?}");
    let boots: i64 = c
        .scalar("SELECT count(*) FROM audit WHERE kind = 'boot'")
        .await;
    assert_eq!(boots, 3, "started, stopped, started");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_failed_boots_put_herald_in_diagnose_mode_until_force() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let config = deployment.config();
    let clawrence = config.bots["clawrence"].username.clone();
    let lawrence = config.bots["lawrence"].username.clone();
    let operator = deployment.operator();
    // Misconfigured: another instance polls Clawrence's token, so Telegram answers 409.
    for _ in 0..3 {
        sim.inject_fault(
            &clawrence,
            "getUpdates",
            Fault::api(409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"),
        );
        let herald = deployment.spawn_herald(&sim, &["run", "--poll-seconds", "1"]);
        let finished = herald.wait().await;
        assert_eq!(finished.code, Some(1), "{}", finished.output);
    }

    let clawrence_polls = sim.polls(&clawrence);
    let mut herald = deployment.spawn_herald(&sim, &["run", "--poll-seconds", "1"]);
    let sent = sim
        .wait_for(
            |s| {
                s.iter()
                    .any(|r| r.bot == lawrence && r.text.contains("diagnose mode"))
            },
            WAIT,
        )
        .await
        .expect("the operator is told why");
    let dm = sent
        .iter()
        .find(|r| r.text.contains("diagnose mode"))
        .unwrap()
        .text
        .clone();
    assert!(dm.contains("the last 3 boots"), "{dm}");
    assert!(dm.contains("409"), "the last errors are named: {dm}");
    assert_eq!(
        sent.iter()
            .filter(|r| r.text.contains("started in diagnose mode"))
            .count(),
        1,
        "one DM"
    );
    // The console answers /status and /log, refuses the rest; other bots stay silent.
    sim.user_dms(operator, &lawrence, "/status");
    sim.wait_for(|s| s.iter().any(|r| r.text.contains("DIAGNOSE MODE")), WAIT)
        .await
        .expect("/status works");
    sim.user_dms(operator, &lawrence, "/run team-pulse");
    sim.wait_for(
        |s| {
            s.iter()
                .any(|r| r.text.contains("only /status, /log and /help work"))
        },
        WAIT,
    )
    .await
    .expect("/run is refused");
    let member = deployment.member();
    sim.user_dms(member, &clawrence, "/help");
    // A DM to the console, sent after the member's, is answered: the diagnose-mode herald is
    // up and listening. Once it has exited, what it did is final.
    sim.user_dms(operator, &lawrence, "/status");
    sim.wait_for(
        |s| {
            s.iter()
                .filter(|r| r.text.contains("DIAGNOSE MODE"))
                .count()
                >= 2
        },
        WAIT,
    )
    .await
    .expect("/status works again");
    let (status, output) = herald.stop().await;
    assert_eq!(status.code(), Some(0), "{output}");
    assert_eq!(
        sim.polls(&clawrence),
        clawrence_polls,
        "Clawrence never asked Telegram for updates in diagnose mode"
    );
    assert_eq!(sim.pending_updates(&clawrence), 1, "the DM is left waiting");
    assert!(
        sim.sent_by(&clawrence).is_empty(),
        "no bot but the console speaks"
    );

    // --force starts normally (and Clawrence answers the DM left waiting).
    let forced = deployment.spawn_herald(&sim, &["run", "--poll-seconds", "1", "--force"]);
    sim.wait_for(|s| s.iter().any(|r| r.bot == clawrence), WAIT)
        .await
        .expect("normal service");
    forced.terminate();
    let finished = forced.wait().await;
    assert_eq!(finished.code, Some(0), "{}", finished.output);
}

/// `/pause` and `/resume` from the console give the operator who sent them one message each
/// (the console's answer), while another operator hears the scheduler's announcement, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_from_the_console_give_each_operator_one_message() {
    let mut c = Console::start().await;
    c.stop().await;
    c.deployment.edit(
        "roster.toml",
        "roles = [\"approver\"]\n",
        "roles = [\"approver\", \"operator\"]\n",
    );
    c.boot().await;
    let other = c
        .deployment
        .config()
        .roster
        .members()
        .iter()
        .find(|m| m.name == "Daniel Koh")
        .expect("Daniel Koh")
        .telegram_id;

    for (command, told) in [
        ("/pause all", "Paused <b>all</b>"),
        ("/resume all", "Resumed <b>all</b>"),
    ] {
        let answer = c.ask(command, told).await;
        if command == "/resume all" {
            assert!(
                answer
                    .text
                    .contains("No scheduled slot was skipped while paused."),
                "the answer says what the announcement would: {}",
                answer.text
            );
        }
        // The scheduler has looked at the change (it takes the console's notice in the
        // transaction of its announcement) and every DM it queued has been sent.
        c.settled().await;
        assert_eq!(
            c.scalar("SELECT count(*) FROM pause_notices").await,
            0,
            "the scheduler saw {command}"
        );
        let to_operator = c
            .dms_to(c.operator)
            .into_iter()
            .filter(|r| r.text.contains(told))
            .count();
        assert_eq!(
            to_operator, 1,
            "{command}: one message to the operator who sent it"
        );
        assert_eq!(
            c.scalar(&format!(
                "SELECT count(*) FROM outbox WHERE bot = 'lawrence' AND chat_id = {other} AND state <> 'sent'"
            ))
            .await,
            0,
            "DMs to the other operator are stuck"
        );
        let to_other: Vec<String> = c
            .dms_to(other)
            .into_iter()
            .map(|r| r.text)
            .filter(|t| t.contains(told))
            .collect();
        assert_eq!(to_other.len(), 1, "{command}: {to_other:?}");
    }
    c.stop().await;
}
