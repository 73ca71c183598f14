//! The binary as an operator meets it: `herald sandbox` on a fresh checkout with no tokens,
//! and `herald check` exit codes and output (never a token) on the shipped example.

mod common;

use common::{assert_no_token, herald, Deployment, REPO};

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
        .args(["sandbox", "--timeout-seconds", "120"])
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
    // The weekday: updates, volts (one refused), the 11:00 laser-chase and 12:00 leaderboard.
    for line in [
        "Marcus Lim edits their message",
        "clawrence -> #volts: ⚡ @priya_raman gave @siti_rahman 3 volts: covered my client calls",
        "clawrence -> #daily-updates: ⚡ @siti_rahman gave @priya_raman 2 volts: great update",
        "clawrence -> #volts: No self-volts: give them to someone else.",
        "clawrence -> #daily-updates: 🔦 Laser-chase · Friday 20 November 2026 | Hui Min Ong: ",
        "3 of 6 updates are in.",
        "clawrence -> #volts: 🏆 Volts leaderboard · Mon 16 Nov to Sun 22 Nov | 1. Siti Rahman: 3 ⚡ | 2. Priya Raman: 2 ⚡ | Given today: 5 ⚡",
    ] {
        assert!(stdout.contains(line), "{line:?} missing:\n{stdout}");
    }
    // Friday finance against the fake Xero: cards, one approval by button, one by reply,
    // both confirmed by Claudia once Xero has them, and the AR brief.
    for line in [
        "claudia -> #approvals: 🧾 Invoice INV-0061 awaits approval | Lim & Co <Events> · SGD 3,270.00",
        "Wei Ming Tan taps [Approve] on the first card",
        "Priya Raman replies to the second card: approve",
        "claudia -> #approvals: ✅ Invoice INV-0061 (Lim & Co <Events>, SGD 3,270.00) approved by Wei Ming Tan",
        "claudia -> #approvals: ✅ Invoice INV-0062 (Harbour Café, SGD 3,270.00) approved by Priya Raman",
        "claudia -> #ar-brief: 💰 Unpaid receivables · Fri 20 Nov 2026",
    ] {
        assert!(stdout.contains(line), "{line:?} missing:\n{stdout}");
    }
    // An expense claim: a receipt photo captioned /claim, approved by button, confirmed by
    // Claims in #claims and to the claimant.
    for line in [
        "Siti Rahman sends a receipt photo in #claims: /claim 45.20 SGD taxi to client meeting",
        "claims -> #claims: 🧾 Claim C-0001 filed: SGD 45.20 for taxi to client meeting. It needs one approver. Receipt attached.",
        "claims -> #claims: 🧾 Claim C-0001 · Siti Rahman | SGD 45.20: taxi to client meeting | 📎 Receipt attached (photo)",
        "Wei Ming Tan taps [Approve] on the claim's card",
        "claims -> #claims (edit): 🧾 Claim C-0001 · Siti Rahman | SGD 45.20: taxi to client meeting | 📎 Receipt attached (photo) | ✅ Approved by Wei Ming Tan at Fri 20 Nov ",
        "claims -> #claims: ✅ Claim C-0001 (SGD 45.20, taxi to client meeting) of Siti Rahman approved by Wei Ming Tan.",
        "claims -> DM Siti Rahman: ✅ Your claim C-0001 (SGD 45.20, taxi to client meeting) was approved by Wei Ming Tan.",
    ] {
        assert!(stdout.contains(line), "{line:?} missing:\n{stdout}");
    }
    // GymBooker against the fake Mindbody: booked at the window's opening, 06:30 full.
    for line in [
        "gymbooker -> DM Wei Ming Tan: ✅ 06:30 full; booked Sun 22 Nov 07:30 CrossFit.",
        "sandbox: GymBooker's first booking request reached the fake Mindbody ",
    ] {
        assert!(stdout.contains(line), "{line:?} missing:\n{stdout}");
    }
    // HR rituals against the fake Talenox: the pulse with every section, and a cake reminder
    // to each cake-role member.
    for line in [
        "clawrence -> #pulse: 💓 Team pulse · Friday 20 November 2026 | 🎂 Birthdays | Happy birthday, Wei Ming Tan! | 🎉 Work anniversaries | Priya Raman: 3 years with us today | 🌴 Out today | Daniel Koh (Annual Leave, until Sun 22 Nov) | ⏳ Leave waiting for approval | Siti Rahman: Annual Leave, Fri 4 Dec to Sun 6 Dec, waiting 4 days. @weiming_tan, please approve or reject it in Talenox. | 🛂 Work passes | Marcus Lim: Employment Pass expires in 30 days (Sun 20 Dec 2026).",
        "clawrence -> DM Priya Raman: 🎂 Cake alert, Priya Raman: Hui Min Ong has a birthday on Monday 23 November, 3 days from now.",
        "clawrence -> DM Siti Rahman: 🎂 Cake alert",
        "clawrence -> DM Marcus Lim: 🎂 Cake alert",
    ] {
        assert!(stdout.contains(line), "{line:?} missing:\n{stdout}");
    }
    // Health: a topic deleted mid-session; Happy's probe DMs it, the morning brief shows it,
    // and /status names it.
    for line in [
        "sandbox: someone deletes the #calls topic",
        "happy -> DM Wei Ming Tan: 🩺 Capability probe (Fri 20 Nov ",
        "🔴 pakgupei: thread calls: new → BROKEN: the topic is gone (Bad Request: message thread not found)",
        "happy -> DM Wei Ming Tan: ☀️ Morning brief, Friday 20 November | Today's posts | 08:00 capability-probe (happy → operators' DMs)",
        "| Out today | Daniel Koh |",
        "| Health | BROKEN pakgupei: thread calls: the topic is gone",
        " | Health | Last probe Fri 20 Nov ",
    ] {
        assert!(stdout.contains(line), "{line:?} missing:\n{stdout}");
    }
    for spared in ["@priya_raman: ", "@siti_rahman: ", "@marcuslim_sg: "] {
        assert!(!stdout.contains(spared), "{spared} was chased:\n{stdout}");
    }
    // The console part: /status, a pause in the middle of a burst, resume, a button.
    for line in [
        "DMs @acme_lawrence_bot: /status",
        "lawrence -> DM Wei Ming Tan: herald status",
        "DMs @acme_lawrence_bot: /pause all",
        "2 s later Clawrence has posted nothing more",
        "DMs @acme_lawrence_bot: /resume all",
        "taps [Mark sent]",
        "Decided: marked sent by Wei Ming Tan",
        "the tap was answered: Marked as sent",
    ] {
        assert!(stdout.contains(line), "{line:?} missing:\n{stdout}");
    }
    let pause = stdout.find(": /pause all").expect("pause");
    let resume = stdout.find(": /resume all").expect("resume");
    let between = &stdout[pause..resume];
    assert!(
        !between.contains("clawrence -> "),
        "nothing from Clawrence while paused:\n{between}"
    );
    assert!(
        stdout[resume..].contains("clawrence -> #general"),
        "the held replies go out after resume"
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
        vec!["pause", "--help"],
        vec!["resume", "--help"],
        vec!["schedule", "--help"],
        vec!["sandbox", "--help"],
    ] {
        let output = herald().args(&args).output().expect("help runs");
        assert!(output.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("--config"), "{args:?}: {text}");
    }
}

