//! The outbox protocol through the real HTTP path against the simulator: a rejected send is
//! `failed` and the operator is told with Telegram's description; a send whose reply was lost
//! is `ambiguous`, the operator gets exactly one DM with Resend / Mark sent, and nothing is
//! resent; a 429 waits `retry_after` and delivers without alarming anyone. Also: commands are
//! published with `setMyCommands` only when they changed.

mod common;

use std::time::Duration;

use common::Deployment;
use herald_sim::{Fault, SentRecord, Simulator};

const WAIT: Duration = Duration::from_secs(15);

struct Running {
    deployment: Deployment,
    sim: Simulator,
    fleet: herald::fleet::RunningFleet,
    operator: i64,
    claudia: String,
    lawrence: String,
}

async fn start() -> Running {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let fleet = herald::fleet::start(&deployment.run_options(&sim))
        .await
        .expect("fleet starts");
    let config = deployment.config();
    let operator = deployment.operator();
    Running {
        claudia: config.bots["claudia"].username.clone(),
        lawrence: config.bots["lawrence"].username.clone(),
        deployment,
        sim,
        fleet,
        operator,
    }
}

impl Running {
    /// The operator asks Claudia for /help in #ar-brief.
    fn ask_claudia(&self) {
        let thread = self
            .deployment
            .config()
            .roster
            .thread("ar-brief")
            .expect("thread")
            .message_thread_id;
        self.sim
            .user_says_in_topic(self.operator, thread, &format!("/help@{}", self.claudia));
    }

    fn operator_dms(&self, sent: &[SentRecord]) -> Vec<SentRecord> {
        sent.iter()
            .filter(|r| r.bot == self.lawrence && r.chat_id == self.operator)
            .cloned()
            .collect()
    }

    /// Claudia's outbox states once herald has settled: the simulator records a message a
    /// moment before herald commits its outcome.
    async fn claudia_states(&self) -> Vec<String> {
        self.settled().await;
        sqlx::query_scalar("SELECT state FROM outbox WHERE bot = 'claudia' ORDER BY id")
            .fetch_all(self.fleet.store().reader())
            .await
            .expect("outbox readable")
    }

