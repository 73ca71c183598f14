//! The binary as an operator meets it: `herald sandbox` on a fresh checkout with no tokens,
//! and `herald check` exit codes and output (never a token) on the shipped example.

mod common;

use std::process::Command;

use common::{assert_no_token, Deployment, REPO};

fn herald() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    for var in [
        "HERALD_CONFIG",
        "HERALD_DB",
        "HERALD_SECRETS",
        "HERALD_TELEGRAM_API_URL",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    command
}

/// `herald check` on `deployment` with its secrets file.
fn check(deployment: &Deployment) -> std::process::Output {
    herald()
        .arg("--config")
        .arg(deployment.path())
        .arg("--secrets")
        .arg(&deployment.secrets)
        .arg("check")
        .output()
        .expect("check runs")
}

#[test]
fn the_sandbox_shows_seven_bots_verified_and_answering() {
    let output = herald()
        .current_dir(REPO)
        .args(["sandbox", "--timeout-seconds", "30"])
        .output()
        .expect("sandbox runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for bot in herald::identity::IDENTITY_NAMES {
        assert!(
            stdout.contains(&format!("sandbox: {bot} verified as @acme_{bot}_bot")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("{bot} -> #")),
            "{bot} answered in a thread:\n{stdout}"
        );
    }
    assert!(stdout.contains("lawrence -> DM "), "{stdout}");
    assert!(
        stdout.contains("Sorry, this bot only works for its team."),
        "{stdout}"
    );
    assert!(stdout.contains("all bots stopped cleanly"), "{stdout}");
    assert!(
        !std::path::Path::new(REPO).join("state").exists(),
        "the sandbox leaves no database behind"
    );
}

#[test]
fn check_accepts_the_shipped_example_and_prints_no_token() {
    let deployment = Deployment::example();
    let output = check(&deployment);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.trim_end().ends_with(": ok"), "{text}");
    assert_no_token(&text, &deployment.tokens);
}

#[test]
fn check_reports_findings_as_file_field_problem_lines_with_exit_1() {
    let deployment = Deployment::example();
    let claudia = deployment.path().join("bots").join("claudia.toml");
    let text = std::fs::read_to_string(&claudia).unwrap();
    std::fs::write(&claudia, text.replacen("\"ar-brief\"", "\"ar-breif\"", 1)).unwrap();
    std::fs::write(
        deployment.path().join("templates").join("notes.txt"),
        format!("old token: {}\n", deployment.tokens["happy"]),
    )
    .unwrap();
    let output = check(&deployment);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("bots/claudia.toml: threads[0]: unknown thread \"ar-breif\"; bots/roster.toml has no such thread"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "templates/notes.txt: line 1: the bot token of happy is written here in plain text"
        ),
        "{stdout}"
    );
    assert_no_token(&stdout, &deployment.tokens);
}

#[test]
fn check_on_a_missing_folder_exits_2() {
    let output = herald()
        .args(["--config", "/nonexistent/herald-config", "check"])
        .output()
        .expect("check runs");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["check", "--help"],
        vec!["sandbox", "--help"],
    ] {
        let output = herald().args(&args).output().expect("help runs");
        assert!(output.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("--config"), "{args:?}: {text}");
    }
}
