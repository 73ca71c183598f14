//! Telegram's limits end to end, against the simulator (which refuses exactly what Telegram
//! refuses, with Telegram's texts): a refusal echoing a 4,080-character handle arrives, cut;
//! a preview whose emoji-heavy roster is under 4,000 characters but over 4,096 UTF-16 units
//! arrives as valid parts; a job run whose post Telegram would refuse fails with a clear
//! error instead of costing a 400; and each permanent refusal makes its row `failed` on the
//! first try with one operator DM, an operator alert included (no retry).

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::Deployment;
use herald::clock::Clock;
use herald::fleet::RunningFleet;
use herald::telegram::html;
use herald_sim::{SentRecord, Simulator};

const WAIT: Duration = Duration::from_secs(15);

/// Monday 23 November 2026, 10:00 in Singapore: a working day, before the 11:00 chase.
const MONDAY_10AM: &str = "2026-11-23T02:00:00Z";
/// Tuesday 24 November 2026, 10:00 in Singapore.
const TUESDAY_10AM: &str = "2026-11-24T02:00:00Z";

struct Running {
    deployment: Deployment,
    sim: Simulator,
    fleet: RunningFleet,
    operator: i64,
    clawrence: String,
    lawrence: String,
}

impl Running {
    /// The example deployment edited by `edit`, herald and the simulator on `clock`.
    async fn start(clock: Clock, edit: impl FnOnce(&Deployment)) -> Running {
        let deployment = Deployment::example();
        edit(&deployment);
        let sim_clock = clock.clone();
        let sim = deployment
            .simulator_with(|config| {
                config.clock = Some(herald_sim::SimClock::from_fn(move || sim_clock.now()))
            })
            .await;
        let mut options = deployment.run_options(&sim);
        options.clock = clock;
        let fleet = herald::fleet::start(&options).await.expect("fleet starts");
        let config = deployment.config();
        Running {
            operator: deployment.operator(),
            clawrence: config.bots["clawrence"].username.clone(),
            lawrence: config.bots["lawrence"].username.clone(),
            deployment,
            sim,
            fleet,
        }
    }

    fn thread(&self, name: &str) -> Option<i32> {
        self.deployment
            .config()
            .roster
            .thread(name)
            .expect("roster thread")
            .message_thread_id
    }

    fn operator_dms(&self, sent: &[SentRecord]) -> Vec<SentRecord> {
        sent.iter()
            .filter(|r| r.bot == self.lawrence && r.chat_id == self.operator)
            .cloned()
            .collect()
    }

    async fn rows(&self, sql: &str) -> Vec<(i64, String, i64, Option<String>)> {
        sqlx::query_as(sql)
            .fetch_all(self.fleet.store().reader())
            .await
            .expect("outbox readable")
    }

    /// Clawrence's outbox rows (id, state, attempts, error) once none is pending or sending.
    async fn settled_rows(&self, bot: &str) -> Vec<(i64, String, i64, Option<String>)> {
        let sql = format!(
            "SELECT id, state, attempts, error FROM outbox WHERE bot = '{bot}' ORDER BY id"
        );
        common::try_wait_until(WAIT, || async {
            let rows = self.rows(&sql).await;
            !rows.iter().any(|r| r.1 == "pending" || r.1 == "sending")
        })
        .await;
        self.rows(&sql).await
    }

    /// Writes a row as Clawrence, as an older herald could have left it, bypassing enqueue's
    /// check: what the sender does with a refusal is under test. Through Clawrence's poster
    /// from the fleet (fault-injection builds only).
    #[cfg(feature = "fault-injection")]
    async fn insert_row(&self, chat_id: i64, thread_id: Option<i32>, text: &str) -> i64 {
        use herald::outbox::injected::OutboxWriter;
        let clawrence = self
            .fleet
            .poster::<herald::identity::Clawrence>()
            .expect("Clawrence runs");
        let mut rows = OutboxWriter::begin(self.fleet.store()).await.expect("tx");
        let message = herald::outbox::OutgoingMessage::new(chat_id, thread_id, text);
        let id = rows
            .enqueue_unchecked(&clawrence, message)
            .await
            .expect("insert");
        rows.commit().await.expect("commit");
        id
    }
}

fn t(text: &str) -> DateTime<Utc> {
    text.parse().expect("RFC 3339 instant")
}

