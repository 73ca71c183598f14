//! GymBooker end to end, in process, against the Telegram simulator and the fake Mindbody, on a
//! manual clock both fakes read: the 08:57 job logs in and reads Thursday's timetable, books
//! at 09:00:00 (06:30 full, so 07:30) and DMs the member once; `/gym` lists it and `/gym
//! cancel` cancels it through the desk; `/gym skip` on a booked day cancels it the same way and
//! a rerun leaves the day alone; every class full offers the waitlist button, and a tap on it
//! joins the waitlist through the desk.

mod common;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use common::Deployment;
use herald::clock::Clock;
use herald::fleet::RunningFleet;
use herald::store::lease::LeaseSettings;
use herald_sim::mindbody::{
    FakeMindbody, FakeMindbodyConfig, MindbodyClass, MindbodyRoute, API_KEY, PASSWORD, SITE_ID,
    USERNAME,
};
use herald_sim::{SentRecord, SimClock, Simulator};

const WAIT: Duration = Duration::from_secs(20);
const PRIYA: i64 = 6023847561;

fn singapore(date: (i32, u32, u32), hm: &str) -> DateTime<Utc> {
    let tz: chrono_tz::Tz = "Asia/Singapore".parse().unwrap();
    NaiveDate::from_ymd_opt(date.0, date.1, date.2)
        .unwrap()
        .and_time(NaiveTime::parse_from_str(hm, "%H:%M:%S").unwrap())
        .and_local_timezone(tz)
        .unwrap()
        .with_timezone(&Utc)
}

/// Tuesday 1 December 2026 in Singapore.
fn tuesday(hms: &str) -> DateTime<Utc> {
    singapore((2026, 12, 1), hms)
}

struct Gym {
    _deployment: Deployment,
    sim: Simulator,
    fake: FakeMindbody,
    fleet: RunningFleet,
    clock: Clock,
    gymbooker: String,
}

