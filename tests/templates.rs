//! Golden (snapshot) tests of every team template, rendered from the shipped `templates/`
//! folder: names with `<`, `&`, quotes and emoji, an empty list, a long list, and a post over
//! Telegram's 4096-character limit split into parts that each stay valid HTML. Also: the
//! same data and date render the same bytes, through the real jobs and their store.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use chrono::{NaiveDate, TimeZone, Utc};
use herald::config::model::{CleanSweep, JobFile, Misfire, RosterFile};
use herald::jobs::laser_chase::{Chase, LaserChase};
use herald::jobs::volts_leaderboard::{Board, VoltsLeaderboard};
use herald::jobs::{Job, JobInput, JobSpec};
use herald::roster::Roster;
use herald::sources::leave::RosterLeave;
use herald::store::{daily_updates, volts, Store};
use herald::templates::{person, Templates};
use herald::text::{html_to_plain, split_message, TELEGRAM_MESSAGE_LIMIT};

fn templates() -> Templates {
    Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"))
        .expect("shipped templates load")
}

/// A roster whose names need escaping, plus `extra` plain members (for long lists).
fn roster(extra: usize) -> Roster {
    let mut text = String::from(
        r#"
[team]
name = "Tan & Sons <Ops>"
chat_id = -1002233445566
timezone = "Asia/Singapore"

[[threads]]
name = "general"

[[threads]]
name = "daily-updates"
message_thread_id = 12

[[threads]]
name = "volts"
message_thread_id = 14

[[members]]
name = "Ana <Admin> & Co"
telegram_id = 1001
roles = ["files_updates"]

[[members]]
name = "Zoë \"Z\" O'Neil 🎉"
telegram_id = 1002
handle = "zoe_z"
roles = ["files_updates"]

[[members]]
name = "Bob"
telegram_id = 1003
handle = "bob_b"
roles = ["files_updates", "operator"]

[[members]]
name = "Wen"
telegram_id = 1004
handle = "wen_w"
roles = ["approver"]

[[leave]]
member = "Bob"
from = 2026-11-20
to = 2026-11-20
"#,
    );
    for i in 0..extra {
        text.push_str(&format!(
            "\n[[members]]\nname = \"Member {i:03} Lim-Tan\"\ntelegram_id = {}\nhandle = \"member_{i:03}_long_handle\"\nroles = [\"files_updates\"]\n",
            2000 + i
        ));
    }
    let file: RosterFile = toml::from_str(&text).expect("test roster parses");
    Roster::from_file(&file).expect("test roster is valid")
}

fn friday() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).expect("a date")
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn laser_chase_with_awkward_names_and_leave() {
    let roster = roster(0);
    let chase = Chase::build(&roster, friday(), &BTreeSet::new(), &["Bob".to_owned()]);
    let html = chase
        .render(&templates(), "laser_chase.html", CleanSweep::Line)
        .expect("renders")
        .expect("a post");
    insta::assert_snapshot!("laser_chase_awkward_names", html);
}

#[test]
fn laser_chase_with_leave_unchecked_names_people_without_mentions() {
    let roster = roster(0);
    let chase = Chase::build(&roster, friday(), &BTreeSet::new(), &[]).leave_unchecked();
    let html = chase
        .render(&templates(), "laser_chase.html", CleanSweep::Line)
        .expect("renders")
        .expect("a post");
    assert!(!html.contains('@') && !html.contains("tg://user"), "{html}");
    insta::assert_snapshot!("laser_chase_leave_unchecked", html);
}

#[test]
fn laser_chase_clean_sweep_line_or_silence() {
    let roster = roster(0);
    let everyone = names(&["Ana <Admin> & Co", "Zoë \"Z\" O'Neil 🎉", "Bob"]);
    let chase = Chase::build(&roster, friday(), &everyone, &[]);
    let line = chase
        .render(&templates(), "laser_chase.html", CleanSweep::Line)
        .expect("renders");
    insta::assert_snapshot!("laser_chase_clean_sweep", line.expect("a line"));
    let silent = chase
        .render(&templates(), "laser_chase.html", CleanSweep::Silence)
        .expect("renders");
    assert_eq!(silent, None);
}

