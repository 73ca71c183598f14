//! The outbox across hard crashes: the real `herald run` binary, built with the
//! `fault-injection` feature, kills itself with SIGKILL at each crash point of the send path
//! (`HERALD_CRASH_AT` = `after_claim`, `after_write`, `before_sent_commit`) while delivering
//! exactly one message (Clawrence's answer to a member's `/help` DM), and is then restarted
//! on the same database and simulator. Also: a reply lost by the simulator (`ReplyLost`)
//! stays one ambiguous row and one operator DM across a clean restart.
//!
//! What must hold every time: **0 lost, 0 duplicated, every uncertain send surfaced once.**
//! - a crash before the request left (`after_claim`) sends nothing; a crash after Telegram
//!   took it (`after_write`, `before_sent_commit`) leaves exactly one copy in the chat;
//! - on restart the interrupted row becomes `ambiguous` (audited as
//!   `sending -> ambiguous (interrupted)`) and is never resent on its own, so no second
//!   copy ever reaches the chat;
//! - the operator gets exactly one DM from the console bot (Lawrence) about it, with Resend /
//!   Mark sent buttons naming the row, so nothing is silently lost either;
//! - a row that is already `ambiguous` is not alerted about again by a later restart;
//! - the restarted herald stops cleanly (exit 0) on SIGTERM.

#![cfg(feature = "fault-injection")]

mod common;

use std::os::unix::process::ExitStatusExt;
use std::str::FromStr;
use std::time::Duration;

use common::{Deployment, Herald};
use herald::faults::CrashPoint;
use herald::roster::Role;
use herald_sim::{Fault, SentRecord, Simulator};
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::SqlitePool;

/// Longest wait for anything that should happen.
const WAIT: Duration = Duration::from_secs(20);
/// The headline of the operator's DM about an ambiguous send.
const UNSURE: &str = "Unsure whether a message was delivered";
/// What the member sends Clawrence to probe its queue, and the start of Clawrence's answer.
const PROBE: &str = "/probe";
const PROBE_ANSWER: &str = "I don't know /probe.";

/// One deployment, its simulator, and who is who.
struct Team {
    deployment: Deployment,
    sim: Simulator,
    operator: i64,
    /// A roster member who is not an operator: asks Clawrence for /help by DM.
    member: i64,
    member_name: String,
    clawrence: String,
    lawrence: String,
}

impl Team {
    async fn new() -> Self {
        let deployment = Deployment::example();
        let sim = deployment.simulator().await;
        let config = deployment.config();
        let operator = deployment.operator();
        let member = config
            .roster
            .members()
            .iter()
            .find(|m| !m.has_role(Role::Operator))
            .expect("a member who is not an operator");
        Self {
            operator,
            member: member.telegram_id,
            member_name: member.name.clone(),
            clawrence: config.bots["clawrence"].username.clone(),
            lawrence: config.bots["lawrence"].username.clone(),
            deployment,
            sim,
        }
    }

    /// Starts `herald run --poll-seconds 1`, crashing at `crash` if given.
    fn run(&self, crash: Option<CrashPoint>) -> Herald {
        let mut command = self
            .deployment
            .herald(&self.sim, &["run", "--poll-seconds", "1"]);
        match crash {
            Some(point) => command.env("HERALD_CRASH_AT", point.name()),
            None => command.env_remove("HERALD_CRASH_AT"),
        };
        self.deployment.spawn_command(command)
    }

    /// The member DMs Clawrence `/help`: exactly one outbox send (Clawrence's answer).
    fn ask_for_help(&self) {
        self.sim.user_dms(self.member, &self.clawrence, "/help");
    }

    /// Clawrence's answers to the member's /help that reached the member's private chat.
    fn answers(&self) -> Vec<SentRecord> {
        self.sim
            .sent_by(&self.clawrence)
            .into_iter()
            .filter(|r| r.chat_id == self.member && !r.text.starts_with(PROBE_ANSWER))
            .collect()
    }

