//! HR rituals end to end, in process, against the Telegram simulator and the fake Talenox: the
//! team pulse posts every section from Talenox into the pulse thread, a rerun of the same day
//! posts the same bytes, names that match nobody are told to the operator once a day, and a
//! Talenox failure posts nothing and tells the operator. The laser-chase reads leave from
//! Talenox; while Talenox is down it uses the last read (at most 24 h old) or, with none,
//! mentions nobody and says leave could not be checked.

mod common;

use std::time::Duration;

use common::Deployment;
use herald::clock::Clock;
use herald_sim::talenox::{FakeTalenox, TalenoxFault, TalenoxRoute};
use herald_sim::{SentRecord, Simulator};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);
const PULSE: i32 = 39;
const DAILY_UPDATES: i32 = 12;
const OPS: i32 = 31;
const WEI_MING: i64 = 5102938471; // operator
const PRIYA: i64 = 6023847561; // cake
const MARCUS: i64 = 2210938475; // cake
const SITI: i64 = 7345601928; // cake

/// Monday 23 November 2026, just after 09:00 in Singapore.
fn monday_morning() -> chrono::DateTime<chrono::Utc> {
    "2026-11-23T01:00:30Z".parse().expect("instant")
}

fn employee(id: i64, first: &str, last: &str) -> serde_json::Value {
    json!({
        "id": id, "employee_id": format!("{}", id - 211000), "first_name": first,
        "last_name": last, "email": "someone@acme.example", "birthdate": null,
        "hired_date": "2020-01-06", "resign_date": null, "citizenship": "Singapore Citizen",
        "current_job": null, "work_pass": null
    })
}

/// Talenox on Monday 23 November 2026: a birthday (Wei Ming), an anniversary (Priya, 3 years),
/// Daniel on leave until Wednesday and Priya for the morning, Siti's leave pending for 5 days
/// (Wei Ming approves), a work pass (Marcus) expiring in 30 days, and a leaver whose birthday
/// is today (left out). Hui Min, Arjun and Grace are not in Talenox.
fn seed(talenox: &FakeTalenox) {
    let mut wei_ming = employee(211001, "Tan", "Wei Ming");
    wei_ming["birthdate"] = json!("1988-11-23");
    let mut priya = employee(211002, "Priya", "d/o Raman");
    priya["hired_date"] = json!("2023-11-23");
    let daniel = employee(211003, "Koh", "Jun Wei Daniel");
    let siti = employee(211004, "Siti Nurhaliza", "binte Abdul Rahman");
    let mut marcus = employee(211005, "Lim", "Wen Jie Marcus");
    marcus["work_pass"] = json!({
        "type": "Employment Pass", "number": "G7654321Q",
        "issue_date": "2024-12-23", "expiry_date": "2026-12-23"
    });
    let mut leaver = employee(211006, "Mei", "Lim");
    leaver["birthdate"] = json!("1998-11-23");
    leaver["resign_date"] = json!("2026-08-31");
    // Not on the roster; birthday on Thursday: cake reminders go out today.
    let mut ah_kow = employee(211007, "Tan", "Ah Kow");
    ah_kow["birthdate"] = json!("1975-11-26");
    talenox.set_employees(vec![wei_ming, priya, daniel, siti, marcus, leaver, ah_kow]);
    talenox.set_leave(vec![
        json!({
            "id": 90401, "employee_id": 211003, "employee_name": "Koh Jun Wei Daniel",
            "leave_type": "Annual Leave", "status": "approved",
            "start_date": "2026-11-20", "end_date": "2026-11-25",
            "start_half_day": false, "end_half_day": false, "amount": 4.0, "remarks": "",
            "approver_ids": [211001], "applied_at": "2026-11-02T03:00:00Z"
        }),
        json!({
            "id": 90403, "employee_id": 211002, "employee_name": "Priya d/o Raman",
            "leave_type": "Annual Leave", "status": "approved",
            "start_date": "2026-11-23", "end_date": "2026-11-23",
            "start_half_day": true, "end_half_day": true, "amount": 0.5, "remarks": "",
            "approver_ids": [211001], "applied_at": "2026-11-10T03:00:00Z"
        }),
        json!({
            "id": 90402, "employee_id": 211004, "employee_name": "Siti Nurhaliza binte Abdul Rahman",
            "leave_type": "Annual Leave", "status": "pending",
            "start_date": "2026-12-21", "end_date": "2026-12-24",
            "start_half_day": false, "end_half_day": true, "amount": 3.5, "remarks": "Year end",
            "approver_ids": [211001], "applied_at": "2026-11-18T02:00:00Z"
        }),
    ]);
}