impl Gym {
    /// Priya books Thursdays at 06:30, 07:30 or 12:00, two days ahead, the window opening at
    /// 09:00; the job runs at 08:57. `full` classes (1: 06:30, 2: 07:30, 3: 12:00) are full.
    async fn start(full: &[i64]) -> Gym {
        let clock = Clock::manual(tuesday("08:56:00"));
        let seen = clock.clone();
        let fake = FakeMindbody::start(FakeMindbodyConfig {
            clock: Some(SimClock::from_fn(move || seen.now())),
            ..FakeMindbodyConfig::default()
        })
        .await
        .expect("fake Mindbody starts");
        for (id, at) in [(1, "06:30:00"), (2, "07:30:00"), (3, "12:00:00")] {
            let mut class = MindbodyClass::new(id, singapore((2026, 12, 3), at), "CrossFit")
                .window_opening_at(tuesday("09:00:00"));
            if full.contains(&id) {
                class = class.with_places(12, 12);
            }
            fake.add_class(class);
        }
        let deployment = Deployment::example();
        deployment.append(
            "gymbooker.toml",
            &format!(
                r#"
[gym]
provider = "mindbody"
api_url = "{}"
site_id = "{SITE_ID}"
api_key = {{ source = "file", provider = "local", id = "/mindbody/api_key" }}
username = "{USERNAME}"
password = {{ source = "file", provider = "local", id = "/mindbody/password" }}
timeout_seconds = 5

[[gym.bookings]]
member = "Priya Raman"
client_id = "100015"
days = ["THU"]
times = ["06:30", "07:30", "12:00"]
days_ahead = 2
window_opens = "09:00"

[[jobs]]
name = "gym-booking"
kind = "gym_booking"
cron = "57 8 * * *"
timezone = "Asia/Singapore"
thread = "gym"
timeout_seconds = 240
"#,
                fake.base_url()
            ),
        );
        let mut secrets: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&deployment.secrets).unwrap()).unwrap();
        secrets["mindbody"] = serde_json::json!({"api_key": API_KEY, "password": PASSWORD});
        std::fs::write(&deployment.secrets, secrets.to_string()).unwrap();
        let sim = deployment.simulator().await;
        let mut options = deployment.run_options(&sim);
        options.clock = clock.clone();
        options.lease = LeaseSettings::with_ttl(Duration::from_secs(3 * 3600));
        let fleet = herald::fleet::start(&options).await.expect("fleet starts");
        let gymbooker = deployment.config().bots["gymbooker"].username.clone();
        Gym {
            _deployment: deployment,
            sim,
            fake,
            fleet,
            clock,
            gymbooker,
        }
    }

    /// 08:57: the job logs in and reads the timetable, then waits for 09:00:00.
    async fn run_until_booked(&self) {
        self.clock.set(tuesday("08:57:00"));
        tokio::time::timeout(WAIT, self.fake.wait_for_requests(MindbodyRoute::Classes, 1))
            .await
            .expect("the timetable is read at 08:57");
        assert_eq!(
            self.fake.count(MindbodyRoute::AddClientToClass),
            0,
            "nothing booked before the window"
        );
        self.clock.set(tuesday("09:00:00"));
        self.dm(|t| t.starts_with('✅') || t.starts_with('😕'))
            .await;
    }

    async fn dm(&self, matches: impl Fn(&str) -> bool) -> SentRecord {
        let me = self.gymbooker.clone();
        let found = self
            .sim
            .wait_for(
                |s| {
                    s.iter()
                        .any(|r| r.bot == me && r.chat_id == PRIYA && matches(&r.text))
                },
                WAIT,
            )
            .await;
        match found {
            Ok(sent) => sent
                .into_iter()
                .find(|r| r.bot == self.gymbooker && r.chat_id == PRIYA && matches(&r.text))
                .expect("found"),
            Err(sent) => panic!("no such DM: {sent:#?}"),
        }
    }

    fn dms(&self) -> Vec<SentRecord> {
        self.sim
            .sent_by(&self.gymbooker)
            .into_iter()
            .filter(|r| r.chat_id == PRIYA)
            .collect()
    }

    async fn settled(&self) {
        common::settled(&self.sim, &self.fleet).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_0857_job_books_at_the_opening_falls_back_once_and_gym_cancel_cancels() {
    let g = Gym::start(&[1]).await;
    // A preview says what would be booked and books nothing.
    let operator = 5102938471;
    let lawrence = g._deployment.config().bots["lawrence"].username.clone();
    g.sim.user_dms(operator, &lawrence, "/preview gym-booking");
    let preview = g
        .sim
        .wait_for(
            |s| {
                s.iter()
                    .any(|r| r.chat_id == operator && r.text.contains("would book"))
            },
            WAIT,
        )
        .await
        .expect("the preview");
    let text = &preview
        .iter()
        .find(|r| r.text.contains("would book"))
        .expect("found")
        .text;
    assert!(
        text.contains(
            "Priya Raman: Thu 3 Dec at 06:30, then 07:30, then 12:00 (window opens 09:00)"
        ),
        "{text}"
    );
    assert!(
        g.fake.requests().is_empty(),
        "a preview calls Mindbody not at all"
    );
    g.run_until_booked().await;
    g.settled().await;
    let dms = g.dms();
    assert_eq!(dms.len(), 1, "one DM: {dms:#?}");
    assert_eq!(
        dms[0].text,
        "✅ 06:30 full; booked Thu 3 Dec 07:30 CrossFit."
    );
    let requests: Vec<(DateTime<Utc>, String)> = g
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.route == Some(MindbodyRoute::AddClientToClass))
        .map(|r| {
            (
                r.arrived_at,
                r.param("ClassId").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let opening = tuesday("09:00:00");
    assert_eq!(
        requests,
        [(opening, "1".to_owned()), (opening, "2".to_owned())],
        "06:30 first, at the opening, then 07:30"
    );
    assert_eq!(g.fake.visits().len(), 1);
    let audited = common::table(
        &g.fleet,
        "SELECT decision || ': ' || detail FROM audit WHERE kind = 'gym' ORDER BY seq",
    )
    .await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert!(
        audited[0].starts_with("booked: Priya Raman 2026-12-03: Booked"),
        "{audited:?}"
    );

    g.sim.user_dms(PRIYA, &g.gymbooker, "/gym");
    g.dm(|t| t.starts_with("Your gym bookings")).await;
    assert!(
        g.dms()
            .iter()
            .any(|r| r.text.contains("2026-12-03 07:30 CrossFit: booked")),
        "{:#?}",
        g.dms()
    );
    // The cancellation goes through but its answer is lost: the desk reads back.
    g.fake.fail_next(
        MindbodyRoute::RemoveClientFromClass,
        herald_sim::mindbody::MindbodyFault::ReplyLost,
        1,
    );
    g.sim
        .user_dms(PRIYA, &g.gymbooker, "/gym cancel 2026-12-03");
    g.dm(|t| t == "✅ Cancelled your Thu 3 Dec 07:30 class.")
        .await;
    assert_eq!(g.fake.cancellations().len(), 1);
    g.sim
        .user_dms(PRIYA, &g.gymbooker, "/gym cancel 2026-12-03");
    g.dm(|t| t == "You have no booked class on 2026-12-03.")
        .await;
    g.settled().await;
    assert_eq!(g.fake.cancellations().len(), 1, "cancelled once");
}

/// Skipping a day that is already booked cancels the class through the desk (the gym must
/// free the place), and the day stays off: a rerun of the job books nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gym_skip_on_a_booked_day_cancels_it_and_a_rerun_books_nothing() {
    let g = Gym::start(&[]).await;
    g.run_until_booked().await;
    g.dm(|t| t == "✅ Booked Thu 3 Dec 06:30 CrossFit.").await;
    g.sim.user_dms(PRIYA, &g.gymbooker, "/gym skip 2026-12-03");
    g.dm(|t| t == "Skipping 2026-12-03: cancelling that booking now; I'll confirm.")
        .await;
    g.dm(|t| t == "✅ Cancelled your Thu 3 Dec 06:30 class.")
        .await;
    assert_eq!(g.fake.cancellations().len(), 1);
    g.settled().await;
    assert_eq!(
        common::table(&g.fleet, "SELECT state FROM gym_bookings").await,
        ["cancelled"]
    );
    // The operator reruns today's job by hand: the day was decided, so nothing is booked.
    let lawrence = g._deployment.config().bots["lawrence"].username.clone();
    g.sim.user_dms(5102938471, &lawrence, "/run gym-booking");
    common::wait_until("the rerun's slot is decided", || async {
        common::table(
            &g.fleet,
            "SELECT state FROM job_slots WHERE job = 'gym-booking' AND trigger != 'schedule'",
        )
        .await
            == ["done"]
    })
    .await;
    g.settled().await;
    assert_eq!(
        g.fake.count(MindbodyRoute::AddClientToClass),
        1,
        "booked once"
    );
    assert_eq!(
        common::table(&g.fleet, "SELECT state FROM gym_bookings").await,
        ["cancelled"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_class_full_offers_the_waitlist_and_a_tap_joins_it() {
    let g = Gym::start(&[1, 2, 3]).await;
    g.run_until_booked().await;
    let offer = g.dm(|t| t.starts_with('😕')).await;
    assert_eq!(
        offer.text,
        "😕 06:30, 07:30, 12:00 on Thu 3 Dec: all full, nothing booked. Tap to join the 06:30 waitlist."
    );
    let data = offer.reply_markup.as_ref().expect("the button")["inline_keyboard"][0][0]
        ["callback_data"]
        .as_str()
        .expect("data")
        .to_owned();
    let tap = g
        .sim
        .user_taps(PRIYA, &g.gymbooker, PRIYA, offer.message_id, &data);
    let answer = g.sim.wait_for_callback_answer(&tap, WAIT).await;
    assert_eq!(
        answer.as_deref(),
        Some("Joining the waitlist; I'll confirm.")
    );
    g.dm(|t| t == "✅ You're on the 06:30 waitlist for Thu 3 Dec.")
        .await;
    g.settled().await;
    let waitlist = g.fake.waitlist();
    assert_eq!(waitlist.len(), 1, "{waitlist:?}");
    assert_eq!(
        (waitlist[0].class_id, waitlist[0].client_id.as_str()),
        (1, "100015")
    );
    assert!(g.fake.visits().is_empty());
    // On the waitlist: neither cancelled nor skipped over.
    g.sim
        .user_dms(PRIYA, &g.gymbooker, "/gym cancel 2026-12-03");
    g.dm(|t| t.starts_with("You're on the waitlist for 2026-12-03"))
        .await;
    g.sim.user_dms(PRIYA, &g.gymbooker, "/gym skip 2026-12-03");
    g.dm(|t| t == "2026-12-03 is on the waitlist; nothing changed.")
        .await;
    // `/gym skip`: a day not booked yet is skipped (the job will leave it alone).
    g.sim.user_dms(PRIYA, &g.gymbooker, "/gym skip 2026-12-10");
    g.dm(|t| t == "Skipping 2026-12-10: I won't book it.").await;
    g.sim.user_dms(PRIYA, &g.gymbooker, "/gym skip tomorrow");
    g.dm(|t| t.starts_with("Use /gym for your bookings")).await;
    // A second tap finds nothing to join.
    let again = g
        .sim
        .user_taps(PRIYA, &g.gymbooker, PRIYA, offer.message_id, &data);
    let answer = g.sim.wait_for_callback_answer(&again, WAIT).await;
    assert_eq!(
        answer.as_deref(),
        Some("Nothing to join for that day any more.")
    );
}
