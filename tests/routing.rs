//! Command routing in the group and in DMs, run in-process against the simulator: exactly
//! one bot answers a bare command, a command in the wrong thread gets one reply saying where
//! it works, strangers are refused in DMs and ignored in the group, and all of it is audited.

mod common;

use std::time::Duration;

use common::Deployment;
use herald::sandbox::STRANGER_ID;

const WAIT: Duration = Duration::from_secs(15);

struct Running {
    deployment: Deployment,
    sim: herald_sim::Simulator,
    fleet: herald::fleet::RunningFleet,
    operator: i64,
}

async fn start() -> Running {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let fleet = herald::fleet::start(&deployment.run_options(&sim))
        .await
        .expect("fleet starts");
    let operator = deployment.operator();
    Running {
        deployment,
        sim,
        fleet,
        operator,
    }
}

async fn audit_decisions(running: &Running) -> Vec<(String, Option<String>, String)> {
    sqlx::query_as(
        "SELECT coalesce(bot, ''), command, decision FROM audit WHERE kind = 'inbound' ORDER BY seq",
    )
    .fetch_all(running.fleet.store().reader())
    .await
    .expect("audit readable")
}

/// Waits until the bots have handled `n` inbound updates in total.
async fn wait_for_inbound(running: &Running, n: usize) -> Vec<(String, Option<String>, String)> {
    common::try_wait_until(WAIT, || async { audit_decisions(running).await.len() >= n }).await;
    audit_decisions(running).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_help_in_general_is_answered_by_exactly_one_bot() {
    let running = start().await;
    running
        .sim
        .user_says_in_topic(running.operator, None, "/help");
    running
        .sim
        .wait_for(|s| !s.is_empty(), WAIT)
        .await
        .expect("an answer");
    // Every privacy-mode bot saw the command; every reply any of them queued has been sent.
    wait_for_inbound(&running, 7).await;
    common::settled(&running.sim, &running.fleet).await;
    let sent = running.sim.sent();
    let answerers: std::collections::BTreeSet<_> = sent.iter().map(|r| r.bot.clone()).collect();
    assert_eq!(answerers.len(), 1, "one bot answered: {sent:#?}");
    let clawrence = running.deployment.config().bots["clawrence"]
        .username
        .clone();
    assert!(
        answerers.contains(&clawrence),
        "the General topic's owner answers: {answerers:?}"
    );
    running.fleet.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_in_the_wrong_thread_gets_one_reply_saying_where_it_works() {
    let running = start().await;
    let config = running.deployment.config();
    let claudia = config.bots["claudia"].username.clone();
    let gym = config
        .roster
        .thread("gym")
        .expect("gym thread")
        .message_thread_id;
    running
        .sim
        .user_says_in_topic(running.operator, gym, &format!("/help@{claudia}"));
    let sent = running
        .sim
        .wait_for(|s| !s.is_empty(), WAIT)
        .await
        .expect("a reply");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].bot, claudia);
    assert_eq!(sent[0].thread_id, gym);
    assert_eq!(
        sent[0].text,
        "/help works in #ar-brief, #approvals or a DM with me."
    );
    let decisions = wait_for_inbound(&running, 1).await;
    assert!(decisions
        .iter()
        .any(|(bot, command, decision)| bot == "claudia"
            && command.as_deref() == Some("help")
            && decision == "refused: used in the wrong place"));
    running.fleet.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_are_refused_in_dms_ignored_in_the_group_and_audited() {
    let running = start().await;
    let config = running.deployment.config();
    let lawrence = config.bots["lawrence"].username.clone();
    running.sim.user_dms(STRANGER_ID, &lawrence, "/help");
    running.sim.user_says_in_topic(STRANGER_ID, None, "/help");
    running
        .sim
        .wait_for(|s| !s.is_empty(), WAIT)
        .await
        .expect("a refusal");
    let decisions = wait_for_inbound(&running, 8).await;
    common::settled(&running.sim, &running.fleet).await;
    let sent = running.sim.sent();
    assert_eq!(sent.len(), 1, "only the DM refusal: {sent:#?}");
    assert_eq!(sent[0].chat_id, STRANGER_ID);
    assert_eq!(sent[0].text, herald::inbound::common::STRANGER_REPLY);
    assert!(decisions
        .iter()
        .any(|(bot, _, d)| bot == "lawrence" && d == "refused: DM from a non-member"));
    assert!(decisions
        .iter()
        .any(|(_, _, d)| d == "ignored: sender is not a roster member"));
    running.fleet.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_command_addressed_to_a_bot_gets_a_pointer_to_help() {
    let running = start().await;
    let config = running.deployment.config();
    let clawrence = config.bots["clawrence"].username.clone();
    let member = running.deployment.member();
    running.sim.user_dms(member, &clawrence, "/frobnicate now");
    let sent = running
        .sim
        .wait_for(|s| !s.is_empty(), WAIT)
        .await
        .expect("a reply");
    assert_eq!(
        sent[0].text,
        "I don't know /frobnicate. /help lists my commands."
    );
    running.fleet.stop().await.expect("clean stop");
}