struct Hr {
    options: herald::fleet::RunOptions,
    _deployment: Deployment,
    sim: Simulator,
    talenox: FakeTalenox,
    fleet: herald::fleet::RunningFleet,
    clock: Clock,
    clawrence: String,
    lawrence: String,
}

impl Hr {
    /// herald with `[talenox]` against a seeded fake, and the example's `team-pulse` job
    /// switched to kind `team_pulse`, on a clock that starts on Monday morning.
    async fn start() -> Hr {
        let talenox = FakeTalenox::start().await.expect("fake Talenox starts");
        seed(&talenox);
        let deployment = Deployment::example();
        deployment.append("herald.toml", &talenox.deployment_toml());
        FakeTalenox::write_secrets(&deployment.secrets).expect("secrets writable");
        deployment.edit(
            "clawrence.toml",
            "kind = \"post\"\ncron = \"0 9 * * MON-FRI\"\ntimezone = \"Asia/Singapore\"\nthread = \"pulse\"\ntemplate = \"team_pulse.html\"",
            "kind = \"team_pulse\"\ncron = \"0 9 * * MON-FRI\"\ntimezone = \"Asia/Singapore\"\nthread = \"pulse\"",
        );
        // Cake reminders report unreachable members in #ops, where Clawrence may post.
        deployment.edit(
            "clawrence.toml",
            "threads = [\"general\", \"daily-updates\", \"volts\", \"pulse\"]",
            "threads = [\"general\", \"daily-updates\", \"volts\", \"pulse\", \"ops\"]",
        );
        deployment.append(
            "clawrence.toml",
            "\n[[jobs]]\nname = \"cake-reminder\"\nkind = \"cake_reminder\"\ncron = \"0 10 * * *\"\ntimezone = \"Asia/Singapore\"\nthread = \"ops\"\n",
        );
        let sim = deployment.simulator().await;
        let mut options = deployment.run_options(&sim);
        let clock = Clock::accelerated(monday_morning(), 1.0);
        options.clock = clock.clone();
        let fleet = herald::fleet::start(&options).await.expect("fleet starts");
        let config = deployment.config();
        Hr {
            options,
            clawrence: config.bots["clawrence"].username.clone(),
            lawrence: config.bots["lawrence"].username.clone(),
            _deployment: deployment,
            sim,
            talenox,
            fleet,
            clock,
        }
    }

    /// Stops herald cleanly and starts it again on the same database.
    async fn restart(self) -> Hr {
        self.fleet.stop().await.expect("clean stop");
        let fleet = herald::fleet::start(&self.options)
            .await
            .expect("fleet restarts");
        Hr { fleet, ..self }
    }

    /// Clawrence's DMs to `user`.
    fn dms_to(&self, user: i64) -> Vec<String> {
        self.sim
            .sent_by(&self.clawrence)
            .into_iter()
            .filter(|r| r.chat_id == user)
            .map(|r| r.text)
            .collect()
    }

    fn pulses(&self) -> Vec<SentRecord> {
        self.posts_in(PULSE)
    }

    fn posts_in(&self, thread: i32) -> Vec<SentRecord> {
        self.sim
            .sent_by(&self.clawrence)
            .into_iter()
            .filter(|r| r.thread_id == Some(thread))
            .collect()
    }

    fn operator_dms(&self) -> Vec<String> {
        self.sim
            .sent_by(&self.lawrence)
            .into_iter()
            .filter(|r| r.chat_id == WEI_MING)
            .map(|r| r.text)
            .collect()
    }

