//! The outbox protocol through the real HTTP path against the simulator: a rejected send is
//! `failed` and the operator is told with Telegram's description; a send whose reply was lost
//! is `ambiguous`, the operator gets exactly one DM with Resend / Mark sent, and nothing is
//! resent; a 429 waits `retry_after` and delivers without alarming anyone. Also: commands are
//! published with `setMyCommands` only when they changed.

mod common;

use std::time::Duration;

use common::Deployment;
use herald::roster::Role;
use herald::sim::{Fault, SentRecord, Simulator};

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
    let operator = config
        .roster
        .members_with_role(Role::Operator)
        .next()
        .expect("operator")
        .telegram_id;
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

    async fn claudia_states(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT state FROM outbox WHERE bot = 'claudia' ORDER BY id")
            .fetch_all(self.fleet.store().pool())
            .await
            .expect("outbox readable")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_send_is_failed_and_the_operator_gets_telegrams_description() {
    let running = start().await;
    running.sim.inject_fault(
        &running.claudia,
        "sendMessage",
        Fault::Api {
            code: 400,
            description: "Bad Request: message thread not found".into(),
            retry_after: None,
            migrate_to_chat_id: None,
        },
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
    // Give a wrong implementation time to resend or alert twice.
    tokio::time::sleep(Duration::from_millis(600)).await;
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
    .fetch_one(running.fleet.store().pool())
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
}
