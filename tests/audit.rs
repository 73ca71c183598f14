//! `herald audit` against the simulator (and the fake Xero), through the binary: every probe
//! in both directions (a bot removed from the chat and added back, a deleted thread, an
//! operator who never started the console bot, privacy mode), a hanging probe, Xero's
//! `invalid_grant`, the stored snapshots and `--diff`.

mod common;

use std::process::Output;

use common::Deployment;
use herald_sim::xero::{FakeXero, FakeXeroConfig};
use herald_sim::{Fault, Simulator};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `herald audit ARGS` on the deployment, against `sim`.
fn audit(deployment: &Deployment, sim: &Simulator, args: &[&str]) -> Output {
    let mut command = deployment.herald(sim, &["audit"]);
    command.args(args).env_remove("RUST_LOG");
    command.output().expect("herald audit runs")
}

/// The free disk space varies from run to run (and machine to machine: under 1 GiB it is
/// rightly DEGRADED), so its line is written the same way every time.
fn steady(stdout: &[u8]) -> String {
    text(stdout)
        .lines()
        .map(|line| {
            if line.contains("database: free disk: ") {
                "OK       database: free disk: N MiB free".to_owned()
            } else if line.ends_with(" BROKEN") && line.contains(" OK, ") {
                "(summary)".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether everything but (perhaps) the free disk space is OK.
fn all_ok_but_the_disk(out: &Output) -> bool {
    text(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("DEGRADED") || l.starts_with("BROKEN"))
        .all(|l| l.contains("database: free disk: "))
}

/// The example deployment with its database created (as after a first `herald run`).
async fn deployment_with_database() -> (Deployment, Simulator) {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    herald::store::Store::open(&deployment.db_url())
        .await
        .expect("database")
        .close()
        .await;
    (deployment, sim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_probe_goes_broken_and_back_and_diff_names_each_change() {
    let (deployment, sim) = deployment_with_database().await;
    let config = deployment.config();
    let username = |bot: &str| config.bots[bot].username.clone();
    let operator = deployment.operator();

    let out = audit(&deployment, &sim, &[]);
    assert!(
        all_ok_but_the_disk(&out),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    insta::assert_snapshot!("audit_all_ok", steady(&out.stdout));
    assert_eq!(sim.sent().len(), 0, "an audit posts nothing");

    // Claudia is kicked, the ar-brief topic deleted, the operator never started Lawrence (the
    // console), Clawrence's privacy mode is back on, and Happy may no longer post.
    sim.remove_bot_from_group(&username("claudia"), true);
    sim.delete_topic(21);
    sim.user_never_started(operator, &username("lawrence"));
    sim.set_privacy_mode(&username("clawrence"), true);
    sim.restrict_bot(&username("happy"), false);
    let out = audit(&deployment, &sim, &["--diff"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let (since, changes) = stdout.split_once('\n').expect("a header line");
    assert!(since.starts_with("since "), "{stdout}");
    insta::assert_snapshot!("audit_diff_broken", changes);

    // Put right again: the diff says so; unchanged, it says nothing changed.
    sim.add_bot_to_group(&username("claudia"));
    sim.add_bot_to_group(&username("happy"));
    sim.user_dms(operator, &username("lawrence"), "/start");
    sim.set_privacy_mode(&username("clawrence"), false);
    let out = audit(&deployment, &sim, &["--diff"]);
    assert_eq!(out.status.code(), Some(1), "the topic stays deleted");
    let stdout = text(&out.stdout);
    let changes: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(
        changes,
        [
            "claudia: member of team chat: BROKEN → OK (member)",
            "claudia: thread approvals: BROKEN → OK (can post)",
            "clawrence: privacy mode: DEGRADED → OK (off: reads every group message)",
            "happy: member of team chat: BROKEN → OK (member)",
            "operator Wei Ming Tan: reachable by lawrence: BROKEN → OK (@acme_lawrence_bot can DM them)",
        ],
        "{stdout}"
    );
    let out = audit(&deployment, &sim, &["--diff"]);
    assert!(
        text(&out.stdout).starts_with("no change since "),
        "{}",
        text(&out.stdout)
    );

    // --json: one object, every check, and the (empty) changes.
    let out = audit(&deployment, &sim, &["--json", "--diff"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let checks = json["checks"].as_array().expect("checks");
    let broken: Vec<&str> = checks
        .iter()
        .filter(|c| c["verdict"] == "BROKEN")
        .map(|c| c["capability"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(broken, ["claudia: thread ar-brief"]);
    let gone = checks
        .iter()
        .find(|c| c["capability"] == "claudia: thread ar-brief")
        .expect("the thread's check");
    assert!(
        gone["cause"]
            .as_str()
            .is_some_and(|cause| cause
                .starts_with("the topic is gone (Bad Request: message thread not found)")),
        "{gone}"
    );
    assert_eq!(json["changes"], serde_json::json!([]));

    // Every run is stored and audited.
    let store = herald::store::Store::open(&deployment.db_url())
        .await
        .unwrap();
    let count = |sql: &'static str| {
        let pool = store.reader().clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM capability_snapshots").await, 5);
    assert_eq!(
        count("SELECT COUNT(*) FROM audit WHERE kind = 'health'").await,
        5
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_probe_is_broken_at_the_deadline_and_the_others_still_report() {
    let (deployment, sim) = deployment_with_database().await;
    let pakgupei = deployment.config().bots["pakgupei"].username.clone();
    sim.inject_fault(
        &pakgupei,
        "sendChatAction",
        Fault::Timeout(std::time::Duration::from_secs(30)),
    );
    let out = audit(&deployment, &sim, &["--deadline-ms", "3000"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let broken: Vec<&str> = stdout.lines().filter(|l| l.starts_with("BROKEN")).collect();
    assert_eq!(broken.len(), 1, "{stdout}");
    assert!(
        broken[0]
            .starts_with("BROKEN   pakgupei: thread calls: no answer to sendChatAction in time"),
        "{stdout}"
    );
    assert!(stdout.contains("OK       pakgupei: token"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xero_is_probed_unless_herald_runs_and_invalid_grant_is_broken() {
    let fake = FakeXero::start(FakeXeroConfig::default()).await.unwrap();
    let defaults = FakeXeroConfig::default();
    let deployment =
        Deployment::with_xero(&fake, &defaults.tenant_id, Some(&defaults.refresh_token));
    let sim = deployment.simulator().await;
    herald::store::Store::open(&deployment.db_url())
        .await
        .unwrap()
        .close()
        .await;

    let out = audit(&deployment, &sim, &[]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("OK       xero: refresh: refreshed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("OK       xero: tenant connected"),
        "{stdout}"
    );
    assert!(
        stdout.contains("OK       xero: read: 0 bills awaiting approval"),
        "{stdout}"
    );

    // Beside a running herald the rotating token is left alone.
    let polls = sim.calls("getUpdates");
    let mut herald = deployment.spawn_herald(&sim, &["run"]);
    common::wait_until("herald polls with all seven bots", || {
        std::future::ready(sim.calls("getUpdates") >= polls + 7)
    })
    .await;
    let refreshes = fake.refreshes();
    let out = audit(&deployment, &sim, &[]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("xero: refresh: not probed here"),
        "{stdout}"
    );
    assert_eq!(fake.refreshes(), refreshes);
    herald.stop().await;

    // A refresh token Xero no longer takes.
    FakeXero::write_secrets(&deployment.secrets, Some("fake-refresh-retired")).unwrap();
    let out = audit(&deployment, &sim, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("BROKEN   xero: refresh: Xero refused the refresh token (invalid_grant"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("xero: read"),
        "nothing read without a token: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swapped_or_dead_token_is_broken_naming_the_bot() {
    let (deployment, sim) = deployment_with_database().await;
    let mut tokens = deployment.tokens.clone();
    let claudia = tokens["claudia"].clone();
    tokens.insert("claudia", tokens["claims"].clone());
    tokens.insert("claims", claudia);
    tokens.insert("happy", "123:not-a-token-telegram-knows".to_owned());
    deployment.write_secrets(&tokens);
    let out = audit(&deployment, &sim, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    for expected in [
        "BROKEN   claudia: token: belongs to @acme_claims_bot, not @acme_claudia_bot",
        "BROKEN   claims: token: belongs to @acme_claudia_bot, not @acme_claims_bot",
        "BROKEN   happy: token: getMe failed: Unauthorized",
    ] {
        assert!(stdout.contains(expected), "{expected} in:\n{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_probe_dms_the_operators_once_per_change_and_status_shows_it() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let config = deployment.config();
    let username = |bot: &str| config.bots[bot].username.clone();
    let (happy, lawrence) = (username("happy"), username("lawrence"));
    let operator = deployment.operator();
    let mut options = deployment.run_options(&sim);
    // A Thursday: no weekly all-green line.
    let thursday = "2026-12-03T02:00:00Z".parse().unwrap();
    options.clock = herald::clock::Clock::accelerated(thursday, 1.0);
    let fleet = herald::fleet::start(&options).await.expect("fleet starts");
    let happy_dms = || {
        sim.sent()
            .into_iter()
            .filter(|s| s.bot == happy && s.chat_id == operator)
            .collect::<Vec<_>>()
    };
    let mut ran = 0;
    let mut run_probe = || {
        ran += 1;
        let expected = ran;
        sim.user_dms(operator, &lawrence, "/run capability-probe");
        let sim = &sim;
        let lawrence = &lawrence;
        async move {
            sim.wait_for(
                |sent| {
                    sent.iter()
                        .filter(|s| {
                            &s.bot == lawrence
                                && s.text.contains("capability-probe</b> ran by hand")
                        })
                        .count()
                        >= expected
                },
                common::PATIENCE,
            )
            .await
            .expect("the probe ran");
        }
    };

    // All green at the first probe: nothing to say (unless this machine's disk is nearly
    // full, which the probe rightly reports once: the counts below are relative).
    run_probe().await;
    common::settled(&sim, &fleet).await;
    let first = happy_dms();
    assert!(
        first
            .iter()
            .all(|dm| dm.text.contains("database: free disk")),
        "{first:#?}"
    );
    let base = first.len();

    // One regression: exactly one DM to the operator, from Happy.
    sim.remove_bot_from_group(&username("claudia"), true);
    run_probe().await;
    common::settled(&sim, &fleet).await;
    let dms = happy_dms();
    assert_eq!(dms.len(), base + 1, "{dms:#?}");
    insta::assert_snapshot!("daily_probe_regression", dms[base].text);

    // Unchanged: silence.
    run_probe().await;
    common::settled(&sim, &fleet).await;
    assert_eq!(happy_dms().len(), base + 1);

    // Recovered: one more DM, saying so.
    sim.add_bot_to_group(&username("claudia"));
    run_probe().await;
    common::settled(&sim, &fleet).await;
    let dms = happy_dms();
    assert_eq!(dms.len(), base + 2);
    assert!(
        dms[base + 1]
            .text
            .contains("claudia: member of team chat: BROKEN → <b>OK</b>"),
        "{}",
        dms[base + 1].text
    );

    // /status shows the newest probe.
    let status = common::ask(&sim, operator, &lawrence, "/status", "<b>Health</b>").await;
    assert!(status.text.contains("Last probe "), "{}", status.text);
    assert!(
        status.text.contains(" DEGRADED, 0 BROKEN"),
        "{}",
        status.text
    );
    fleet.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_first_run_the_database_is_degraded_and_the_audit_creates_none() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let out = audit(&deployment, &sim, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("DEGRADED database: open: no database yet (fix: `herald run` creates it at its first start)"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("the snapshot was not stored: there is no database yet"),
        "{}",
        text(&out.stderr)
    );
    assert!(!deployment.db_path().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_who_never_started_happy_is_broken_since_happy_dms_the_probe_and_brief() {
    let (deployment, sim) = deployment_with_database().await;
    let happy = deployment.config().bots["happy"].username.clone();
    let out = audit(&deployment, &sim, &[]);
    assert!(
        text(&out.stdout).contains(
            "OK       operator Wei Ming Tan: reachable by happy: @acme_happy_bot can DM them"
        ),
        "{}",
        text(&out.stdout)
    );
    sim.user_never_started(deployment.operator(), &happy);
    let out = audit(&deployment, &sim, &["--diff"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout).lines().skip(1).collect::<Vec<_>>(),
        ["operator Wei Ming Tan: reachable by happy: OK → BROKEN (Forbidden: bot can't initiate conversation with a user)"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_runs_once_at_every_start_when_the_boot_is_healthy() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let config = deployment.config();
    let username = |bot: &str| config.bots[bot].username.clone();
    let (happy, lawrence) = (username("happy"), username("lawrence"));
    let operator = deployment.operator();
    // Claudia was removed from the group while herald was down.
    sim.remove_bot_from_group(&username("claudia"), true);
    let mut options = deployment.run_options(&sim);
    options.healthy_after = std::time::Duration::from_millis(50);
    let fleet = herald::fleet::start(&options).await.expect("fleet starts");
    let store = fleet.store().clone();
    let start_runs = || {
        let store = store.clone();
        async move {
            sqlx::query_as::<_, (String, String)>(
                "SELECT job, state FROM job_slots WHERE trigger = 'start' ORDER BY slot",
            )
            .fetch_all(store.reader())
            .await
            .expect("job_slots")
        }
    };
    common::wait_until("the probe to run at start", || async {
        start_runs().await == [("capability-probe".to_owned(), "done".to_owned())]
    })
    .await;
    common::settled(&sim, &fleet).await;
    // Once: nothing more after the fleet settled.
    assert_eq!(start_runs().await.len(), 1);
    let probes: i64 =
        sqlx::query_scalar("SELECT count(*) FROM capability_snapshots WHERE source = 'probe'")
            .fetch_one(store.reader())
            .await
            .expect("snapshots");
    assert_eq!(probes, 1);
    // The first probe has nothing to compare with: what is not OK is news.
    let dms: Vec<_> = sim
        .sent()
        .into_iter()
        .filter(|s| s.bot == happy && s.chat_id == operator)
        .collect();
    assert_eq!(dms.len(), 1, "{dms:#?}");
    assert!(
        dms[0]
            .text
            .contains("claudia: member of team chat: new → <b>BROKEN</b>"),
        "{}",
        dms[0].text
    );
    // /status reports it.
    let status = common::ask(&sim, operator, &lawrence, "/status", "<b>Health</b>").await;
    assert!(status.text.contains("Last probe "), "{}", status.text);
    assert!(
        status.text.contains("BROKEN claudia: member of team chat"),
        "{}",
        status.text
    );
    fleet.stop().await.expect("clean stop");
}