    async fn wait_until(&self, what: &str, done: impl Fn() -> bool) {
        if self.sim.wait_for(|_| done(), WAIT).await.is_err() {
            panic!(
                "{what}: not seen; pulses {:#?}, operator DMs {:#?}",
                self.pulses(),
                self.operator_dms()
            );
        }
    }

    /// Asks for a run by hand, in a clock second of its own (a manual run's slot is its second).
    async fn run_job(&self, job: &str) {
        let now = self.clock.now();
        common::wait_until("the next second on herald's clock", || {
            std::future::ready(self.clock.now() >= now + chrono::Duration::seconds(1))
        })
        .await;
        self.sim
            .user_dms(WEI_MING, &self.lawrence, &format!("/run {job}"));
    }

    async fn run_pulse(&self) {
        self.run_job("team-pulse").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_team_pulse_posts_from_talenox_reruns_identically_and_fails_loudly() {
    let hr = Hr::start().await;
    hr.run_pulse().await;
    hr.wait_until("the pulse", || hr.pulses().len() == 1).await;
    let pulse = hr.pulses()[0].text.clone();
    for needle in [
        "Team pulse</b> · Monday 23 November 2026",
        "Happy birthday, Wei Ming Tan!",
        "Priya Raman: 3 years with us today",
        "Daniel Koh (Annual Leave, until Wed 25 Nov)\nPriya Raman (Annual Leave, half day)",
        "Siti Rahman: Annual Leave, Mon 21 Dec to Thu 24 Dec, waiting 5 days. @weiming_tan, please approve",
        "Marcus Lim: Employment Pass expires in 30 days (Wed 23 Dec 2026).",
    ] {
        assert!(pulse.contains(needle), "{needle:?} in {pulse}");
    }
    assert!(!pulse.contains("Mei"), "a leaver is left out: {pulse}");
    assert!(!pulse.contains("1988"), "no birth year: {pulse}");

    hr.run_pulse().await;
    hr.wait_until("the second pulse", || hr.pulses().len() == 2)
        .await;
    assert_eq!(
        hr.pulses()[1].text,
        pulse,
        "the same day renders the same bytes"
    );

    let unmatched: Vec<String> = hr
        .operator_dms()
        .into_iter()
        .filter(|d| d.contains("do not agree on some names"))
        .collect();
    assert_eq!(unmatched.len(), 1, "once a day: {unmatched:#?}");
    assert!(
        unmatched[0]
            .contains("On the roster, not in Talenox: Arjun Nair, Grace Chua, Hui Min Ong."),
        "{}",
        unmatched[0]
    );

    hr.talenox
        .fail_next(TalenoxRoute::Employees, TalenoxFault::ServerError, 100);
    hr.run_pulse().await;
    hr.wait_until("the failure DM", || {
        hr.operator_dms().iter().any(|d| {
            d.contains("Job failed: team-pulse") && d.contains("Talenox failed with HTTP 500")
        })
    })
    .await;
    common::settled(&hr.sim, &hr.fleet).await;
    assert_eq!(hr.pulses().len(), 2, "nothing posted when Talenox fails");
    hr.fleet.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_laser_chase_reads_leave_from_talenox_and_uses_the_last_read_while_it_is_down() {
    let hr = Hr::start().await;
    hr.run_job("laser-chase").await;
    hr.wait_until("the chase", || hr.posts_in(DAILY_UPDATES).len() == 1)
        .await;
    let chase = hr.posts_in(DAILY_UPDATES)[0].text.clone();
    assert!(chase.contains("On leave today: Priya Raman."), "{chase}");
    assert!(!chase.contains("@priya_raman"), "{chase}");
    assert!(chase.contains("@siti_rahman"), "{chase}");

    hr.talenox
        .fail_next(TalenoxRoute::Employees, TalenoxFault::ServerError, 100);
    hr.run_job("laser-chase").await;
    hr.wait_until("the chase from the last read", || {
        hr.posts_in(DAILY_UPDATES).len() == 2
            && hr
                .operator_dms()
                .iter()
                .any(|d| d.contains("used the leave read at Mon 23 Nov 09:0"))
    })
    .await;
    assert_eq!(
        hr.posts_in(DAILY_UPDATES)[1].text,
        chase,
        "the same leave, the same post"
    );
    let told: Vec<String> = hr
        .operator_dms()
        .into_iter()
        .filter(|d| d.contains("laser-chase"))
        .collect();
    assert!(
        told.iter()
            .any(|d| d.contains("Talenox failed with HTTP 500")),
        "{told:#?}"
    );
    hr.fleet.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_talenox_down_and_no_recent_read_the_laser_chase_mentions_nobody_and_says_why() {
    let hr = Hr::start().await;
    hr.talenox
        .fail_next(TalenoxRoute::Employees, TalenoxFault::HtmlPage(502), 100);
    hr.run_job("laser-chase").await;
    hr.wait_until("the chase and the operator's DM", || {
        hr.posts_in(DAILY_UPDATES).len() == 1
            && hr.operator_dms().iter().any(|d| {
                d.contains("no read from the last 24 hours covers Monday 23 November 2026")
            })
    })
    .await;
    let chase = hr.posts_in(DAILY_UPDATES)[0].text.clone();
    assert!(
        chase.contains("Leave could not be checked today"),
        "{chase}"
    );
    assert!(
        chase.contains("Priya Raman:"),
        "not known to be on leave: {chase}"
    );
    assert!(
        !chase.contains('@') && !chase.contains("tg://user"),
        "{chase}"
    );
    let told = hr
        .operator_dms()
        .into_iter()
        .find(|d| d.contains("no read from the last 24 hours"))
        .unwrap_or_default();
    assert!(
        told.contains("Talenox returned an HTML page (HTTP 502)"),
        "{told}"
    );
    hr.fleet.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cake_reminders_reach_every_cake_member_who_can_be_dmed_once_even_after_a_restart() {
    let hr = Hr::start().await;
    hr.sim.user_blocks(SITI, &hr.clawrence);
    hr.run_job("cake-reminder").await;
    hr.wait_until("two reminders and the refusal told", || {
        hr.dms_to(PRIYA).len() == 1
            && hr.dms_to(MARCUS).len() == 1
            && hr
                .operator_dms()
                .iter()
                .any(|d| d.contains("Telegram refused a message") && d.contains("cake-reminder"))
    })
    .await;
    let reminder = &hr.dms_to(PRIYA)[0];
    assert!(
        reminder
            .contains("<b>Tan Ah Kow</b> has a birthday on Thursday 26 November, 3 days from now"),
        "{reminder}"
    );
    assert!(!reminder.contains("1975"), "{reminder}");
    let refused: Vec<String> = hr
        .operator_dms()
        .into_iter()
        .filter(|d| d.contains("Telegram refused a message"))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert!(
        refused[0].contains("bot was blocked by the user"),
        "{}",
        refused[0]
    );

    let hr = hr.restart().await;
    hr.run_job("cake-reminder").await;
    hr.wait_until("the second run told", || {
        hr.operator_dms()
            .iter()
            .filter(|d| d.contains("cake-reminder</b> ran by hand"))
            .count()
            == 2
    })
    .await;
    common::settled(&hr.sim, &hr.fleet).await;
    assert_eq!(hr.dms_to(PRIYA).len(), 1, "nothing sent twice");
    assert_eq!(hr.dms_to(MARCUS).len(), 1, "nothing sent twice");
    assert_eq!(
        hr.posts_in(OPS)
            .iter()
            .filter(|r| r.text.contains("could not reach"))
            .count(),
        1,
        "the unreachable member is reported once"
    );
    let last = hr
        .operator_dms()
        .into_iter()
        .rfind(|d| d.contains("cake-reminder</b> ran by hand"))
        .unwrap_or_default();
    assert!(last.contains("0 message(s) queued"), "{last}");
    assert!(!last.contains("direct"), "{last}");
    hr.fleet.stop().await.expect("clean stop");
}