/// Visible UTF-16 units of a message as Telegram counts them, checking it parses.
fn units(html_text: &str) -> usize {
    let parsed = html::parse(html_text).unwrap_or_else(|e| panic!("{e}: {html_text}"));
    html::utf16_len(&parsed.text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volts_refusal_echoing_a_4080_character_handle_arrives_cut() {
    let running = Running::start(Clock::system(), |_| {}).await;
    let volts = running.thread("volts");
    let member = running.deployment.member();
    // A 4,092-character message, which Telegram accepts from a person.
    let text = format!("/volts @{} 2 r", "a".repeat(4080));
    assert_eq!(text.chars().count(), 4092);
    running.sim.user_says_in_topic(member, volts, &text);
    let sent = running
        .sim
        .wait_for(|s| s.iter().any(|r| r.bot == running.clawrence), WAIT)
        .await
        .expect("the refusal arrives");
    let reply = sent
        .iter()
        .find(|r| r.bot == running.clawrence)
        .expect("reply");
    assert!(
        reply.text.ends_with("… is not on the team roster."),
        "{}",
        reply.text
    );
    assert!(units(&reply.text) < 200, "{}", units(&reply.text));
    assert_eq!(reply.thread_id, volts);
    let rows = running.settled_rows("clawrence").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].1.as_str(), rows[0].2), ("sent", 1), "{rows:?}");
    running.fleet.stop().await.expect("clean stop");
}

/// Members added to the roster: without a handle (so mentioned by name), with names of 28
/// emoji outside the BMP (2 units each) and a number.
const EMOJI_MEMBERS: usize = 50;