#[test]
fn a_long_laser_chase_splits_into_valid_ordered_parts() {
    let roster = roster(150);
    let chase = Chase::build(&roster, friday(), &BTreeSet::new(), &[]);
    let html = chase
        .render(&templates(), "laser_chase.html", CleanSweep::Line)
        .expect("renders")
        .expect("a post");
    assert!(html_to_plain(&html).encode_utf16().count() > TELEGRAM_MESSAGE_LIMIT);
    let parts = split_message(&html, TELEGRAM_MESSAGE_LIMIT);
    assert!(parts.len() >= 2, "{}", parts.len());
    for part in &parts {
        assert!(html_to_plain(part).encode_utf16().count() <= TELEGRAM_MESSAGE_LIMIT);
        assert_eq!(part.matches("<a ").count(), part.matches("</a>").count());
        assert_eq!(part.matches("<b>").count(), part.matches("</b>").count());
    }
    // In order, nothing lost: every member appears once, in roster order.
    let joined = parts.join("\n");
    let positions: Vec<usize> = (0..150)
        .map(|i| {
            joined
                .find(&format!("@member_{i:03}_long_handle"))
                .expect("mentioned")
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    insta::assert_snapshot!(
        "laser_chase_long_split",
        parts
            .iter()
            .enumerate()
            .map(|(i, p)| format!("----- part {} of {} -----\n{p}", i + 1, parts.len()))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn leaderboard_with_ties_awkward_names_empty_and_long() {
    let t = templates();
    let totals = vec![
        ("Zoë \"Z\" O'Neil 🎉".to_owned(), 7),
        ("Ana <Admin> & Co".to_owned(), 7),
        ("Bob".to_owned(), 3),
        ("Wen".to_owned(), 1),
    ];
    let board = Board::build(friday(), totals, 5, 10);
    insta::assert_snapshot!(
        "leaderboard_ties",
        board.render(&t, "volts_leaderboard.html").expect("renders")
    );
    let empty = Board::build(friday(), Vec::new(), 0, 10);
    insta::assert_snapshot!(
        "leaderboard_empty",
        empty.render(&t, "volts_leaderboard.html").expect("renders")
    );
    let long: Vec<(String, u32)> = (0..40)
        .map(|i| (format!("Member {i:03}"), 40 - i / 2))
        .collect();
    let board = Board::build(friday(), long, 120, 25);
    insta::assert_snapshot!(
        "leaderboard_long_top_25",
        board.render(&t, "volts_leaderboard.html").expect("renders")
    );
}

#[test]
fn volts_confirmation_escapes_reason_and_names() {
    let roster = roster(0);
    let html = templates()
        .render(
            "volts_granted.html",
            minijinja::context! {
                giver => person(&roster.members()[1]),
                receiver => person(&roster.members()[0]),
                amount => 1,
                reason => "fixed the <printer> & said \"thanks\" 🙏",
                link => "https://t.me/c/2233445566/14/99",
                left => 9,
            },
        )
        .expect("renders");
    insta::assert_snapshot!("volts_granted", html);
}

fn job_file(name: &str, kind: &str, thread: &str, template: &str) -> JobFile {
    JobFile {
        name: name.into(),
        kind: kind.into(),
        cron: "0 11 * * MON-FRI".into(),
        timezone: "Asia/Singapore".into(),
        thread: thread.into(),
        template: Some(template.into()),
        misfire: Misfire::CatchUp,
        grace_minutes: 30,
        timeout_seconds: 60,
        max_messages: 50,
        clean_sweep: None,
        top: None,
        nag_after_days: None,
        days_ahead: None,
        post_in_thread: None,
    }
}

#[tokio::test]
async fn the_same_data_and_date_render_byte_identical_posts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = Store::open(&url).await.expect("store opens");
    let roster = Arc::new(roster(30));
    let slot = Utc.with_ymd_and_hms(2026, 11, 20, 3, 0, 0).unwrap();
    {
        // The team's records as earlier updates left them, written with a plain connection.
        let db = sqlx::SqlitePool::connect(&url).await.expect("db");
        let mut tx = db.begin().await.expect("tx");
        daily_updates::record(&mut tx, "Member 003 Lim-Tan", friday(), 5, slot)
            .await
            .expect("filed");
        for (giver, receiver, amount) in [
            ("Bob", "Wen", 3),
            ("Wen", "Bob", 3),
            ("Bob", "Ana <Admin> & Co", 2),
        ] {
            let grant = volts::Grant {
                giver: giver.into(),
                receiver: receiver.into(),
                amount,
                reason: "thanks".into(),
                given_at: slot,
                local_date: friday(),
                chat_id: -1002233445566,
                message_id: 7,
                link: "https://t.me/c/2233445566/14/7".into(),
            };
            volts::grant(&mut tx, &grant).await.expect("granted");
        }
        tx.commit().await.expect("commit");
        db.close().await;
    }
    let input = |spec: JobSpec| JobInput {
        spec: Arc::new(spec),
        slot,
        roster: roster.clone(),
        templates: Arc::new(templates()),
        store: store.clone(),
        leave: Arc::new(RosterLeave::new(roster.clone())),
        xero: None,
        talenox: None,
        prober: None,
        all_jobs: Arc::default(),
        clock: herald::clock::Clock::manual(slot),
        gym: None,
        preview: false,
    };
    let chase = input(
        JobSpec::from_file(
            "clawrence",
            &job_file(
                "laser-chase",
                "laser_chase",
                "daily-updates",
                "laser_chase.html",
            ),
            &roster,
        )
        .expect("spec"),
    );
    let first = LaserChase.run(&chase).await.expect("runs").posts;
    let again = LaserChase.run(&chase).await.expect("runs").posts;
    assert_eq!(first, again);
    assert!(
        !first[0].contains("member_003"),
        "the member who filed is spared"
    );
    assert!(!first[0].contains("@bob_b"), "Bob is on leave");
    let board = input(
        JobSpec::from_file(
            "clawrence",
            &job_file(
                "volts-leaderboard",
                "volts_leaderboard",
                "volts",
                "volts_leaderboard.html",
            ),
            &roster,
        )
        .expect("spec"),
    );
    let first = VoltsLeaderboard.run(&board).await.expect("runs").posts;
    let again = VoltsLeaderboard.run(&board).await.expect("runs").posts;
    assert_eq!(first, again);
    assert!(
        first[0].contains("1. Bob: 3 ⚡\n1. Wen: 3 ⚡\n3. Ana &lt;Admin&gt; &amp; Co: 2 ⚡"),
        "{}",
        first[0]
    );
}
