//! The scheduler end to end, in process, against the simulator, with the clock under test
//! control: a slot posts once at its time and never again (not even after a restart);
//! downtime gives one catch-up within grace and one DM for what was missed; daylight-saving
//! gaps and overlaps fire exactly once; a pause skips slots (recorded, reported on resume,
//! never burst out) and survives a restart; every failure reaches the operator.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::Deployment;
use herald::clock::Clock;
use herald::fleet::RunningFleet;
use herald_sim::{Fault, SentRecord, Simulator};

const WAIT: Duration = Duration::from_secs(10);
const PULSE: i32 = 39;

fn t(text: &str) -> DateTime<Utc> {
    text.parse().expect("RFC 3339 instant")
}

struct Team {
    deployment: Deployment,
    sim: Simulator,
    clock: Clock,
    fleet: Option<RunningFleet>,
    operator: i64,
    clawrence: String,
    lawrence: String,
}

impl Team {
    /// The example deployment, edited by `edit`, with the clock stopped at `start`.
    async fn new(start: &str, edit: impl FnOnce(&Deployment)) -> Team {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let deployment = Deployment::example();
        edit(&deployment);
        let sim = deployment.simulator().await;
        let config = deployment.config();
        let operator = deployment.operator();
        Team {
            operator,
            clawrence: config.bots["clawrence"].username.clone(),
            lawrence: config.bots["lawrence"].username.clone(),
            clock: Clock::manual(t(start)),
            deployment,
            sim,
            fleet: None,
        }
    }

    async fn start(&mut self) {
        let mut options = self.deployment.run_options(&self.sim);
        options.clock = self.clock.clone();
        self.fleet = Some(herald::fleet::start(&options).await.expect("fleet starts"));
    }

    async fn stop(&mut self) {
        if let Some(fleet) = self.fleet.take() {
            fleet.stop().await.expect("clean stop");
        }
    }

    /// Moves the clock to `at` and waits until herald has acted on it: the scheduler has
    /// looked at the schedule at `at` (or later) and everything that look did has been sent.
    async fn set_clock(&self, at: &str) {
        self.clock.set(t(at));
        self.settled().await;
    }

    /// Waits until herald has finished reacting to everything so far ([`common::settled`]).
    async fn settled(&self) {
        common::settled(&self.sim, self.fleet.as_ref().expect("running")).await;
    }

    fn posts_in(&self, thread: i32) -> Vec<SentRecord> {
        self.sim
            .sent()
            .into_iter()
            .filter(|r| r.method == "sendMessage" && r.thread_id == Some(thread))
            .collect()
    }

    fn operator_dms(&self) -> Vec<String> {
        self.sim
            .sent()
            .into_iter()
            .filter(|r| r.bot == self.lawrence && r.chat_id == self.operator)
            .map(|r| r.text)
            .collect()
    }

    async fn wait_for_dm(&self, needle: &str) -> String {
        let found = match self
            .sim
            .wait_for(
                |sent| {
                    sent.iter().any(|r| {
                        r.bot == self.lawrence && r.chat_id == self.operator && r.text.contains(needle)
                    })
                },
                WAIT,
            )
            .await
        {
            Ok(found) => found,
            Err(sent) => panic!(
                "no operator DM containing {needle:?}: {sent:#?}\noutbox: {:#?}\naudit: {:#?}",
                self.table("SELECT id || ' ' || bot || ' ' || state || ' ' || chat_id || ' ' || IFNULL(error, '') FROM outbox").await,
                self.table("SELECT seq || ' ' || kind || ' ' || decision || ' ' || IFNULL(detail, '') FROM audit").await,
            ),
        };
        found
            .into_iter()
            .find(|r| r.chat_id == self.operator && r.text.contains(needle))
            .map(|r| r.text)
            .unwrap_or_default()
    }

    async fn wait_for_posts(&self, thread: i32, count: usize) -> Vec<SentRecord> {
        let _ = self
            .sim
            .wait_for(
                |sent| {
                    sent.iter()
                        .filter(|r| r.method == "sendMessage" && r.thread_id == Some(thread))
                        .count()
                        >= count
                },
                WAIT,
            )
            .await;
        self.posts_in(thread)
    }

