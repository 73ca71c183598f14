//! `herald log` as an operator meets it: the audit log of a deployment's database as text or
//! JSON lines, filtered by bot, job, user and age, and its exit codes.

mod common;

use std::process::Output;

use chrono::{DateTime, Utc};
use common::{herald, Deployment};
use herald::store::audit::{self, AuditEntry};
use herald::store::Store;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .with_timezone(&Utc)
}

/// The entries of [`seeded`], in order (seq 1..=6).
fn entries() -> Vec<(&'static str, AuditEntry)> {
    vec![
        (
            "2026-11-20T09:00:00Z",
            AuditEntry::new("boot", "started").detail("7 bots"),
        ),
        (
            "2026-11-22T23:59:59.999Z",
            AuditEntry {
                user_id: Some(111),
                chat_id: Some(111),
                command: Some("help".into()),
                ..AuditEntry::new("inbound", "answered").bot("lawrence")
            },
        ),
        (
            "2026-11-23T00:00:00Z",
            AuditEntry {
                user_id: Some(999000111),
                chat_id: Some(999000111),
                ..AuditEntry::new("inbound", "refused: not on the roster").bot("lawrence")
            },
        ),
        (
            "2026-11-23T01:00:00Z",
            AuditEntry {
                job: Some("team-pulse".into()),
                chat_id: Some(-1001234567890),
                thread_id: Some(39),
                ..AuditEntry::new("outbox", "pending -> sending")
                    .bot("clawrence")
                    .detail("row 4")
            },
        ),
        (
            "2026-11-23T01:00:01.5Z",
            AuditEntry {
                job: Some("team-pulse".into()),
                user_id: Some(111),
                chat_id: Some(-1001234567890),
                thread_id: Some(39),
                command: Some("pulse".into()),
                ..AuditEntry::new("inbound", "answered").bot("clawrence")
            },
        ),
        (
            "2026-11-23T01:45:00Z",
            AuditEntry {
                job: Some("weekly-call-reminder".into()),
                ..AuditEntry::new("schedule", "slot done").bot("pakgupei")
            },
        ),
    ]
}

/// The example deployment with a database holding [`entries`].
fn seeded() -> Deployment {
    let deployment = Deployment::example();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        Store::open(&deployment.db_url())
            .await
            .expect("store")
            .close()
            .await;
        // The entries as an earlier run left them, written with a plain connection.
        let db = sqlx::SqlitePool::connect(&deployment.db_url())
            .await
            .expect("db");
        let mut tx = db.begin().await.expect("begin");
        for (at, entry) in entries() {
            audit::record(&mut tx, t(at), &entry).await.expect("record");
        }
        tx.commit().await.expect("commit");
        db.close().await;
    });
    deployment
}

/// `herald log ARGS` on `deployment`'s database.
fn log(deployment: &Deployment, args: &[&str]) -> Output {
    herald()
        .arg("--config")
        .arg(deployment.path())
        .arg("--db")
        .arg(deployment.db_url())
        .arg("log")
        .args(args)
        .output()
        .expect("herald log runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The sequence numbers printed (text or JSON), asserting exit code 0.
fn seqs(output: &Output) -> Vec<i64> {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        stdout(output),
        stderr(output)
    );
    stdout(output)
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) => rest.split(' ').next().unwrap().parse().expect("seq"),
            None => {
                let value: serde_json::Value = serde_json::from_str(line).expect("JSON line");
                value["seq"].as_i64().expect("seq")
            }
        })
        .collect()
}

#[test]
fn text_output_is_one_readable_line_per_entry_oldest_first() {
    let deployment = seeded();
    let output = log(&deployment, &[]);
    assert_eq!(seqs(&output), [1, 2, 3, 4, 5, 6]);
    assert_eq!(
        stdout(&output),
        "\
#1 2026-11-20T09:00:00+00:00 boot: started (7 bots)
#2 2026-11-22T23:59:59.999+00:00 inbound lawrence user=111 chat=111 cmd=help: answered
#3 2026-11-23T00:00:00+00:00 inbound lawrence user=999000111 chat=999000111: refused: not on the roster
#4 2026-11-23T01:00:00+00:00 outbox clawrence job=team-pulse chat=-1001234567890 thread=39: pending -> sending (row 4)
#5 2026-11-23T01:00:01.500+00:00 inbound clawrence job=team-pulse user=111 chat=-1001234567890 thread=39 cmd=pulse: answered
#6 2026-11-23T01:45:00+00:00 schedule pakgupei job=weekly-call-reminder: slot done
"
    );
    assert_eq!(stderr(&output), "");
}