    /// Shows that the running herald has dealt with everything it had queued for the member
    /// and for the operator: the member sends Clawrence an unknown command and the operator
    /// asks Lawrence for /status, and both answers arrive. Within a chat rows go out in the
    /// order they were queued, so a resend of the member's answer, or a second alert, queued
    /// before the probes would have arrived first.
    async fn probe(&self, herald: &Herald) {
        let answers = |sent: &[SentRecord]| {
            let probes = sent
                .iter()
                .filter(|r| {
                    r.bot.eq_ignore_ascii_case(&self.clawrence)
                        && r.chat_id == self.member
                        && r.text.starts_with(PROBE_ANSWER)
                })
                .count();
            let statuses = sent
                .iter()
                .filter(|r| {
                    r.bot.eq_ignore_ascii_case(&self.lawrence)
                        && r.chat_id == self.operator
                        && r.text.contains("herald status")
                })
                .count();
            (probes, statuses)
        };
        let (probes, statuses) = answers(&self.sim.sent());
        self.sim.user_dms(self.member, &self.clawrence, PROBE);
        self.sim.user_dms(self.operator, &self.lawrence, "/status");
        if let Err(sent) = self
            .sim
            .wait_for(
                |s| {
                    let (p, st) = answers(s);
                    p > probes && st > statuses
                },
                WAIT,
            )
            .await
        {
            panic!(
                "the probes were not answered: {sent:#?}\n{}",
                herald.output()
            );
        }
    }

    fn unsure_dms_in(&self, sent: &[SentRecord]) -> Vec<SentRecord> {
        sent.iter()
            .filter(|r| {
                r.bot.eq_ignore_ascii_case(&self.lawrence)
                    && r.chat_id == self.operator
                    && r.text.contains(UNSURE)
            })
            .cloned()
            .collect()
    }

    /// Lawrence's "unsure whether delivered" DMs to the operator.
    fn unsure_dms(&self) -> Vec<SentRecord> {
        self.unsure_dms_in(&self.sim.sent())
    }

    async fn wait_for_unsure_dm(&self, herald: &Herald) {
        if let Err(sent) = self
            .sim
            .wait_for(|s| !self.unsure_dms_in(s).is_empty(), WAIT)
            .await
        {
            panic!(
                "no operator DM about an ambiguous send: {sent:#?}\n{}",
                herald.output()
            );
        }
    }

    /// A plain reader of the deployment's database (herald may be running: WAL mode lets
    /// a reader in alongside it). No migrations, no writes.
    async fn db(&self) -> SqlitePool {
        let options = SqliteConnectOptions::from_str(&self.deployment.db_url())
            .expect("database URL")
            .busy_timeout(Duration::from_secs(10));
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("database opens")
    }

    /// `(id, state)` of Clawrence's outbox rows.
    async fn clawrence_rows(&self) -> Vec<(i64, String)> {
        let db = self.db().await;
        let rows =
            sqlx::query_as("SELECT id, state FROM outbox WHERE bot = 'clawrence' ORDER BY id")
                .fetch_all(&db)
                .await
                .expect("outbox readable");
        db.close().await;
        rows
    }

    /// The state of Clawrence's outbox row `id`.
    async fn clawrence_row(&self, id: i64) -> Option<String> {
        self.clawrence_rows()
            .await
            .into_iter()
            .find(|(row, _)| *row == id)
            .map(|(_, state)| state)
    }

    /// The audited outbox decisions about Clawrence's row `id`, in order.
    async fn clawrence_decisions(&self, id: i64) -> Vec<String> {
        let db = self.db().await;
        let decisions = sqlx::query_scalar(
            "SELECT decision FROM audit WHERE kind = 'outbox' AND bot = 'clawrence'
             AND (detail = 'row ' || ?1 OR detail LIKE 'row ' || ?1 || ' %'
                  OR detail LIKE 'row ' || ?1 || ':%')
             ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&db)
        .await
        .expect("audit readable");
        db.close().await;
        decisions
    }