    /// One text column of a query, for failure messages.
    async fn table(&self, sql: &str) -> Vec<String> {
        let store = herald::store::Store::open(&self.deployment.db_url())
            .await
            .expect("db opens");
        let rows = sqlx::query_scalar(sql)
            .fetch_all(store.reader())
            .await
            .unwrap_or_default();
        store.close().await;
        rows
    }

    /// `(slot, state, trigger)` of every slot of `job`, oldest first.
    async fn slots(&self, job: &str) -> Vec<(String, String, String)> {
        let store = herald::store::Store::open(&self.deployment.db_url())
            .await
            .expect("db opens");
        let rows = sqlx::query_as(
            "SELECT slot, state, trigger FROM job_slots WHERE job = ? ORDER BY slot",
        )
        .bind(job)
        .fetch_all(store.reader())
        .await
        .expect("job_slots readable");
        store.close().await;
        rows
    }

    /// A team-pulse run that never finished: its 09:00 Monday slot says running, as the
    /// killed process left it (written beside herald's store, with a plain connection).
    async fn insert_running_pulse_slot(&self) {
        herald::store::Store::open(&self.deployment.db_url())
            .await
            .expect("db")
            .close()
            .await;
        let db = sqlx::SqlitePool::connect(&self.deployment.db_url())
            .await
            .expect("db");
        sqlx::query(
            "INSERT INTO job_slots (job, slot, bot, trigger, state, claimed_at)
             VALUES ('team-pulse', '2026-11-23T01:00:00Z', 'clawrence', 'schedule', 'running', '2026-11-23T01:00:00Z')",
        )
        .execute(&db)
        .await
        .expect("insert");
        db.close().await;
    }

    async fn pause(&self, words: &[&str], pause: bool) {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        herald::commands::pause::set_pause(
            self.deployment.path(),
            &self.deployment.db_url(),
            &words,
            pause,
            "test",
            self.clock.now(),
        )
        .await
        .expect("pause/resume");
    }
}