#[test]
fn help_lists_every_subcommand() {
    let output = herald().arg("--help").output().expect("help runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let commands: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for command in ["run", "check", "pause", "resume", "schedule", "sandbox"] {
        assert!(commands.contains(&command), "{command} missing:\n{text}");
    }
}

/// stdout and stderr of a finished command, as text.
fn texts(output: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `herald schedule --next N` on `deployment`, with the clock started at `now`.
fn schedule(deployment: &Deployment, now: &str, next: &str) -> std::process::Output {
    herald()
        .arg("--config")
        .arg(deployment.path())
        .args(["--clock-start", now, "schedule", "--next", next])
        .output()
        .expect("schedule runs")
}

/// The jobs of the shipped example, from Friday 2026-11-20 12:00 in Singapore.
const EXAMPLE_SCHEDULE: &str = "\
claims-summary (claims -> #claims, \"0 17 * * FRI\" Asia/Singapore, catch_up within 30 min)
  Fri 2026-11-20 17:00 +08 (09:00 UTC)
  Fri 2026-11-27 17:00 +08 (09:00 UTC)
  Fri 2026-12-04 17:00 +08 (09:00 UTC)
  Fri 2026-12-11 17:00 +08 (09:00 UTC)
  Fri 2026-12-18 17:00 +08 (09:00 UTC)
team-pulse (clawrence -> #pulse, \"0 9 * * MON-FRI\" Asia/Singapore, catch_up within 30 min)
  Mon 2026-11-23 09:00 +08 (01:00 UTC)
  Tue 2026-11-24 09:00 +08 (01:00 UTC)
  Wed 2026-11-25 09:00 +08 (01:00 UTC)
  Thu 2026-11-26 09:00 +08 (01:00 UTC)
  Fri 2026-11-27 09:00 +08 (01:00 UTC)
laser-chase (clawrence -> #daily-updates, \"0 11 * * MON-FRI\" Asia/Singapore, catch_up within 30 min)
  Mon 2026-11-23 11:00 +08 (03:00 UTC)
  Tue 2026-11-24 11:00 +08 (03:00 UTC)
  Wed 2026-11-25 11:00 +08 (03:00 UTC)
  Thu 2026-11-26 11:00 +08 (03:00 UTC)
  Fri 2026-11-27 11:00 +08 (03:00 UTC)
volts-leaderboard (clawrence -> #volts, \"0 12 * * MON-FRI\" Asia/Singapore, catch_up within 30 min)
  Mon 2026-11-23 12:00 +08 (04:00 UTC)
  Tue 2026-11-24 12:00 +08 (04:00 UTC)
  Wed 2026-11-25 12:00 +08 (04:00 UTC)
  Thu 2026-11-26 12:00 +08 (04:00 UTC)
  Fri 2026-11-27 12:00 +08 (04:00 UTC)
capability-probe (happy -> operators' DMs, \"0 8 * * *\" Asia/Singapore, catch_up within 30 min)
  Sat 2026-11-21 08:00 +08 (00:00 UTC)
  Sun 2026-11-22 08:00 +08 (00:00 UTC)
  Mon 2026-11-23 08:00 +08 (00:00 UTC)
  Tue 2026-11-24 08:00 +08 (00:00 UTC)
  Wed 2026-11-25 08:00 +08 (00:00 UTC)
morning-brief (happy -> operators' DMs, \"30 8 * * *\" Asia/Singapore, catch_up within 30 min)
  Sat 2026-11-21 08:30 +08 (00:30 UTC)
  Sun 2026-11-22 08:30 +08 (00:30 UTC)
  Mon 2026-11-23 08:30 +08 (00:30 UTC)
  Tue 2026-11-24 08:30 +08 (00:30 UTC)
  Wed 2026-11-25 08:30 +08 (00:30 UTC)
weekly-call-reminder (pakgupei -> #calls, \"45 9 * * MON\" Asia/Singapore, skip)
  Mon 2026-11-23 09:45 +08 (01:45 UTC)
  Mon 2026-11-30 09:45 +08 (01:45 UTC)
  Mon 2026-12-07 09:45 +08 (01:45 UTC)
  Mon 2026-12-14 09:45 +08 (01:45 UTC)
  Mon 2026-12-21 09:45 +08 (01:45 UTC)
";

#[test]
fn schedule_prints_the_next_slots_of_every_job() {
    let deployment = Deployment::example();
    let output = schedule(&deployment, "2026-11-20T04:00:00Z", "5");
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(stdout, EXAMPLE_SCHEDULE);
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn schedule_defaults_to_five_slots_and_honours_next() {
    let deployment = Deployment::example();
    let output = herald()
        .arg("--config")
        .arg(deployment.path())
        .args(["--clock-start", "2026-11-20T04:00:00Z", "schedule"])
        .output()
        .expect("schedule runs");
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(stdout, EXAMPLE_SCHEDULE);

    // A slot exactly at the clock's start is not upcoming: Monday 09:00 gives Tuesday first.
    let output = schedule(&deployment, "2026-11-23T01:00:00Z", "1");
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "\
claims-summary (claims -> #claims, \"0 17 * * FRI\" Asia/Singapore, catch_up within 30 min)
  Fri 2026-11-27 17:00 +08 (09:00 UTC)
team-pulse (clawrence -> #pulse, \"0 9 * * MON-FRI\" Asia/Singapore, catch_up within 30 min)
  Tue 2026-11-24 09:00 +08 (01:00 UTC)
laser-chase (clawrence -> #daily-updates, \"0 11 * * MON-FRI\" Asia/Singapore, catch_up within 30 min)
  Mon 2026-11-23 11:00 +08 (03:00 UTC)
volts-leaderboard (clawrence -> #volts, \"0 12 * * MON-FRI\" Asia/Singapore, catch_up within 30 min)
  Mon 2026-11-23 12:00 +08 (04:00 UTC)
capability-probe (happy -> operators' DMs, \"0 8 * * *\" Asia/Singapore, catch_up within 30 min)
  Tue 2026-11-24 08:00 +08 (00:00 UTC)
morning-brief (happy -> operators' DMs, \"30 8 * * *\" Asia/Singapore, catch_up within 30 min)
  Tue 2026-11-24 08:30 +08 (00:30 UTC)
weekly-call-reminder (pakgupei -> #calls, \"45 9 * * MON\" Asia/Singapore, skip)
  Mon 2026-11-23 09:45 +08 (01:45 UTC)
"
    );

    let output = schedule(&deployment, "2026-11-20T04:00:00Z", "0");
    assert_eq!(output.status.code(), Some(2), "--next 0 is refused");
}

#[test]
fn schedule_on_a_broken_config_exits_2_and_says_why() {
    let deployment = Deployment::example();
    let pakgupei = deployment.path().join("bots").join("pakgupei.toml");
    let text = std::fs::read_to_string(&pakgupei).unwrap();
    std::fs::write(
        &pakgupei,
        text.replacen("\"45 9 * * MON\"", "\"45 9 * *\"", 1),
    )
    .unwrap();
    let output = schedule(&deployment, "2026-11-20T04:00:00Z", "5");
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(
        stderr,
        "herald schedule: the configuration has problems (run `herald check`):\n\
         bots/pakgupei.toml: jobs[0].cron: \"45 9 * *\": expected 5 fields (minute hour day-of-month month day-of-week), found 4\n"
    );
    assert_no_token(&stderr, &deployment.tokens);

    let output = herald()
        .args(["--config", "/nonexistent/herald-config", "schedule"])
        .output()
        .expect("schedule runs");
    let (_, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr.starts_with("herald schedule: cannot read config folder /nonexistent/herald-config"),
        "{stderr}"
    );
}

/// `herald pause|resume WORDS...` on `deployment` with the database at `db`.
fn kill_switch(deployment: &Deployment, db: &str, words: &[&str]) -> (Option<i32>, String, String) {
    let output = herald()
        .arg("--config")
        .arg(deployment.path())
        .args(["--db", db])
        .args(words)
        .output()
        .expect("pause runs");
    let (stdout, stderr) = texts(&output);
    (output.status.code(), stdout, stderr)
}

fn pause_db(deployment: &Deployment) -> (String, std::path::PathBuf) {
    let path = deployment.path().join("state").join("x.db");
    (format!("sqlite://{}", path.display()), path)
}

#[test]
fn pause_and_resume_all_say_what_changed() {
    let deployment = Deployment::example();
    let (db, path) = pause_db(&deployment);
    let steps: [(&[&str], &str); 4] = [
        (
            &["pause", "all"],
            "paused all: a running herald holds its next send; scheduled slots are skipped until `herald resume all`\npaused now: all\n",
        ),
        (&["pause", "all"], "all was already paused\npaused now: all\n"),
        (&["resume", "all"], "resumed all\nnothing is paused now\n"),
        (&["resume", "all"], "all was not paused\nnothing is paused now\n"),
    ];
    for (words, expected) in steps {
        let (code, stdout, stderr) = kill_switch(&deployment, &db, words);
        assert_eq!(code, Some(0), "{words:?}: {stdout}{stderr}");
        assert_eq!(stdout, expected, "{words:?}");
        assert!(stderr.is_empty(), "{words:?}: {stderr}");
    }
    assert!(path.exists(), "the pause is written to --db");

    // Without words, `all` is meant.
    let (code, stdout, _) = kill_switch(&deployment, &db, &["pause"]);
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("paused all: "), "{stdout}");
    assert!(stdout.ends_with("\npaused now: all\n"), "{stdout}");
}

#[test]
fn pause_without_db_writes_the_default_database() {
    let deployment = Deployment::example();
    let output = herald()
        .arg("--config")
        .arg(deployment.path())
        .args(["pause", "all"])
        .output()
        .expect("pause runs");
    let (stdout, stderr) = texts(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        deployment.path().join("state").join("herald.db").exists(),
        "{stdout}"
    );
}

#[test]
fn pause_a_job_and_a_bot_lists_both() {
    let deployment = Deployment::example();
    let (db, _) = pause_db(&deployment);
    let (code, stdout, stderr) = kill_switch(&deployment, &db, &["pause", "job", "team-pulse"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "paused job team-pulse: a running herald holds its next send; scheduled slots are skipped until `herald resume job team-pulse`\n\
         paused now: job team-pulse\n"
    );
    let (code, stdout, stderr) = kill_switch(&deployment, &db, &["pause", "bot", "clawrence"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "paused bot clawrence: a running herald holds its next send; scheduled slots are skipped until `herald resume bot clawrence`\n\
         paused now: bot clawrence, job team-pulse\n"
    );
    let (code, stdout, _) = kill_switch(&deployment, &db, &["resume", "job", "team-pulse"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        "resumed job team-pulse\npaused now: bot clawrence\n"
    );
    let (code, stdout, _) = kill_switch(&deployment, &db, &["resume", "bot", "clawrence"]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout, "resumed bot clawrence\nnothing is paused now\n");
}

#[test]
fn pause_of_something_that_does_not_exist_exits_2() {
    let deployment = Deployment::example();
    let (db, path) = pause_db(&deployment);
    let cases: [(&[&str], String); 3] = [
        (
            &["pause", "job", "nope"],
            format!(
                "herald pause: no job \"nope\" in {}/bots (jobs: claims-summary, team-pulse, laser-chase, volts-leaderboard, capability-probe, morning-brief, weekly-call-reminder)\n",
                deployment.path().display()
            ),
        ),
        (
            &["pause", "bot", "nobody"],
            "herald pause: no identity \"nobody\" (identities: claudia, clawrence, lawrence, happy, gymbooker, claims, pakgupei)\n".to_owned(),
        ),
        (
            &["pause", "bots", "x"],
            "herald pause: expected `all`, `bot NAME` or `job NAME`, got `bots x`\n".to_owned(),
        ),
    ];
    for (words, expected) in cases {
        let (code, stdout, stderr) = kill_switch(&deployment, &db, words);
        assert_eq!(code, Some(2), "{words:?}: {stdout}{stderr}");
        assert!(stdout.is_empty(), "{words:?}: {stdout}");
        assert_eq!(stderr, expected, "{words:?}");
    }
    let (code, _, stderr) = kill_switch(&deployment, &db, &["resume", "bots", "x"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "herald resume: expected `all`, `bot NAME` or `job NAME`, got `bots x`\n"
    );
    assert!(!path.exists(), "a refused pause writes nothing");
}