    /// Exactly one "unsure" DM, naming row `id` and the member, with its two buttons.
    fn assert_one_unsure_dm_for(&self, id: i64) {
        let sent = self.sim.sent();
        let dms = self.unsure_dms_in(&sent);
        assert_eq!(
            dms.len(),
            1,
            "exactly one operator DM about the send: {sent:#?}"
        );
        let dm = &dms[0];
        assert!(
            dm.text.starts_with(&format!("⚠️ <b>{UNSURE}</b>")),
            "{}",
            dm.text
        );
        assert!(
            dm.text.contains(&format!("outbox row {id}")),
            "the DM names the row: {}",
            dm.text
        );
        assert!(
            dm.text.contains(&format!("DM to {}", self.member_name)),
            "the DM says where the message was going: {}",
            dm.text
        );
        assert_eq!(
            dm.reply_markup,
            Some(json!({"inline_keyboard": [[
                {"text": "Resend", "callback_data": format!("ob:resend:{id}")},
                {"text": "Mark sent", "callback_data": format!("ob:sent:{id}")},
            ]]})),
            "Resend / Mark sent buttons for row {id}"
        );
    }
}

/// Crashes herald at `point` while it answers one /help DM, restarts it, and checks that the
/// send is surfaced once and never duplicated. `reached` is how many copies Telegram got
/// before the crash (0 or 1).
async fn crash_and_restart(point: CrashPoint, reached: usize) {
    let team = Team::new().await;

    // 1. Run with the crash point armed and make exactly one send happen.
    let mut crashing = team.run(Some(point));
    team.ask_for_help();
    let (status, log) = crashing.exit().await;
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "herald died by SIGKILL ({status:?}):\n{log}"
    );
    assert!(
        log.contains(&format!("fault-injection: SIGKILL at {}", point.name())),
        "{log}"
    );
    let answers = team.answers();
    assert_eq!(
        answers.len(),
        reached,
        "copies that reached Telegram before the crash at {}: {answers:#?}",
        point.name()
    );
    assert!(team.unsure_dms().is_empty(), "no alert before the restart");
    let rows = team.clawrence_rows().await;
    assert_eq!(rows.len(), 1, "one outbox row: {rows:?}");
    let id = rows[0].0;
    assert_eq!(rows[0].1, "sending", "the crash left the claim in place");

    // 2. Restart without the crash point: the interrupted send surfaces once.
    let mut restarted = team.run(None);
    team.wait_for_unsure_dm(&restarted).await;
    team.probe(&restarted).await;
    team.assert_one_unsure_dm_for(id);
    assert_eq!(
        team.answers().len(),
        reached,
        "never a second copy: {:#?}",
        team.sim.sent()
    );
    assert_eq!(team.clawrence_row(id).await.as_deref(), Some("ambiguous"));
    assert_eq!(
        team.clawrence_decisions(id).await,
        vec![
            "enqueued",
            "pending -> sending",
            "sending -> ambiguous (interrupted)"
        ],
        "audited as interrupted, never as sent"
    );

    // 3. A clean stop.
    let (status, log) = restarted.stop().await;
    assert_eq!(status.code(), Some(0), "clean exit on SIGTERM:\n{log}");
    assert!(!log.contains("fault-injection"), "{log}");
    assert_eq!(team.answers().len(), reached);
    assert_eq!(team.unsure_dms().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_claim_sends_nothing_and_surfaces_once() {
    crash_and_restart(CrashPoint::AfterClaim, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_write_leaves_one_copy_and_surfaces_once() {
    crash_and_restart(CrashPoint::AfterWrite, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_the_sent_commit_leaves_one_copy_and_surfaces_once() {
    crash_and_restart(CrashPoint::BeforeSentCommit, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_reply_stays_one_copy_and_one_alert_across_a_restart() {
    let team = Team::new().await;
    team.sim
        .inject_fault(&team.clawrence, "sendMessage", Fault::ReplyLost);

    let mut first = team.run(None);
    team.ask_for_help();
    team.wait_for_unsure_dm(&first).await;
    let rows = team.clawrence_rows().await;
    assert_eq!(rows.len(), 1, "one outbox row: {rows:?}");
    let id = rows[0].0;
    team.probe(&first).await;
    assert_eq!(team.answers().len(), 1, "{:#?}", team.sim.sent());
    assert_eq!(team.clawrence_row(id).await.as_deref(), Some("ambiguous"));
    team.assert_one_unsure_dm_for(id);
    let (status, log) = first.stop().await;
    assert_eq!(status.code(), Some(0), "clean exit on SIGTERM:\n{log}");

    // The row was already ambiguous: a restart neither resends it nor alerts again.
    let polls = team.sim.calls("getUpdates");
    let mut second = team.run(None);
    common::wait_until_polling(&team.sim, polls, &second.log).await;
    team.probe(&second).await;
    assert_eq!(
        team.answers().len(),
        1,
        "never a second copy: {:#?}",
        team.sim.sent()
    );
    team.assert_one_unsure_dm_for(id);
    assert_eq!(team.clawrence_row(id).await.as_deref(), Some("ambiguous"));
    assert_eq!(
        team.clawrence_decisions(id).await,
        vec!["enqueued", "pending -> sending", "sending -> ambiguous"],
        "one ambiguous decision, no recovery at the restart"
    );
    let (status, log) = second.stop().await;
    assert_eq!(status.code(), Some(0), "clean exit on SIGTERM:\n{log}");
}

/// A `/preview` the scheduler took but had not rendered when herald was killed is not lost:
/// its request stays queued until the transaction that enqueues the preview, and after the
/// restart the preview arrives, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_interrupted_before_rendering_arrives_once_after_a_restart() {
    let team = Team::new().await;
    let previews = |sent: &[SentRecord]| -> usize {
        sent.iter()
            .filter(|r| {
                r.bot.eq_ignore_ascii_case(&team.lawrence)
                    && r.chat_id == team.operator
                    && r.text.contains("Preview of <b>team-pulse</b>")
            })
            .count()
    };

    let mut crashing = team.run(Some(CrashPoint::BeforePreview));
    team.sim
        .user_dms(team.operator, &team.lawrence, "/preview team-pulse");
    let (status, log) = crashing.exit().await;
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "herald died by SIGKILL ({status:?}):\n{log}"
    );
    assert!(
        log.contains("fault-injection: SIGKILL at before_preview"),
        "{log}"
    );
    assert_eq!(previews(&team.sim.sent()), 0);
    assert_eq!(
        team.queued_requests().await,
        1,
        "the request survived the crash"
    );

    let mut restarted = team.run(None);
    if let Err(sent) = team.sim.wait_for(|s| previews(s) > 0, WAIT).await {
        panic!(
            "no preview after the restart: {sent:#?}\n{}",
            restarted.output()
        );
    }
    assert_eq!(team.queued_requests().await, 0, "settled with the preview");
    // Anything queued for the operator before this answer is delivered before it.
    team.sim.user_dms(team.operator, &team.lawrence, "/status");
    let status_answer = |s: &[SentRecord]| {
        s.iter().any(|r| {
            r.bot.eq_ignore_ascii_case(&team.lawrence)
                && r.chat_id == team.operator
                && r.text.contains("herald status")
        })
    };
    if let Err(sent) = team.sim.wait_for(status_answer, WAIT).await {
        panic!("no /status answer: {sent:#?}\n{}", restarted.output());
    }
    assert_eq!(previews(&team.sim.sent()), 1, "the preview arrived once");
    let (status, log) = restarted.stop().await;
    assert_eq!(status.code(), Some(0), "clean exit on SIGTERM:\n{log}");
}

impl Team {
    /// Operator requests (`/run`, `/preview`) still queued.
    async fn queued_requests(&self) -> i64 {
        let db = self.db().await;
        let n = sqlx::query_scalar("SELECT count(*) FROM job_requests")
            .fetch_one(&db)
            .await
            .expect("job_requests readable");
        db.close().await;
        n
    }
}
