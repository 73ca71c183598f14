//! Going live, end to end through the binary: `herald init` writes a folder whose check lists
//! exactly the blanked fields; a healthy boot saves the configuration, a refused start names
//! it, and `herald config diff | restore` compare with it and bring it back.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{herald, wait_until, Deployment};
use herald::deploy::config_backup;
use herald::identity::IDENTITY_NAMES;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(command: &mut std::process::Command) -> Output {
    command.output().expect("herald runs")
}

#[test]
fn init_then_check_lists_only_the_blanked_fields_and_filling_them_makes_it_clean() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("acme");
    let out = run(herald().arg("init").arg(&dir));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("herald check --config"));

    let check = |dir: &Path| run(herald().arg("check").arg("--config").arg(dir));
    let out = check(&dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let findings = text(&out.stdout).replace(&dir.display().to_string(), "DIR");
    insta::assert_snapshot!("init_then_check", findings);

    // Writing init over anything is refused and changes nothing.
    let roster = std::fs::read_to_string(dir.join("bots/roster.toml")).unwrap();
    let out = run(herald().arg("init").arg(&dir));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is not empty: herald init only writes a new folder"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("bots/roster.toml")).unwrap(),
        roster
    );

    // Filling exactly the listed fields leaves nothing to report.
    for name in IDENTITY_NAMES {
        let path = dir.join(format!("bots/{name}.toml"));
        let toml = std::fs::read_to_string(&path).unwrap();
        let filled = toml.replace("username = \"\"", &format!("username = \"ops_{name}_bot\""));
        std::fs::write(&path, filled).unwrap();
    }
    let tokens: serde_json::Map<String, serde_json::Value> = IDENTITY_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| (name.to_string(), format!("{}:AAA{name}", 100 + i).into()))
        .collect();
    std::fs::write(
        dir.join("secrets.json"),
        serde_json::json!({ "telegram": tokens }).to_string(),
    )
    .unwrap();
    let path = dir.join("bots/roster.toml");
    let mut roster: toml_edit::DocumentMut =
        std::fs::read_to_string(&path).unwrap().parse().unwrap();
    roster["team"]["name"] = toml_edit::value("Ops Team");
    roster["team"]["chat_id"] = toml_edit::value(-1001234567890_i64);
    roster["team"]["timezone"] = toml_edit::value("Europe/London");
    let threads = roster["threads"].as_array_of_tables_mut().unwrap();
    for (id, thread) in (2_i64..).zip(threads.iter_mut()) {
        if thread.contains_key("message_thread_id") {
            thread["message_thread_id"] = toml_edit::value(id);
        }
    }
    let member = roster["members"]
        .as_array_of_tables_mut()
        .unwrap()
        .get_mut(0)
        .unwrap();
    member["name"] = toml_edit::value("Ada Ops");
    member["telegram_id"] = toml_edit::value(4242_i64);
    std::fs::write(&path, roster.to_string()).unwrap();
    let out = check(&dir);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), format!("{}: ok\n", dir.display())),
        "{}",
        text(&out.stderr)
    );
}