    /// Waits until herald has finished reacting to everything so far ([`common::settled`]).
    async fn settled(&self) {
        common::settled(&self.sim, &self.fleet).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_send_is_failed_and_the_operator_gets_telegrams_description() {
    let running = start().await;
    running.sim.inject_fault(
        &running.claudia,
        "sendMessage",
        Fault::api(400, "Bad Request: message thread not found"),
    );
    running.ask_claudia();
    let sent = running
        .sim
        .wait_for(|s| s.iter().any(|r| r.chat_id == running.operator), WAIT)
        .await
        .expect("an operator DM");
    let dms = running.operator_dms(&sent);
    assert_eq!(dms.len(), 1, "{sent:#?}");
    assert!(
        dms[0].text.contains("Telegram refused a message"),
        "{}",
        dms[0].text
    );
    assert!(
        dms[0].text.contains("message thread not found"),
        "{}",
        dms[0].text
    );
    assert!(
        dms[0].text.contains("claudia -&gt; #ar-brief"),
        "{}",
        dms[0].text
    );
    assert!(running.sim.sent_by(&running.claudia).is_empty());
    assert_eq!(running.claudia_states().await, vec!["failed"]);
    running.fleet.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_reply_is_ambiguous_surfaced_once_and_never_resent() {
    let running = start().await;
    running
        .sim
        .inject_fault(&running.claudia, "sendMessage", Fault::ReplyLost);
    running.ask_claudia();
    running
        .sim
        .wait_for(|s| s.iter().any(|r| r.chat_id == running.operator), WAIT)
        .await
        .expect("an operator DM");
    // Whatever a wrong implementation would resend or alert twice has been sent by now.
    running.settled().await;
    let sent = running.sim.sent();
    assert_eq!(
        running.sim.sent_by(&running.claudia).len(),
        1,
        "the message reached the thread once and was not resent: {sent:#?}"
    );
    let dms = running.operator_dms(&sent);
    assert_eq!(dms.len(), 1, "exactly one operator DM: {sent:#?}");
    assert!(dms[0]
        .text
        .contains("Unsure whether a message was delivered"));
    let markup = dms[0].reply_markup.as_ref().expect("buttons").to_string();
    assert!(
        markup.contains("ob:resend:") && markup.contains("ob:sent:"),
        "{markup}"
    );
    assert_eq!(running.claudia_states().await, vec!["ambiguous"]);
    running.fleet.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_waits_retry_after_then_delivers_without_an_alert() {
    let running = start().await;
    running.sim.inject_fault(
        &running.claudia,
        "sendMessage",
        Fault::Api {
            code: 429,
            description: "Too Many Requests: retry after 1".into(),
            retry_after: Some(1),
            migrate_to_chat_id: None,
        },
    );
    let asked = tokio::time::Instant::now();
    running.ask_claudia();
    let sent = running
        .sim
        .wait_for(|s| s.iter().any(|r| r.bot == running.claudia), WAIT)
        .await
        .expect("delivered after the wait");
    assert!(
        asked.elapsed() >= Duration::from_secs(1),
        "waited retry_after"
    );
    assert!(
        running.operator_dms(&sent).is_empty(),
        "no alert: {sent:#?}"
    );
    assert_eq!(running.claudia_states().await, vec!["sent"]);
    let waited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit WHERE bot = 'claudia' AND decision = 'sending -> pending (429)'",
    )
    .fetch_one(running.fleet.store().reader())
    .await
    .expect("audit readable");
    assert_eq!(waited, 1);
    running.fleet.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_published_only_when_they_changed() {
    let running = start().await;
    running.fleet.stop().await.expect("clean stop");
    assert_eq!(
        running.sim.calls("setMyCommands"),
        7,
        "first start publishes all"
    );

    let options = running.deployment.run_options(&running.sim);
    let again = herald::fleet::start(&options).await.expect("second start");
    again.stop().await.expect("clean stop");
    assert_eq!(running.sim.calls("setMyCommands"), 7, "unchanged: no call");

    let file = running.deployment.path().join("bots").join("claudia.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("List my commands"));
    std::fs::write(&file, text.replacen("List my commands", "What I can do", 1)).unwrap();
    let third = herald::fleet::start(&options).await.expect("third start");
    third.stop().await.expect("clean stop");
    assert_eq!(
        running.sim.calls("setMyCommands"),
        8,
        "only claudia republished"
    );
    let published = running
        .sim
        .my_commands(&running.claudia)
        .expect("published");
    assert_eq!(published[0].1, "What I can do");
    // The console's menu lists the console commands too.
    let console_menu = running
        .sim
        .my_commands(&running.lawrence)
        .expect("published");
    let names: Vec<&str> = console_menu.iter().map(|(n, _)| n.as_str()).collect();
    for command in [
        "help",
        "status",
        "run",
        "pause",
        "ambiguous",
        "failed",
        "log",
    ] {
        assert!(names.contains(&command), "{command} missing from {names:?}");
    }
}

impl Running {
    /// Makes Claudia's next send ambiguous (reply lost after Telegram recorded it) and waits
    /// for the operator's alert. Returns the alert.
    async fn ambiguous_alert(&self) -> SentRecord {
        self.sim
            .inject_fault(&self.claudia, "sendMessage", Fault::ReplyLost);
        self.ask_claudia();
        let sent = self
            .sim
            .wait_for(|s| s.iter().any(|r| r.chat_id == self.operator), WAIT)
            .await
            .expect("an operator DM");
        self.operator_dms(&sent).remove(0)
    }

    /// The callback data of the alert's button labelled `label`.
    fn button(alert: &SentRecord, label: &str) -> String {
        let markup = alert.reply_markup.as_ref().expect("buttons");
        markup["inline_keyboard"][0]
            .as_array()
            .expect("a row of buttons")
            .iter()
            .find(|b| b["text"] == label)
            .and_then(|b| b["callback_data"].as_str())
            .unwrap_or_else(|| panic!("no {label} button in {markup}"))
            .to_owned()
    }

    fn tap(&self, user: i64, alert: &SentRecord, data: &str) -> String {
        self.sim
            .user_taps(user, &self.lawrence, alert.chat_id, alert.message_id, data)
    }

    async fn answer_to(&self, query_id: &str) -> Option<String> {
        self.sim.wait_for_callback_answer(query_id, WAIT).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mark_sent_settles_an_ambiguous_send_once_and_edits_the_alert() {
    let running = start().await;
    let alert = running.ambiguous_alert().await;
    let data = Running::button(&alert, "Mark sent");

    let query = running.tap(running.operator, &alert, &data);
    assert_eq!(
        running.answer_to(&query).await.as_deref(),
        Some("Marked as sent; it will not be resent.")
    );
    let edited = running
        .sim
        .wait_for(
            |s| {
                s.iter()
                    .any(|r| r.method == "editMessageText" && r.message_id == alert.message_id)
            },
            WAIT,
        )
        .await
        .expect("the alert is edited");
    let edit = edited
        .iter()
        .rev()
        .find(|r| r.method == "editMessageText")
        .expect("edit");
    assert!(
        edit.text
            .contains("Decided: <b>marked sent</b> by Wei Ming Tan"),
        "{}",
        edit.text
    );
    assert!(edit.reply_markup.is_none(), "buttons removed");
    assert_eq!(running.claudia_states().await, vec!["sent"]);

    // A second tap changes nothing and says so.
    let again = running.tap(running.operator, &alert, &data);
    assert_eq!(
        running.answer_to(&again).await.as_deref(),
        Some("Already decided: that message is sent.")
    );
    running.settled().await;
    assert_eq!(
        running.sim.sent_by(&running.claudia).len(),
        1,
        "never resent"
    );
    let decided: Vec<String> = sqlx::query_scalar(
        "SELECT decision FROM audit WHERE bot = 'claudia' AND decision LIKE 'ambiguous -> %'",
    )
    .fetch_all(running.fleet.store().reader())
    .await
    .expect("audit readable");
    assert_eq!(
        decided,
        vec!["ambiguous -> sent (marked sent by Wei Ming Tan)"]
    );
    running.fleet.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_delivers_the_message_again_exactly_once() {
    let running = start().await;
    let alert = running.ambiguous_alert().await;
    let data = Running::button(&alert, "Resend");
    let query = running.tap(running.operator, &alert, &data);
    assert_eq!(
        running.answer_to(&query).await.as_deref(),
        Some("Resending it now.")
    );
    running
        .sim
        .wait_for(
            |s| s.iter().filter(|r| r.bot == running.claudia).count() == 2,
            WAIT,
        )
        .await
        .expect("resent on the operator's word");
    // A double tap does not send a third copy.
    let again = running.tap(running.operator, &alert, &data);
    assert!(running
        .answer_to(&again)
        .await
        .is_some_and(|a| a.starts_with("Already decided")));
    running.settled().await;
    assert_eq!(running.sim.sent_by(&running.claudia).len(), 2);
    assert_eq!(running.claudia_states().await, vec!["sent"]);
    running.fleet.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_operator_can_decide_an_ambiguous_send() {
    let running = start().await;
    let alert = running.ambiguous_alert().await;
    let member = running.deployment.member();
    let query = running.tap(member, &alert, &Running::button(&alert, "Resend"));
    assert_eq!(
        running.answer_to(&query).await.as_deref(),
        Some("Only an operator can decide this.")
    );
    running.settled().await;
    assert_eq!(running.claudia_states().await, vec!["ambiguous"]);
    assert_eq!(running.sim.sent_by(&running.claudia).len(), 1);
    running.fleet.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_alert_telegram_refuses_stays_queued_and_is_retried() {
    let running = start().await;
    // The first try of the alert is refused for a reason that may pass (a permanent refusal,
    // such as a blocked bot, fails at once: tests/text_limits.rs).
    running.sim.inject_fault(
        &running.lawrence,
        "sendMessage",
        Fault::api(
            400,
            "Bad Request: not enough rights to send text messages to the chat",
        ),
    );
    running.sim.inject_fault(
        &running.claudia,
        "sendMessage",
        Fault::api(400, "Bad Request: message thread not found"),
    );
    running.ask_claudia();
    let sent = running
        .sim
        .wait_for(|s| !running.operator_dms(s).is_empty(), WAIT)
        .await
        .expect("the alert arrives on a later try");
    assert!(running.operator_dms(&sent)[0]
        .text
        .contains("Telegram refused a message"));
    let retried: Vec<String> = sqlx::query_scalar(
        "SELECT decision FROM audit WHERE bot = 'lawrence' AND decision LIKE 'sending -> pending (operator alert%'",
    )
    .fetch_all(running.fleet.store().reader())
    .await
    .expect("audit readable");
    assert_eq!(
        retried,
        vec!["sending -> pending (operator alert not delivered, retry in 300ms)"],
        "refused once, then retried"
    );
    running.fleet.stop().await.expect("clean stop");
}

/// A scheduled post Telegram refuses fails its slot: the sender reports the refused part to
/// the scheduler, which marks the slot (done until then) failed with Telegram's reason, in the
/// transaction that tells the operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_scheduled_post_fails_its_slot() {
    let running = start().await;
    let clawrence = running.deployment.config().bots["clawrence"]
        .username
        .clone();
    running.sim.inject_fault(
        &clawrence,
        "sendMessage",
        Fault::api(400, "Bad Request: message thread not found"),
    );
    running
        .sim
        .user_dms(running.operator, &running.lawrence, "/run team-pulse");
    let sent = running
        .sim
        .wait_for(
            |s| {
                s.iter()
                    .any(|r| r.chat_id == running.operator && r.text.contains("Telegram refused"))
            },
            WAIT,
        )
        .await
        .expect("the operator is told the post was refused");
    let refused = running
        .operator_dms(&sent)
        .into_iter()
        .find(|r| r.text.contains("Telegram refused"))
        .expect("the refusal DM");
    assert!(refused.text.contains("job team-pulse"), "{}", refused.text);
    // The DM was written in the transaction that failed the slot: it is failed by now.
    let slots: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT state, detail FROM job_slots WHERE job = 'team-pulse'")
            .fetch_all(running.fleet.store().reader())
            .await
            .expect("slots readable");
    assert_eq!(
        slots,
        vec![(
            "failed".to_owned(),
            Some("Telegram refused part 0: Bad Request: message thread not found".to_owned())
        )]
    );
    running.fleet.stop().await.expect("clean stop");
}
