//! The event-driven core, end to end in process against the simulator: a sender wakes only
//! for its own bot's rows, and a write by another process (`herald pause` and `resume`) is
//! noticed through the lease's heartbeat or, on the same host, a nudge from the command, never
//! by polling. And a bot whose update ids Telegram restarted lower (after a quiet week) goes
//! back to long polling, its new updates answered and confirmed.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Deployment, PATIENCE};
use herald::fleet::RunningFleet;
use herald::store::lease::LeaseSettings;
use herald_sim::Simulator;

/// The looks each loop took between two counts, for the loops that took any.
fn woke(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> Vec<String> {
    after
        .iter()
        .filter(|(name, n)| before.get(*name).copied().unwrap_or(0) < **n)
        .map(|(name, _)| name.clone())
        .collect()
}

/// The example deployment running in process, its watchdog and its lease renewals far
/// apart, so that only what the test does wakes anything; settled.
async fn quiet_fleet(deployment: &Deployment, lease: LeaseSettings) -> (Simulator, RunningFleet) {
    let sim = deployment.simulator().await;
    let mut options = deployment.run_options(&sim);
    options.scheduler.watchdog_every = Duration::from_secs(3600);
    options.lease = lease;
    let fleet = herald::fleet::start(&options).await.expect("fleet starts");
    common::settled(&sim, &fleet).await;
    (sim, fleet)
}

/// The example deployment as [`quiet_fleet`], its lease renewed once an hour.
async fn quiet_example() -> (Deployment, Simulator, RunningFleet) {
    let deployment = Deployment::example();
    let (sim, fleet) = quiet_fleet(
        &deployment,
        LeaseSettings::with_ttl(Duration::from_secs(3600)),
    )
    .await;
    (deployment, sim, fleet)
}

/// Waits until the outbox holds `count` sent rows of `bot`.
async fn sent_rows(deployment: &Deployment, bot: &str, count: i64) {
    assert!(
        outbox_rows(deployment, bot, "sent", count).await,
        "{bot}: {count} sent rows"
    );
}

/// Waits until the outbox holds at least `count` rows of `bot` in `state`; false if they did
/// not come within [`PATIENCE`].
async fn outbox_rows(deployment: &Deployment, bot: &str, state: &str, count: i64) -> bool {
    let store = herald::store::Store::open(&deployment.db_url())
        .await
        .expect("db opens");
    let reached = common::try_wait_until(PATIENCE, || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE bot = ? AND state = ?")
            .bind(bot)
            .bind(state)
            .fetch_one(store.reader())
            .await
            .unwrap_or(0);
        n >= count
    })
    .await;
    store.close().await;
    reached
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_wakes_its_own_bots_sender_and_no_other_loop() {
    let (deployment, sim, fleet) = quiet_example().await;
    let config = deployment.config();
    let member = config.roster.members()[0].telegram_id;
    let clawrence = config.bot("clawrence").expect("clawrence").username.clone();
    let before = fleet.activity().looks();
    assert!(
        before.contains_key("sender clawrence") && before.contains_key("scheduler"),
        "{before:?}"
    );

    sim.user_dms(member, &clawrence, "/help");
    sent_rows(&deployment, "clawrence", 1).await;
    let after = fleet.activity().looks();
    assert_eq!(
        woke(&before, &after),
        ["sender clawrence"],
        "{before:?} -> {after:?}"
    );
    fleet.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_written_by_another_process_is_noticed_at_the_next_lease_renewal() {
    let deployment = Deployment::example();
    let renewals = LeaseSettings {
        renew_every: Duration::from_millis(200),
        ..LeaseSettings::default()
    };
    let (sim, fleet) = quiet_fleet(&deployment, renewals).await;
    let config = deployment.config();
    let member = config.roster.members()[0].telegram_id;
    let clawrence = config.bot("clawrence").expect("clawrence").username.clone();
    let pause = |on: bool| {
        let deployment = &deployment;
        async move {
            herald::commands::pause::set_pause(
                deployment.path(),
                &deployment.db_url(),
                &["bot".to_owned(), "clawrence".to_owned()],
                on,
                "test",
                herald::clock::Clock::system().now(),
            )
            .await
            .expect("pause/resume")
        }
    };
    pause(true).await;
    sim.user_dms(member, &clawrence, "/help");
    // The reply is written (the update handled) and held by the pause.
    let held = outbox_rows(&deployment, "clawrence", "pending", 1).await;
    assert!(held, "the reply waits behind the pause");
    // Nobody in this process wrote the resume: only the heartbeat's change check can wake
    // Clawrence's sender (no settle here: that would ask every loop to look).
    pause(false).await;
    sent_rows(&deployment, "clawrence", 1).await;
    fleet.stop().await.expect("clean stop");
}

/// `herald pause` and `resume` beside a running `herald run` on the same host nudge it
/// (SIGUSR2 to the lease's holder): the resume is acted on at once, though the lease is renewed
/// only every 20 minutes here, and the holder is not ended by the signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_by_the_cli_beside_a_running_herald_is_acted_on_at_once() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let config = deployment.config();
    let member = config.roster.members()[0].telegram_id;
    let clawrence = config.bot("clawrence").expect("clawrence").username.clone();
    let mut herald = deployment.spawn_herald(
        &sim,
        &["run", "--poll-seconds", "1", "--lease-ttl-ms", "3600000"],
    );
    common::wait_until_polling(&sim, 0, &herald.log).await;
    let cli = |args: &[&str]| {
        let out = deployment.herald(&sim, args).output().expect("herald runs");
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    cli(&["pause", "bot", "clawrence"]);
    sim.user_dms(member, &clawrence, "/help");
    let held = outbox_rows(&deployment, "clawrence", "pending", 1).await;
    assert!(
        held,
        "the reply waits behind the pause:\n{}",
        herald.output()
    );
    cli(&["resume", "bot", "clawrence"]);
    sent_rows(&deployment, "clawrence", 1).await;
    assert!(!herald.exited(), "{}", herald.output());
    let (exit, output) = herald.stop().await;
    assert!(exit.success(), "{output}");
}

/// After a week without updates Telegram numbers a bot's next update at random, possibly below
/// every id herald confirmed. The offset follows the ids Telegram gives, so the new updates
/// are answered and confirmed. (With the offset kept at its highest, Telegram reads it as "in
/// the future", confirms nothing and answers every poll at once with the same handled
/// updates: a spinning poller, and a bot gone deaf once 100 of them wait.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_numbered_anew_after_a_quiet_week_are_answered_and_confirmed() {
    let (deployment, sim, fleet) = quiet_example().await;
    let config = deployment.config();
    let member = config.roster.members()[0].telegram_id;
    let claims = config.bot("claims").expect("claims").username.clone();
    sim.user_dms(member, &claims, "/help");
    sent_rows(&deployment, "claims", 1).await;
    common::settled(&sim, &fleet).await;

    sim.restart_update_ids(&claims, 5_000_000);
    sim.user_dms(member, &claims, "/help");
    sent_rows(&deployment, "claims", 2).await;
    sim.user_dms(member, &claims, "/help");
    sent_rows(&deployment, "claims", 3).await;
    assert!(
        common::try_wait_until(PATIENCE, || std::future::ready(
            sim.pending_updates(&claims) == 0
        ))
        .await,
        "the updates numbered anew were confirmed: {} still wait",
        sim.pending_updates(&claims)
    );
    common::settled(&sim, &fleet).await;
    assert_eq!(sim.sent_by(&claims).len(), 3, "each /help answered once");
    fleet.stop().await.expect("clean stop");
}