/// `herald config ...` on the deployment.
fn config(deployment: &Deployment, args: &[&str]) -> Output {
    run(herald()
        .arg("--config")
        .arg(deployment.path())
        .arg("config")
        .args(args))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_boot_saves_the_config_a_refused_start_names_it_and_restore_brings_it_back() {
    let deployment = Deployment::example();
    let secrets_before = std::fs::read(&deployment.secrets).unwrap();
    let sim = deployment.simulator().await;
    let mut options = deployment.run_options(&sim);
    options.healthy_after = Duration::from_millis(50);
    let dir = deployment.path().to_owned();

    let out = config(&deployment, &["diff"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no configuration has been saved yet"));

    std::fs::write(dir.join("bots/secrets.json"), "{}").unwrap();
    let fleet = herald::fleet::start(&options).await.expect("fleet starts");
    wait_until("the configuration is saved as good", || {
        let dir = dir.clone();
        async move { !config_backup::list(&dir).unwrap().is_empty() }
    })
    .await;
    fleet.stop().await.expect("clean stop");
    let backups = config_backup::list(&dir).unwrap();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let good = backups[0].clone();
    assert_eq!(
        std::fs::read(good.path.join("bots/roster.toml")).unwrap(),
        std::fs::read(dir.join("bots/roster.toml")).unwrap()
    );
    // Exactly the files herald reads: never a secrets file, even one kept in bots/.
    assert_eq!(
        config_backup::ConfigFiles::read(&good.path).unwrap(),
        config_backup::ConfigFiles::read(&dir).unwrap()
    );
    assert!(dir.join("bots/secrets.json").exists());
    assert!(!good.path.join("bots/secrets.json").exists());

    // A broken edit: refused at start, naming the last good configuration.
    deployment.edit(
        "roster.toml",
        "chat_id = -1002233445566",
        "chat_id = -2233445566",
    );
    deployment.edit(
        "happy.toml",
        "threads = [\"general\"]",
        "threads = [\"ops\"]",
    );
    let out = run(&mut deployment.herald(&sim, &["run"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "last good config: {}; `herald config diff` shows what changed",
            good.path.display()
        )),
        "{stderr}"
    );

    let out = config(&deployment, &["backups"]);
    assert_eq!(text(&out.stdout), format!("{}  last-good\n", good.stamp));
    let out = config(&deployment, &["diff"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let against = config(&deployment, &["diff", "--against", &good.stamp]);
    assert_eq!(against.stdout, out.stdout);
    insta::assert_snapshot!(
        "config_diff",
        text(&out.stdout).replace(&good.stamp, "STAMP")
    );
    let out = config(&deployment, &["diff", "--against", "20200101T000000Z"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no saved configuration 20200101T000000Z"));

    let out = config(&deployment, &["restore", &good.stamp]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!("restored {} (", good.stamp)),
        "{stdout}"
    );
    let stamps = regex::Regex::new(r"\d{8}T\d{6}Z").unwrap();
    insta::assert_snapshot!(
        "config_restore",
        stamps.replace_all(&stdout.replace(&dir.display().to_string(), "DIR"), "STAMP")
    );
    let out = config(&deployment, &["diff"]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), format!("no changes since {}\n", good.stamp))
    );
    let replaced = std::fs::read_dir(dir.join("state/config-replaced"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let broken = std::fs::read_to_string(replaced.join("bots/roster.toml")).unwrap();
    assert!(broken.contains("chat_id = -2233445566"));
    assert_eq!(std::fs::read(&deployment.secrets).unwrap(), secrets_before);

    // The restored configuration starts; unchanged, it saves no second copy.
    let fleet = herald::fleet::start(&options)
        .await
        .expect("restored starts");
    let store = fleet.store().reader().clone();
    wait_until("this boot is healthy", || {
        let store = store.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM boots WHERE healthy_at IS NOT NULL")
                .fetch_one(&store)
                .await
                .unwrap()
                == 2
        }
    })
    .await;
    fleet.stop().await.expect("clean stop");
    assert_eq!(config_backup::list(&dir).unwrap(), backups);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_prints_what_the_bots_see_flags_what_differs_and_leaves_it_for_herald_run() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let (member, operator) = (deployment.member(), deployment.operator());
    let happy = deployment.config().bots["happy"].username.clone();
    // The roster has one topic id and one person's id wrong (the simulator has them right).
    deployment.edit(
        "roster.toml",
        "message_thread_id = 12",
        "message_thread_id = 99",
    );
    deployment.edit(
        "roster.toml",
        &format!("telegram_id = {member}"),
        "telegram_id = 1000001",
    );
    sim.user_says_in_topic(member, Some(12), "Done: Q3 filing");
    sim.user_dms(operator, &happy, "/help");

    let out = run(&mut deployment.herald(&sim, &["discover", "--seconds", "1"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!("discover", text(&out.stdout));
    assert!(!deployment.db_path().exists(), "discover wrote no database");
    assert_eq!(sim.pending_updates(&happy), 1, "the DM is still waiting");

    // herald run (with the roster put right) answers the DM discover saw.
    deployment.edit(
        "roster.toml",
        "message_thread_id = 99",
        "message_thread_id = 12",
    );
    deployment.edit(
        "roster.toml",
        "telegram_id = 1000001",
        &format!("telegram_id = {member}"),
    );
    let mut herald = deployment.spawn_herald(&sim, &["run"]);
    let answered = sim
        .wait_for(
            |sent| sent.iter().any(|s| s.bot == happy && s.chat_id == operator),
            common::PATIENCE,
        )
        .await;
    // Beside the running herald (which holds the database), discover is refused: both would
    // read the bots' updates.
    let beside = run(&mut deployment.herald(&sim, &["discover", "--seconds", "1"]));
    herald.stop().await;
    assert!(answered.is_ok(), "{}", herald.output());
    assert_eq!(beside.status.code(), Some(2));
    assert!(
        text(&beside.stderr).contains("herald discover: refused: herald pid "),
        "{}",
        text(&beside.stderr)
    );
}

/// Runs `herald run` as systemd would with a watchdog of 300 ms, and waits until it has
/// said both READY=1 and WATCHDOG=1 on its notify socket.
async fn ready_and_fed_under_systemd(deployment: &Deployment, sim: &herald_sim::Simulator) {
    let socket_path = deployment.path().join("notify.sock");
    let _ = std::fs::remove_file(&socket_path);
    let socket = tokio::net::UnixDatagram::bind(&socket_path).unwrap();
    let run = deployment.herald(sim, &["run", "--poll-seconds", "1"]);
    // systemd names the watched process in WATCHDOG_PID: the shell execs herald in its place.
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg(r#"WATCHDOG_PID=$$ exec "$0" "$@""#)
        .arg(run.get_program())
        .args(run.get_args())
        .env("RUST_LOG", "info")
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "300000");
    let mut herald = deployment.spawn_command(command);
    let mut received = Vec::new();
    let mut buffer = [0_u8; 256];
    let has = |received: &[String], message: &str| received.iter().any(|m| m == message);
    while !(has(&received, "READY=1\n") && has(&received, "WATCHDOG=1\n")) {
        let read = tokio::time::timeout(common::PATIENCE, socket.recv(&mut buffer)).await;
        let Ok(Ok(n)) = read else {
            panic!("no notification; got {received:?}: {}", herald.output());
        };
        received.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
    }
    herald.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_systemd_herald_run_reports_ready_and_keeps_the_watchdog_fed() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    ready_and_fed_under_systemd(&deployment, &sim).await;

    // In diagnose mode no scheduler runs; the watchdog is fed all the same, or systemd would
    // kill herald into yet another unhealthy boot.
    let clawrence = deployment.config().bots["clawrence"].username.clone();
    for _ in 0..3 {
        sim.inject_fault(
            &clawrence,
            "getUpdates",
            herald_sim::Fault::api(409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"),
        );
        let finished = deployment
            .spawn_herald(&sim, &["run", "--poll-seconds", "1"])
            .wait()
            .await;
        assert_eq!(finished.code, Some(1), "{}", finished.output);
    }
    ready_and_fed_under_systemd(&deployment, &sim).await;
    let diagnosed = sim.sent().iter().any(|r| r.text.contains("diagnose mode"));
    assert!(diagnosed, "the last start was in diagnose mode");
}
