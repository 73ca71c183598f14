//! `herald run` end to end against the simulator: seven bots start verified and answer
//! `/help` where they live; broken starts (swapped, dead, duplicate or silent tokens, an
//! unsafe secrets file) stop with a one-line reason naming the identity or file and send
//! nothing; a second instance is refused by Telegram's 409 and stops; no token ever appears
//! in the output. A fresh run keeps its state folder and database private whatever the umask,
//! and `check` names a database open to others with the fix.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{assert_no_token, Deployment};
use herald_sim::Fault;

const WAIT: Duration = Duration::from_secs(20);

fn usernames(deployment: &Deployment) -> BTreeMap<&'static str, String> {
    deployment
        .config()
        .bots
        .iter()
        .map(|(name, bot)| (*name, bot.username.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seven_bots_start_verified_answer_help_and_stop_on_sigterm() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let herald = deployment.spawn_herald(&sim, &["run", "--poll-seconds", "1"]);

    let config = deployment.config();
    let operator = deployment.operator();
    // Wait until all seven are polling, then ask each for /help in its first thread.
    common::wait_until_polling(&sim, 0, &herald.log).await;
    assert_eq!(sim.calls("getMe"), 7, "every identity verified once");
    let mut expected = Vec::new();
    for (name, bot) in &config.bots {
        let thread = config.roster.thread(&bot.threads[0]).expect("thread");
        sim.user_says_in_topic(
            operator,
            thread.message_thread_id,
            &format!("/help@{}", bot.username),
        );
        expected.push((*name, bot.username.clone(), thread.message_thread_id));
    }
    let sent = sim
        .wait_for(|s| s.len() >= 7, WAIT)
        .await
        .unwrap_or_else(|s| panic!("only {} answers: {s:#?}", s.len()));
    for (name, username, thread) in expected {
        let answer = sent
            .iter()
            .find(|r| r.bot == username)
            .unwrap_or_else(|| panic!("{name} did not answer"));
        assert_eq!(answer.thread_id, thread, "{name} answered in its thread");
        assert_eq!(answer.chat_id, config.roster.chat_id());
        assert!(answer.text.contains("/help"), "{name}: {}", answer.text);
    }
    // Commands were published once each.
    for username in usernames(&deployment).values() {
        assert!(
            sim.my_commands(username).is_some(),
            "{username} commands published"
        );
    }

    herald.terminate();
    let finished = herald.wait().await;
    assert_eq!(
        finished.code,
        Some(0),
        "clean exit on SIGTERM:\n{}",
        finished.output
    );
    assert_no_token(&finished.output, &deployment.tokens);
    // It has exited: what it sent is final.
    assert_eq!(
        sim.sent().len(),
        7,
        "nothing but the seven answers was sent"
    );
}

/// Runs a start that must be refused; returns its output after checking nothing was sent.
async fn refused_start(deployment: &Deployment, sim: &herald_sim::Simulator) -> String {
    let finished = deployment
        .spawn_herald(sim, &["run", "--poll-seconds", "1"])
        .wait()
        .await;
    assert_eq!(
        finished.code,
        Some(2),
        "start refused:\n{}",
        finished.output
    );
    assert_eq!(sim.calls("sendMessage"), 0, "nothing sent");
    assert_eq!(sim.calls("getUpdates"), 0, "nothing polled");
    assert!(!deployment.db_path().exists(), "no database created");
    assert_no_token(&finished.output, &deployment.tokens);
    finished.output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_tokens_stop_the_start_naming_both_identities() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let mut swapped = deployment.tokens.clone();
    swapped.insert("claudia", deployment.tokens["clawrence"].clone());
    swapped.insert("clawrence", deployment.tokens["claudia"].clone());
    deployment.write_secrets(&swapped);
    let output = refused_start(&deployment, &sim).await;
    let users = usernames(&deployment);
    assert!(
        output.contains(&format!(
            "claudia: the token answers as @{}, which is clawrence's username: tokens swapped? expected @{}",
            users["clawrence"], users["claudia"]
        )),
        "{output}"
    );
    assert!(
        output.contains("clawrence: the token answers as"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_token_stops_the_start_naming_the_identity() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let mut tokens = deployment.tokens.clone();
    tokens.insert("happy", "424242:revoked-token".to_owned());
    deployment.write_secrets(&tokens);
    let output = refused_start(&deployment, &sim).await;
    assert!(
        output.contains("happy: Telegram rejected the token (401 Unauthorized)"),
        "{output}"
    );
    assert!(!output.contains("424242:revoked-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_get_me_stops_the_start_after_five_seconds() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let username = usernames(&deployment)["claims"].clone();
    sim.inject_fault(&username, "getMe", Fault::Timeout(Duration::from_secs(8)));
    let output = refused_start(&deployment, &sim).await;
    assert!(
        output.contains("claims: getMe did not answer within 5 s"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_token_stops_the_start_naming_both_identities() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let mut tokens = deployment.tokens.clone();
    tokens.insert("pakgupei", deployment.tokens["gymbooker"].clone());
    deployment.write_secrets(&tokens);
    let output = refused_start(&deployment, &sim).await;
    assert!(
        output.contains("gymbooker") && output.contains("pakgupei"),
        "{output}"
    );
    assert!(output.contains("same token"), "{output}");
    assert_eq!(
        sim.calls("getMe"),
        0,
        "duplicates are caught before any call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_world_readable_secrets_file_stops_the_start_naming_the_file() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    std::fs::set_permissions(&deployment.secrets, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = refused_start(&deployment, &sim).await;
    let path = deployment.secrets.display().to_string();
    assert!(output.contains(&path), "{output}");
    assert!(output.contains(&format!("chmod 600 {path}")), "{output}");
    assert_eq!(sim.calls("getMe"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_makes_one_stop_on_409_without_restarting() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let first = deployment.spawn_herald(&sim, &["run", "--poll-seconds", "2"]);
    common::wait_until_polling(&sim, 0, &first.log).await;
    // The second instance uses its own database, as a copy on another machine would.
    let mut second = deployment.herald(&sim, &["run", "--poll-seconds", "2"]);
    second.arg("--db").arg(format!(
        "sqlite://{}",
        deployment.path().join("other.db").display()
    ));
    let second = deployment.spawn_command(second);
    let mut children = vec![first, second];
    let one_stopped = common::try_wait_until(common::PATIENCE, || {
        std::future::ready(children.iter_mut().any(|c| c.exited()))
    })
    .await;
    assert!(one_stopped, "neither instance stopped");
    let i = children
        .iter_mut()
        .position(|c| c.exited())
        .expect("one exited");
    let stopped = children.remove(i);
    let finished = stopped.wait().await;
    assert_eq!(finished.code, Some(1), "{}", finished.output);
    assert!(
        finished.output.contains("409 Conflict"),
        "{}",
        finished.output
    );
    assert!(
        finished.output.contains("another herald instance"),
        "{}",
        finished.output
    );
    let survivor = children.remove(0);
    survivor.terminate();
    let survivor = survivor.wait().await;
    assert_no_token(&finished.output, &deployment.tokens);
    assert_no_token(&survivor.output, &deployment.tokens);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_cleanly_and_audits_the_stop() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let herald = deployment.spawn_herald(&sim, &["run", "--poll-seconds", "1"]);
    common::wait_until_polling(&sim, 0, &herald.log).await;
    herald.interrupt();
    let finished = herald.wait().await;
    assert_eq!(finished.code, Some(0), "{}", finished.output);
    assert!(
        finished.output.contains("stopped cleanly"),
        "{}",
        finished.output
    );
    let store = herald::store::Store::open(&deployment.db_url())
        .await
        .unwrap();
    let stops: Vec<String> =
        sqlx::query_scalar("SELECT decision FROM audit WHERE kind = 'boot' ORDER BY seq")
            .fetch_all(store.reader())
            .await
            .unwrap();
    assert_eq!(stops, vec!["started", "stopped"]);
}

/// Starts `herald run` with `args` (global options) until all seven bots poll, stops it, and
/// returns everything it wrote (stdout and stderr go to one file, as under a service manager).
async fn output_of_a_short_run(args: &[&str]) -> String {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let mut all = args.to_vec();
    all.extend(["run", "--poll-seconds", "1"]);
    let herald = deployment.spawn_herald(&sim, &all);
    common::wait_until_polling(&sim, 0, &herald.log).await;
    herald.terminate();
    let finished = herald.wait().await;
    assert_eq!(finished.code, Some(0), "{}", finished.output);
    finished.output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_to_a_file_carry_no_colour_codes() {
    let output = output_of_a_short_run(&[]).await;
    assert!(output.contains("verified and running"), "{output}");
    assert!(
        !output.contains('\u{1b}'),
        "ANSI escape codes in a log that is not a terminal:\n{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_json_writes_one_object_per_line() {
    let output = output_of_a_short_run(&["--log-format", "json"]).await;
    let mut verified = 0;
    for line in output.lines().filter(|l| !l.trim().is_empty()) {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(object["level"].is_string(), "{line}");
        assert!(object["timestamp"].is_string(), "{line}");
        if object["fields"]["message"] == "verified and running" {
            verified += 1;
        }
    }
    assert_eq!(verified, 7, "one line per bot:\n{output}");
}

/// The mode bits of `path`.
fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_run_keeps_its_state_private_whatever_the_umask() {
    use std::os::unix::process::CommandExt;
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let mut command = deployment.herald(&sim, &["run", "--poll-seconds", "1"]);
    // SAFETY: only umask, between fork and exec: the most permissive mask there is.
    unsafe {
        command.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let herald = deployment.spawn_command(command);
    common::wait_until_polling(&sim, 0, &herald.log).await;
    let db = deployment.db_path();
    let state = db.parent().expect("state folder").to_owned();
    assert_eq!(mode(&state), 0o700, "{}", state.display());
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    herald.terminate();
    let finished = herald.wait().await;
    assert_eq!(finished.code, Some(0), "{}", finished.output);
    assert!(
        !finished.output.contains("open to group or others"),
        "{}",
        finished.output
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_run_name_a_database_open_to_others_and_the_fix() {
    let deployment = Deployment::example();
    let state = deployment.path().join("state");
    std::fs::create_dir(&state).expect("state");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let db = state.join("herald.db");
    std::fs::write(&db, b"").expect("db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let output = common::herald()
        .arg("--config")
        .arg(deployment.path())
        .arg("--secrets")
        .arg(&deployment.secrets)
        .arg("check")
        .output()
        .expect("herald check runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "a warning, not a finding:\n{stderr}"
    );
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning:")).collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(
        warnings[0].contains("(mode 0755)")
            && warnings[0].ends_with(&format!("fix: chmod 700 {}", state.display())),
        "{stderr}"
    );
    assert!(
        warnings[1].contains("(mode 0644)")
            && warnings[1].ends_with(&format!("fix: chmod 600 {}", db.display())),
        "{stderr}"
    );
    assert_eq!(mode(&db), 0o644, "a warning changes nothing");

    // `herald run` on the same (default) database says the same, and runs.
    let sim = deployment.simulator().await;
    let herald = deployment
        .spawn_command(deployment.herald_on_default_db(&sim, &["run", "--poll-seconds", "1"]));
    common::wait_until_polling(&sim, 0, &herald.log).await;
    herald.terminate();
    let finished = herald.wait().await;
    assert_eq!(finished.code, Some(0), "{}", finished.output);
    assert!(
        finished.output.contains(&format!(
            "herald run: warning: {} is open to group or others (mode 0644)",
            db.display()
        )),
        "{}",
        finished.output
    );
}