#[test]
fn json_output_is_one_object_per_line_and_nothing_else() {
    let deployment = seeded();
    let output = log(&deployment, &["--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let objects: Vec<serde_json::Map<String, serde_json::Value>> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect();
    assert_eq!(objects.len(), 6, "{text}");
    assert!(text.ends_with("}\n"), "{text}");
    let fifth = &objects[4];
    assert_eq!(
        serde_json::Value::Object(fifth.clone()),
        serde_json::json!({
            "seq": 5,
            "at": "2026-11-23T01:00:01.500+00:00",
            "kind": "inbound",
            "bot": "clawrence",
            "job": "team-pulse",
            "user_id": 111,
            "chat_id": -1001234567890_i64,
            "thread_id": 39,
            "command": "pulse",
            "decision": "answered",
            "detail": null,
        })
    );
    let first = &objects[0];
    assert_eq!(first["kind"], "boot");
    assert_eq!(first["bot"], serde_json::Value::Null);
    assert_eq!(first["detail"], "7 bots");
}

#[test]
fn filters_by_bot_job_and_user_combine() {
    let deployment = seeded();
    assert_eq!(seqs(&log(&deployment, &["--bot", "lawrence"])), [2, 3]);
    assert_eq!(seqs(&log(&deployment, &["--bot", "Lawrence"])), [2, 3]);
    assert_eq!(seqs(&log(&deployment, &["--job", "team-pulse"])), [4, 5]);
    assert_eq!(seqs(&log(&deployment, &["--user", "111"])), [2, 5]);
    assert_eq!(
        seqs(&log(&deployment, &["--user", "111", "--bot", "clawrence"])),
        [5]
    );
    assert_eq!(
        seqs(&log(
            &deployment,
            &["--json", "--job", "team-pulse", "--user", "111"]
        )),
        [5]
    );
}

#[test]
fn since_takes_an_instant_inclusive_to_the_fraction_of_a_second() {
    let deployment = seeded();
    let since = |when: &str| seqs(&log(&deployment, &["--since", when]));
    assert_eq!(since("2026-11-23T00:00:00Z"), [3, 4, 5, 6]);
    assert_eq!(since("2026-11-22T23:59:59.999Z"), [2, 3, 4, 5, 6]);
    assert_eq!(since("2026-11-22T23:59:59.9991Z"), [3, 4, 5, 6]);
    assert_eq!(since("2026-11-23T08:00:00+08:00"), [3, 4, 5, 6]);
    assert_eq!(since("2026-11-23T01:00:01Z"), [5, 6]);
    assert_eq!(since("2026-11-23T01:00:01.5Z"), [5, 6]);
    assert_eq!(since("2026-11-23T01:00:01.500000001Z"), [6]);
    assert_eq!(since("2026-11-23T01:45:00.001Z"), Vec::<i64>::new());
}

#[test]
fn since_takes_an_age_before_the_clocks_now() {
    let deployment = seeded();
    let ago = |age: &str| {
        let output = herald()
            .arg("--db")
            .arg(deployment.db_url())
            .args([
                "--clock-start",
                "2026-11-23T02:00:00Z",
                "log",
                "--since",
                age,
            ])
            .output()
            .expect("herald log runs");
        seqs(&output)
    };
    // The clock runs on from 02:00:00 for the fraction of a second the process takes, so no
    // age here lands within a second of an entry.
    assert_eq!(ago("3599s"), [5, 6]);
    assert_eq!(ago("61m"), [4, 5, 6]);
    assert_eq!(ago("59m"), [6]);
    assert_eq!(ago("119m"), [4, 5, 6]);
    assert_eq!(ago("121m"), [2, 3, 4, 5, 6]);
    assert_eq!(ago("1d"), [2, 3, 4, 5, 6]);
    assert_eq!(ago("7d"), [1, 2, 3, 4, 5, 6]);
    assert_eq!(ago("10s"), Vec::<i64>::new());
}

#[test]
fn limit_keeps_the_newest_entries_and_says_so() {
    let deployment = seeded();
    let output = log(&deployment, &["--limit", "2"]);
    assert_eq!(seqs(&output), [5, 6]);
    assert!(
        stderr(&output).contains("only the newest 2 matching entries are shown"),
        "{}",
        stderr(&output)
    );
    let output = log(&deployment, &["--limit", "2", "--bot", "lawrence"]);
    assert_eq!(seqs(&output), [2, 3]);
    assert_eq!(stderr(&output), "", "nothing left out");
    let output = log(&deployment, &["--limit", "1", "--json"]);
    assert_eq!(seqs(&output), [6]);
}

#[test]
fn no_match_exits_0_with_a_note_on_stderr_only_for_text() {
    let deployment = seeded();
    let output = log(&deployment, &["--bot", "nobody"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), "");
    assert_eq!(stderr(&output).trim(), "no audit entries match");
    let output = log(&deployment, &["--bot", "nobody", "--json"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), "");
    assert_eq!(stderr(&output), "");
}

#[test]
fn a_missing_database_exits_2_and_is_not_created() {
    let deployment = Deployment::example();
    let output = log(&deployment, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stderr(&output).trim(),
        format!(
            "herald log: no database at {}",
            deployment.db_path().display()
        )
    );
    assert!(!deployment.db_path().exists());

    // The default database of a deployment (`<config>/state/herald.db`), by `sqlite:` URL too.
    let output = herald()
        .arg("--config")
        .arg(deployment.path())
        .arg("log")
        .output()
        .expect("herald log runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("state/herald.db"),
        "{}",
        stderr(&output)
    );
    let other = deployment.path().join("other.db");
    let output = herald()
        .arg("--db")
        .arg(format!("sqlite:{}", other.display()))
        .arg("log")
        .output()
        .expect("herald log runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(!other.exists());
    assert!(
        !deployment.path().join("state").exists(),
        "no state folder was created"
    );
}

#[test]
fn a_bad_since_is_a_usage_error_naming_the_option() {
    let deployment = seeded();
    for bad in ["yesterday", "7", "-2h", "2026-11-20"] {
        let output = log(&deployment, &[&format!("--since={bad}")]);
        assert_eq!(output.status.code(), Some(2), "{bad}");
        assert_eq!(stdout(&output), "");
        let error = stderr(&output);
        assert!(error.contains("--since <WHEN>"), "{error}");
        assert!(error.contains("30m, 2h, 7d"), "{error}");
    }
}