/// Appends a `[[jobs]]` block to Clawrence's file.
fn add_clawrence_job(deployment: &Deployment, block: &str) {
    let path = deployment.path().join("bots").join("clawrence.toml");
    let mut text = std::fs::read_to_string(&path).expect("clawrence.toml");
    text.push_str("\n[[jobs]]\n");
    text.push_str(block);
    std::fs::write(&path, text).expect("write clawrence.toml");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_posts_once_at_its_time_and_never_again_after_a_restart() {
    // Monday 23 November 2026, 08:59:30 in Singapore.
    let mut team = Team::new("2026-11-23T00:59:30Z", |_| {}).await;
    team.start().await;
    team.settled().await;
    assert!(team.posts_in(PULSE).is_empty(), "nothing before 09:00");

    team.set_clock("2026-11-23T01:00:00Z").await;
    let posts = team.wait_for_posts(PULSE, 1).await;
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert_eq!(posts[0].bot, team.clawrence);
    assert!(
        posts[0]
            .text
            .contains("<b>Team pulse</b> · Monday 23 November 2026"),
        "{}",
        posts[0].text
    );

    team.set_clock("2026-11-23T01:00:40Z").await;
    team.stop().await;
    team.start().await;
    team.settled().await;
    assert_eq!(
        team.posts_in(PULSE).len(),
        1,
        "a restart never fires a slot twice"
    );
    assert_eq!(
        team.slots("team-pulse").await,
        vec![(
            "2026-11-23T01:00:00Z".into(),
            "done".into(),
            "schedule".into()
        )]
    );
    assert!(
        team.operator_dms().is_empty(),
        "boring on success: {:?}",
        team.operator_dms()
    );
    team.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_downtime_one_catch_up_within_grace_and_one_dm_for_what_was_missed() {
    let mut team = Team::new("2026-11-23T00:59:00Z", |_| {}).await;
    team.start().await;
    team.set_clock("2026-11-23T01:00:00Z").await;
    team.wait_for_posts(PULSE, 1).await;
    team.stop().await;

    // Down from Monday 09:00 to Thursday 09:10 (Singapore): Tuesday's and Wednesday's pulse
    // and Monday's 09:45 call reminder (policy skip) were missed, and so were three days of
    // laser-chase and leaderboard, and of Happy's 08:00 probe and 08:30 brief (Tuesday to
    // Thursday, Thursday's past their grace); Thursday's pulse is 10 min late.
    team.clock.set(t("2026-11-26T01:10:00Z"));
    team.start().await;
    let posts = team.wait_for_posts(PULSE, 2).await;
    team.settled().await;
    let posts_now = team.posts_in(PULSE);
    assert_eq!(posts_now.len(), 2, "exactly one catch-up: {posts:#?}");
    assert!(
        posts_now[1].text.contains("Thursday 26 November 2026"),
        "{}",
        posts_now[1].text
    );

    let dm = team.wait_for_dm("were missed").await;
    assert!(
        dm.contains("<b>15 scheduled slot(s) were missed</b>"),
        "{dm}"
    );
    assert!(dm.contains("team-pulse: Tue 2026-11-24 09:00 +08 (01:00 UTC); Wed 2026-11-25 09:00 +08 (01:00 UTC)"), "{dm}");
    assert!(
        dm.contains("weekly-call-reminder: Mon 2026-11-23 09:45 +08 (01:45 UTC)"),
        "{dm}"
    );
    assert!(dm.contains("morning-brief: Tue 2026-11-24 08:30 +08 (00:30 UTC); Wed 2026-11-25 08:30 +08 (00:30 UTC); Thu 2026-11-26 08:30 +08 (00:30 UTC)"), "{dm}");
    let missed_dms = team
        .operator_dms()
        .into_iter()
        .filter(|d| d.contains("were missed"))
        .count();
    assert_eq!(missed_dms, 1, "one DM for all missed slots");

    let states: Vec<(String, String)> = team
        .slots("team-pulse")
        .await
        .into_iter()
        .map(|(slot, state, trigger)| (slot, format!("{state}/{trigger}")))
        .collect();
    assert_eq!(
        states,
        vec![
            (
                "2026-11-23T01:00:00Z".to_owned(),
                "done/schedule".to_owned()
            ),
            (
                "2026-11-24T01:00:00Z".to_owned(),
                "missed/schedule".to_owned()
            ),
            (
                "2026-11-25T01:00:00Z".to_owned(),
                "missed/schedule".to_owned()
            ),
            (
                "2026-11-26T01:00:00Z".to_owned(),
                "done/catch_up".to_owned()
            ),
        ]
    );
    team.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_grace_the_slot_is_missed_not_run() {
    let mut team = Team::new("2026-11-23T00:59:00Z", |_| {}).await;
    team.start().await;
    team.stop().await;
    // Back at 09:31, 31 minutes after the slot: beyond the 30-minute grace.
    team.clock.set(t("2026-11-23T01:31:00Z"));
    team.start().await;
    let dm = team.wait_for_dm("were missed").await;
    assert!(dm.contains("team-pulse: Mon 2026-11-23 09:00 +08"), "{dm}");
    assert!(team.posts_in(PULSE).is_empty());
    team.stop().await;
}

/// Steps the clock from `from` to `to` in 10-minute steps, letting the scheduler look at
/// every step.
async fn walk(team: &Team, from: &str, to: &str) {
    let mut at = t(from);
    while at <= t(to) {
        team.clock.set(at);
        team.settled().await;
        at += chrono::Duration::minutes(10);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_in_the_spring_forward_gap_fires_once_when_the_gap_ends() {
    // New York, Sunday 8 March 2026: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    let mut team = Team::new("2026-03-08T05:50:00Z", |d| {
        add_clawrence_job(
            d,
            "name = \"gap-probe\"\nkind = \"post\"\ncron = \"30 2 * * *\"\ntimezone = \"America/New_York\"\nthread = \"pulse\"\ntemplate = \"team_pulse.html\"\n",
        )
    })
    .await;
    team.start().await;
    walk(&team, "2026-03-08T05:50:00Z", "2026-03-08T08:30:00Z").await;
    let slots = team.slots("gap-probe").await;
    assert_eq!(
        slots,
        vec![(
            "2026-03-08T07:00:00Z".into(),
            "done".into(),
            "schedule".into()
        )],
        "02:30 does not exist that day; it fires once, at 03:00 EDT"
    );
    assert_eq!(team.posts_in(PULSE).len(), 1);
    team.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_in_the_fall_back_overlap_fires_once_at_its_first_occurrence() {
    // New York, Sunday 1 November 2026: 02:00 EDT falls back to 01:00 EST (06:00 UTC), so
    // 01:30 happens at 05:30 UTC and again at 06:30 UTC.
    let mut team = Team::new("2026-11-01T05:00:00Z", |d| {
        add_clawrence_job(
            d,
            "name = \"overlap-probe\"\nkind = \"post\"\ncron = \"30 1 * * *\"\ntimezone = \"America/New_York\"\nthread = \"pulse\"\ntemplate = \"team_pulse.html\"\n",
        )
    })
    .await;
    team.start().await;
    walk(&team, "2026-11-01T05:00:00Z", "2026-11-01T07:30:00Z").await;
    assert_eq!(
        team.slots("overlap-probe").await,
        vec![(
            "2026-11-01T05:30:00Z".into(),
            "done".into(),
            "schedule".into()
        )],
        "01:30 fires at its first (EDT) occurrence only"
    );
    assert_eq!(team.posts_in(PULSE).len(), 1);
    team.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_job_skips_its_slot_and_resume_reports_it_without_bursting() {
    let mut team = Team::new("2026-11-23T00:59:00Z", |_| {}).await;
    team.start().await;
    team.pause(&["job", "team-pulse"], true).await;
    let dm = team.wait_for_dm("Paused").await;
    assert!(dm.contains("Paused <b>job team-pulse</b> by test"), "{dm}");

    team.set_clock("2026-11-23T01:00:00Z").await;
    assert!(team.posts_in(PULSE).is_empty(), "paused: nothing posted");
    assert_eq!(
        team.slots("team-pulse").await,
        vec![(
            "2026-11-23T01:00:00Z".into(),
            "paused".into(),
            "schedule".into()
        )]
    );

    team.pause(&["job", "team-pulse"], false).await;
    let dm = team.wait_for_dm("Resumed").await;
    assert!(dm.contains("Resumed <b>job team-pulse</b>"), "{dm}");
    assert!(dm.contains("team-pulse at 2026-11-23T01:00:00Z"), "{dm}");
    team.settled().await;
    assert!(
        team.posts_in(PULSE).is_empty(),
        "a resume never bursts out skipped slots"
    );

    // The next slot runs normally.
    team.set_clock("2026-11-24T01:00:00Z").await;
    assert_eq!(team.wait_for_posts(PULSE, 1).await.len(), 1);
    team.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_survives_a_restart_holds_sends_and_resume_releases_them() {
    let mut team = Team::new("2026-11-23T00:59:00Z", |_| {}).await;
    team.start().await;
    team.stop().await;
    team.pause(&["all"], true).await;
    team.start().await;
    let dm = team.wait_for_dm("started while paused").await;
    assert!(dm.contains("<b>all</b>"), "{dm}");

    // A member asks Clawrence for help by DM: the reply is queued but held.
    let member = team
        .deployment
        .config()
        .roster
        .members()
        .iter()
        .find(|m| m.telegram_id != team.operator)
        .expect("a second member")
        .telegram_id;
    team.sim.user_dms(member, &team.clawrence, "/help");
    // The 09:00 slot passes while paused.
    team.set_clock("2026-11-23T01:00:00Z").await;
    team.settled().await;
    assert!(
        team.sim.sent_by(&team.clawrence).is_empty(),
        "nothing but operator DMs while paused"
    );

    team.pause(&["all"], false).await;
    team.sim
        .wait_for(
            |s| {
                s.iter()
                    .any(|r| r.bot == team.clawrence && r.chat_id == member)
            },
            WAIT,
        )
        .await
        .expect("the held reply goes out after resume");
    team.settled().await;
    assert!(
        team.posts_in(PULSE).is_empty(),
        "the skipped slot is not burst out"
    );
    let dm = team.wait_for_dm("Resumed").await;
    assert!(dm.contains("team-pulse at 2026-11-23T01:00:00Z"), "{dm}");
    team.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_fails_tells_the_operator_and_posts_nothing() {
    // The template works on the Monday sample `herald check` renders, but not on Tuesdays.
    let mut team = Team::new("2026-11-24T00:59:00Z", |d| {
        let path = d.path().join("templates").join("team_pulse.html");
        let mut text = std::fs::read_to_string(&path).expect("template");
        text.push_str("{% if day == \"Tuesday\" %}{{ tuesday_note }}{% endif %}\n");
        std::fs::write(&path, text).expect("write template");
    })
    .await;
    team.start().await;
    team.set_clock("2026-11-24T01:00:00Z").await;
    let dm = team.wait_for_dm("Job failed").await;
    assert!(dm.contains("<b>Job failed: team-pulse</b>"), "{dm}");
    assert!(
        dm.contains(
            "clawrence -&gt; #pulse, slot Tue 2026-11-24 09:00 +08 (01:00 UTC), on schedule"
        ),
        "{dm}"
    );
    assert!(dm.contains("templates/team_pulse.html"), "{dm}");
    assert!(dm.contains("Posted: nothing."), "{dm}");
    assert!(team.posts_in(PULSE).is_empty());
    let slots = team.slots("team-pulse").await;
    assert_eq!(slots[0].1, "failed");
    team.settled().await;
    assert_eq!(
        team.operator_dms()
            .iter()
            .filter(|d| d.contains("Job failed"))
            .count(),
        1,
        "one DM per failure"
    );
    team.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_post_telegram_refuses_fails_the_slot_and_names_the_job() {
    let mut team = Team::new("2026-11-23T00:59:00Z", |_| {}).await;
    team.start().await;
    team.sim.inject_fault(
        &team.clawrence,
        "sendMessage",
        Fault::api(400, "Bad Request: message thread not found"),
    );
    team.set_clock("2026-11-23T01:00:00Z").await;
    let dm = team.wait_for_dm("Telegram refused").await;
    assert!(dm.contains("message thread not found"), "{dm}");
    assert!(
        dm.contains("job team-pulse, slot 2026-11-23T01:00:00Z"),
        "{dm}"
    );
    team.settled().await;
    assert_eq!(team.slots("team-pulse").await[0].1, "failed");
    team.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_still_running_five_minutes_after_its_time_is_reported_once() {
    let mut team = Team::new("2026-11-23T01:10:00Z", |_| {}).await;
    team.start().await;
    // A run that hangs: its slot row says running since 09:00, ten minutes ago.
    team.insert_running_pulse_slot().await;
    let dm = team.wait_for_dm("Job overdue").await;
    assert!(dm.contains("<b>Job overdue: team-pulse</b>"), "{dm}");
    assert!(dm.contains("Mon 2026-11-23 09:00 +08 (01:00 UTC)"), "{dm}");
    team.settled().await;
    assert_eq!(
        team.operator_dms()
            .iter()
            .filter(|d| d.contains("Job overdue"))
            .count(),
        1
    );
    team.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cut_short_by_a_stop_is_reported_at_the_next_start() {
    let mut team = Team::new("2026-11-23T01:01:00Z", |_| {}).await;
    team.start().await;
    team.stop().await;
    team.insert_running_pulse_slot().await;
    team.start().await;
    let dm = team.wait_for_dm("was running when herald stopped").await;
    assert!(dm.contains("<b>Job failed: team-pulse</b>"), "{dm}");
    assert_eq!(team.slots("team-pulse").await[0].1, "failed");
    assert!(team.posts_in(PULSE).is_empty());
    team.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_scheduler_writes_nothing_until_a_slot_comes_due() {
    let mut team = Team::new("2026-11-23T00:30:00Z", |_| {}).await;
    team.start().await;
    let cursor = "SELECT considered_until FROM job_cursors WHERE job = 'team-pulse'";
    let first = team.table(cursor).await;
    assert_eq!(
        first,
        vec!["2026-11-23T00:30:00Z".to_owned()],
        "a new job starts at now"
    );
    // Twenty minutes pass with no slot: many looks, no write.
    team.set_clock("2026-11-23T00:50:00Z").await;
    assert_eq!(team.table(cursor).await, first);
    let audit_before = team.table("SELECT count(*) || '' FROM audit").await;
    team.set_clock("2026-11-23T00:59:00Z").await;
    assert_eq!(
        team.table("SELECT count(*) || '' FROM audit").await,
        audit_before
    );
    // The 09:00 slot comes due: the cursor moves and the slot is decided.
    team.set_clock("2026-11-23T01:00:00Z").await;
    assert_eq!(
        team.table(cursor).await,
        vec!["2026-11-23T01:00:00Z".to_owned()]
    );
    assert_eq!(team.wait_for_posts(PULSE, 1).await.len(), 1);
    team.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_entries_older_than_the_retention_are_pruned_at_start_and_audited() {
    let mut team = Team::new("2026-11-23T00:30:00Z", |_| {}).await;
    // An entry from January, 90+ days before the clock.
    // Written as an earlier run left it, with a plain connection.
    herald::store::Store::open(&team.deployment.db_url())
        .await
        .expect("db")
        .close()
        .await;
    let db = sqlx::SqlitePool::connect(&team.deployment.db_url())
        .await
        .expect("db");
    let mut tx = db.begin().await.expect("tx");
    herald::store::audit::record(
        &mut tx,
        t("2026-01-05T00:00:00Z"),
        &herald::store::audit::AuditEntry::new("boot", "started"),
    )
    .await
    .expect("record");
    tx.commit().await.expect("commit");
    db.close().await;
    team.start().await;
    team.settled().await;
    let old = team
        .table("SELECT count(*) || '' FROM audit WHERE at < '2026-02-01'")
        .await;
    assert_eq!(old, vec!["0".to_owned()], "the January entry is gone");
    let pruned = team
        .table("SELECT decision FROM audit WHERE kind = 'audit'")
        .await;
    assert_eq!(
        pruned,
        vec!["pruned 1 entries older than 90 days".to_owned()]
    );
    team.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_sleeps_on_the_clock_and_claims_a_slot_at_its_instant() {
    // 08:59:00 in Singapore; team-pulse is due at 09:00:00.
    let mut team = Team::new("2026-11-23T00:59:00Z", |_| {}).await;
    team.start().await;
    team.settled().await;
    // Nothing polls: the scheduler waits on the clock itself (a manual clock here, which
    // moves only when the test moves it), the only task that does.
    tokio::time::timeout(common::PATIENCE, team.clock.until_sleeping(1))
        .await
        .expect("the scheduler sleeps on the clock until the slot");
    team.clock.set(t("2026-11-23T01:00:00Z"));
    assert_eq!(team.wait_for_posts(PULSE, 1).await.len(), 1);
    team.settled().await;
    assert_eq!(
        team.table("SELECT slot || ' ' || trigger || ' ' || state || ' claimed ' || claimed_at FROM job_slots WHERE job = 'team-pulse'")
            .await,
        ["2026-11-23T01:00:00Z schedule done claimed 2026-11-23T01:00:00Z"]
    );
    team.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehearsal_at_240x_runs_every_slot_on_schedule_and_misses_none() {
    let mut team = Team::new("2026-11-23T02:00:30Z", |d| {
        add_clawrence_job(
            d,
            "name = \"minutely\"\nkind = \"post\"\ncron = \"* * * * *\"\ntimezone = \"Asia/Singapore\"\nmisfire = \"skip\"\nthread = \"pulse\"\ntemplate = \"team_pulse.html\"\n",
        )
    })
    .await;
    // A clock minute every quarter of a second, as `herald sandbox` runs.
    team.clock = Clock::accelerated(t("2026-11-23T02:00:30Z"), 240.0);
    team.start().await;
    let store = herald::store::Store::open(&team.deployment.db_url())
        .await
        .expect("db opens");
    let decided = common::try_wait_until(common::PATIENCE, || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM job_slots WHERE job = 'minutely' AND state != 'running'",
        )
        .fetch_one(store.reader())
        .await
        .unwrap_or(0)
            >= 6
    })
    .await;
    store.close().await;
    assert!(decided, "six slots decided");
    team.stop().await;
    let slots = team.slots("minutely").await;
    assert!(
        slots
            .iter()
            .all(|(_, state, trigger)| state == "done" && trigger == "schedule"),
        "every slot ran on schedule: {slots:#?}"
    );
}