fn emoji_members() -> String {
    let mut toml = String::new();
    for i in 0..EMOJI_MEMBERS {
        toml.push_str(&format!(
            "\n[[members]]\nname = \"{}{} {i:02}\"\ntelegram_id = {}\nroles = [\"files_updates\"]\n",
            "🦄".repeat(14),
            "🌈".repeat(14),
            7_100_000_000i64 + i as i64
        ));
    }
    toml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_over_4096_units_but_under_4000_characters_arrives_as_valid_parts() {
    let clock = Clock::manual(t(MONDAY_10AM));
    let running = Running::start(clock, |d| d.append("roster.toml", &emoji_members())).await;
    running
        .sim
        .user_dms(running.operator, &running.lawrence, "/preview laser-chase");
    let sent = running
        .sim
        .wait_for(
            |s| {
                running
                    .operator_dms(s)
                    .iter()
                    .filter(|r| r.text.contains("🦄"))
                    .count()
                    >= 2
            },
            WAIT,
        )
        .await
        .expect("the preview arrives in parts");
    let parts: Vec<SentRecord> = running
        .operator_dms(&sent)
        .into_iter()
        .filter(|r| !r.text.starts_with("Rendering"))
        .collect();
    let shown: String = parts
        .iter()
        .map(|p| html::parse(&p.text).expect("valid part").text)
        .collect::<Vec<_>>()
        .join("\n");
    let (chars, units_in_all) = (shown.chars().count(), html::utf16_len(&shown));
    eprintln!(
        "preview: {} parts, {chars} characters = {units_in_all} UTF-16 units",
        parts.len()
    );
    assert!(
        chars < 4000 && units_in_all > 4096,
        "{chars} / {units_in_all}"
    );
    for part in &parts {
        assert!(units(&part.text) <= 4096, "{}", units(&part.text));
    }
    assert!(parts[0]
        .text
        .starts_with("🔍 Preview of <b>laser-chase</b>"));
    for i in 0..EMOJI_MEMBERS {
        assert!(
            shown.contains(&format!("🌈 {i:02}: ")),
            "member {i} missing"
        );
    }
    // Nothing was refused on the way.
    let states: Vec<String> =
        sqlx::query_scalar("SELECT state FROM outbox WHERE bot = 'lawrence' ORDER BY id")
            .fetch_all(running.fleet.store().reader())
            .await
            .expect("outbox readable");
    assert!(
        states
            .iter()
            .all(|s| s == "sent" || s == "pending" || s == "sending"),
        "{states:?}"
    );
    running.fleet.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_post_telegram_would_refuse_fails_its_run_with_a_clear_error() {
    // Valid with the sample data `herald check` uses (a Monday); broken on Tuesdays.
    let clock = Clock::manual(t(TUESDAY_10AM));
    let running = Running::start(clock, |d| {
        std::fs::write(
            d.path().join("templates").join("tuesday.html"),
            "📞 <b>Call</b>{% if day == \"Tuesday\" %}<br>{% endif %} at 10:00\n",
        )
        .expect("template written");
        d.append(
            "pakgupei.toml",
            "\n[[jobs]]\nname = \"tuesday-note\"\nkind = \"post\"\ncron = \"0 3 1 1 *\"\ntimezone = \"Asia/Singapore\"\nthread = \"calls\"\ntemplate = \"tuesday.html\"\n",
        );
    })
    .await;
    running
        .sim
        .user_dms(running.operator, &running.lawrence, "/run tuesday-note");
    let sent = running
        .sim
        .wait_for(
            |s| {
                running
                    .operator_dms(s)
                    .iter()
                    .any(|r| r.text.contains("Job failed: tuesday-note"))
            },
            WAIT,
        )
        .await
        .expect("the operator is told");
    let alert = running
        .operator_dms(&sent)
        .into_iter()
        .find(|r| r.text.contains("Job failed"))
        .expect("alert");
    // What the operator reads (the alert's HTML escapes the quotes).
    assert!(
        herald::text::html_to_plain(&alert.text).contains(
            "Telegram would refuse it: can't parse entities: Unsupported start tag \"br\" at byte offset 16"
        ),
        "{}",
        alert.text
    );
    let detail: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT state, detail FROM job_slots WHERE job = 'tuesday-note'")
            .fetch_all(running.fleet.store().reader())
            .await
            .expect("slots readable");
    assert_eq!(detail.len(), 1, "{detail:?}");
    assert_eq!(detail[0].0, "failed");
    assert!(
        detail[0]
            .1
            .as_deref()
            .unwrap_or_default()
            .contains("Unsupported start tag"),
        "{detail:?}"
    );
    let pakgupei = running.deployment.config().bots["pakgupei"]
        .username
        .clone();
    assert!(running.sim.sent_by(&pakgupei).is_empty());
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE bot = 'pakgupei'")
        .fetch_one(running.fleet.store().reader())
        .await
        .expect("outbox readable");
    assert_eq!(rows, 0, "nothing Telegram would refuse was enqueued");
    running.fleet.stop().await.expect("clean stop");
}

#[cfg(feature = "fault-injection")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_permanent_refusal_fails_its_row_on_the_first_try_with_one_operator_dm() {
    let running = Running::start(Clock::system(), |_| {}).await;
    let config = running.deployment.config();
    let group = config.roster.chat_id();
    let members: Vec<i64> = config
        .roster
        .members()
        .iter()
        .map(|m| m.telegram_id)
        .filter(|id| *id != running.operator)
        .collect();
    let (blocker, gone) = (members[0], members[1]);
    running.sim.user_blocks(blocker, &running.clawrence);
    running.sim.deactivate_user(gone);
    let general = running.thread("general");
    let cases: Vec<(i64, Option<i32>, String, &str)> =
        vec![
        (
            group,
            general,
            "a".repeat(4097),
            "400: Bad Request: message is too long",
        ),
        (
            group,
            general,
            "a<br>b".to_owned(),
            "400: Bad Request: can't parse entities: Unsupported start tag \"br\" at byte offset 1",
        ),
        (-42, None, "hi".to_owned(), "400: Bad Request: chat not found"),
        (
            group,
            Some(9_999),
            "hi".to_owned(),
            "400: Bad Request: message thread not found",
        ),
        (
            blocker,
            None,
            "hi".to_owned(),
            "403: Forbidden: bot was blocked by the user",
        ),
        (gone, None, "hi".to_owned(), "403: Forbidden: user is deactivated"),
    ];
    let mut ids = Vec::new();
    for (chat, thread, text, _) in &cases {
        ids.push(running.insert_row(*chat, *thread, text).await);
    }
    let rows = running.settled_rows("clawrence").await;
    assert_eq!(rows.len(), cases.len(), "{rows:?}");
    for ((id, state, attempts, error), (_, _, _, expected)) in rows.iter().zip(&cases) {
        assert_eq!(state, "failed", "row {id}: {error:?}");
        assert_eq!(*attempts, 1, "row {id} was tried again");
        assert_eq!(error.as_deref(), Some(*expected), "row {id}");
    }
    let sent = running
        .sim
        .wait_for(|s| running.operator_dms(s).len() >= cases.len(), WAIT)
        .await
        .expect("one DM per refusal");
    let dms = running.operator_dms(&sent);
    for id in &ids {
        let about: Vec<&SentRecord> = dms
            .iter()
            .filter(|r| r.text.contains(&format!("outbox row {id}\n")))
            .collect();
        assert_eq!(about.len(), 1, "row {id}: {dms:#?}");
        assert!(about[0].text.contains("Telegram refused a message"));
    }
    assert_eq!(dms.len(), cases.len(), "{dms:#?}");
    running.fleet.stop().await.expect("clean stop");
}

#[cfg(feature = "fault-injection")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_alert_refused_for_good_fails_at_once_and_is_not_retried() {
    let running = Running::start(Clock::system(), |_| {}).await;
    running.sim.user_blocks(running.operator, &running.lawrence);
    let id = running.insert_row(-42, None, "hi").await;
    let rows = running.settled_rows("clawrence").await;
    assert_eq!(rows[0].0, id);
    assert_eq!(rows[0].1, "failed");
    // The alert about it is refused: failed on its first try, never queued again.
    common::try_wait_until(WAIT, || async {
        !running.settled_rows("lawrence").await.is_empty()
    })
    .await;
    let alerts = running.settled_rows("lawrence").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        (alerts[0].1.as_str(), alerts[0].2, alerts[0].3.as_deref()),
        (
            "failed",
            1,
            Some("403: Forbidden: bot was blocked by the user")
        )
    );
    let retried: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit WHERE bot = 'lawrence' AND decision LIKE 'sending -> pending%'",
    )
    .fetch_one(running.fleet.store().reader())
    .await
    .expect("audit readable");
    assert_eq!(retried, 0);
    assert!(running.operator_dms(&running.sim.sent()).is_empty());
    running.fleet.stop().await.expect("clean stop");
}
