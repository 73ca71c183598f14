//! The booking against the fake Mindbody on loopback, on a manual clock the fake reads too:
//! the first request at the window's opening instant and not before, a full first preference
//! falling back to the next, every preference full (the waitlist offered), a "not open yet"
//! retried until the window opens, a booking whose answer never came settled by reading back
//! (one request, no second booking), and a run that died mid-request never booking twice.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc, Weekday};
use herald_sim::mindbody::{
    FakeMindbody, FakeMindbodyConfig, MindbodyClass, MindbodyFault, MindbodyRoute, API_KEY,
    PASSWORD, SITE_ID, USERNAME,
};
use herald_sim::SimClock;

use super::booking::{Booker, Outcome};
use super::plan::GymPlan;
use crate::clock::Clock;
use crate::config::Token;
use crate::sources::gym::GymProvider;
use crate::sources::mindbody::{MindbodyClient, MindbodyCredentials, MindbodySettings};
use crate::store::gym_bookings::{self, GymState};
use crate::store::Store;

const CLIENT: &str = "100015";

fn tz() -> chrono_tz::Tz {
    "Asia/Singapore".parse().unwrap()
}

/// Tuesday 1 December 2026, `hh:mm:ss` in Singapore.
fn tuesday(hms: &str) -> DateTime<Utc> {
    let time = NaiveTime::parse_from_str(hms, "%H:%M:%S").unwrap();
    let local = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap().and_time(time);
    local.and_local_timezone(tz()).unwrap().with_timezone(&Utc)
}

/// Thursday 3 December 2026 (two days ahead), `hh:mm` in Singapore.
fn thursday(hm: &str) -> DateTime<Utc> {
    let time = NaiveTime::parse_from_str(hm, "%H:%M").unwrap();
    let local = thursday_date().and_time(time);
    local.and_local_timezone(tz()).unwrap().with_timezone(&Utc)
}

fn thursday_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()
}

fn plan() -> GymPlan {
    GymPlan {
        member: "Priya Raman".into(),
        telegram_id: 6023847561,
        client_id: CLIENT.into(),
        days: vec![Weekday::Thu],
        times: ["06:30", "07:30", "12:00"]
            .iter()
            .map(|t| NaiveTime::parse_from_str(t, "%H:%M").unwrap())
            .collect(),
        days_ahead: 2,
        window_opens: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
    }
}

struct World {
    _dir: tempfile::TempDir,
    store: Store,
    clock: Clock,
    fake: FakeMindbody,
    client: Arc<MindbodyClient>,
}

impl World {
    /// The fake with Thursday's 06:30, 07:30 and 12:00 classes (ids 1, 2, 3), their window
    /// opening at `opens`; the clock at 08:57 on Tuesday.
    async fn new(opens: DateTime<Utc>) -> World {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let clock = Clock::manual(tuesday("08:57:00"));
        let seen = clock.clone();
        let fake = FakeMindbody::start(FakeMindbodyConfig {
            clock: Some(SimClock::from_fn(move || seen.now())),
            ..FakeMindbodyConfig::default()
        })
        .await
        .unwrap();
        for (id, at) in [(1, "06:30"), (2, "07:30"), (3, "12:00")] {
            fake.add_class(
                MindbodyClass::new(id, thursday(at), "CrossFit").window_opening_at(opens),
            );
        }
        let mut settings = MindbodySettings::new(SITE_ID, tz());
        settings.api_url = fake.base_url();
        settings.timeout = Duration::from_millis(500);
        let credentials = MindbodyCredentials {
            api_key: Token::new(API_KEY.into()),
            username: USERNAME.into(),
            password: Token::new(PASSWORD.into()),
        };
        let client = Arc::new(MindbodyClient::new(settings, credentials, clock.clone()).unwrap());
        World {
            _dir: dir,
            store,
            clock,
            fake,
            client,
        }
    }

    fn booker(&self) -> Booker<'_> {
        Booker {
            provider: self.client.as_ref() as &dyn GymProvider,
            store: &self.store,
            clock: &self.clock,
            timezone: tz(),
        }
    }

    /// Runs the booking, moving the manual clock forward in `step`s whenever the booking
    /// sleeps on it (to the window, between retries), until it ends.
    async fn book(&self, step: chrono::Duration) -> Outcome {
        let booker = self.booker();
        let plan = plan();
        let opens = booker.opening(&plan, NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        let run = booker.book(&plan, thursday_date(), opens);
        tokio::pin!(run);
        loop {
            // The run first: a sleep the last move ended is over before the next move.
            tokio::select! {
                biased;
                outcome = &mut run => return outcome.unwrap(),
                () = self.clock.until_sleeping(1) => self.clock.advance(step),
            }
        }
    }

    fn bookings_requested(&self) -> Vec<(DateTime<Utc>, String)> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.route == Some(MindbodyRoute::AddClientToClass))
            .map(|r| {
                (
                    r.arrived_at,
                    r.param("ClassId").unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    async fn state(&self) -> Option<GymState> {
        let mut conn = self.store.pool().acquire().await.unwrap();
        gym_bookings::get(&mut conn, "Priya Raman", thursday_date())
            .await
            .unwrap()
            .map(|r| r.state)
    }
}

#[tokio::test]
async fn the_first_request_leaves_at_the_opening_instant_and_not_before() {
    let opens = tuesday("09:00:00");
    let w = World::new(opens).await;
    // The clock jumps straight to the opening (the booking's only sleep is until then).
    let outcome = w.book(opens - w.clock.now()).await;
    let Outcome::Booked { class, full } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!((class.id.as_str(), full.len()), ("1", 0));
    let requests = w.bookings_requested();
    assert_eq!(
        requests,
        [(opens, "1".to_owned())],
        "one request, at 09:00:00"
    );
    // Logged in and read the timetable before the window, at 08:57.
    let before: Vec<MindbodyRoute> = w
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.arrived_at < opens)
        .filter_map(|r| r.route)
        .collect();
    assert_eq!(before, [MindbodyRoute::IssueToken, MindbodyRoute::Classes]);
    assert_eq!(w.state().await, Some(GymState::Booked));
    // The member's DM is left with the settled row, for the desk: settled and told together.
    let mut conn = w.store.pool().acquire().await.unwrap();
    let row = gym_bookings::get(&mut conn, "Priya Raman", thursday_date())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.to_tell.as_deref(),
        Some("✅ Booked Thu 3 Dec 06:30 CrossFit.")
    );
}

#[tokio::test]
async fn a_full_first_choice_falls_back_to_the_next_and_all_full_offers_the_waitlist() {
    let opens = tuesday("09:00:00");
    let w = World::new(opens).await;
    w.fake.update_class(1, |c| c.booked_by_others = c.capacity);
    let outcome = w.book(opens - w.clock.now()).await;
    assert!(
        matches!(&outcome, Outcome::Booked { class, full } if class.id == "2" && full == &["06:30"]),
        "{outcome:?}"
    );
    let told = super::told(&outcome, &plan(), thursday_date(), tz());
    assert_eq!(
        told.member.as_deref(),
        Some("✅ 06:30 full; booked Thu 3 Dec 07:30 CrossFit.")
    );
    assert_eq!(w.fake.visits().len(), 1);

    let w = World::new(opens).await;
    for id in 1..=3 {
        w.fake.update_class(id, |c| c.booked_by_others = c.capacity);
    }
    let outcome = w.book(opens - w.clock.now()).await;
    let Outcome::AllFull { tried, first } = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!((tried.len(), first.id.as_str()), (3, "1"));
    let told = super::told(&outcome, &plan(), thursday_date(), tz());
    let button = &told.buttons.expect("the waitlist button")["inline_keyboard"][0][0];
    assert_eq!(button["callback_data"], "gym:w:2026-12-03");
    assert_eq!(button["text"], "Join the 06:30 waitlist");
    assert_eq!(
        told.operators.as_deref(),
        Some("😕 GymBooker booked nothing for Priya Raman's Thu 3 Dec: 06:30, 07:30, 12:00 all full; the waitlist was offered.")
    );
    assert_eq!(w.state().await, Some(GymState::Full));
    assert!(w.fake.visits().is_empty() && w.fake.waitlist().is_empty());
}

#[tokio::test]
async fn not_open_yet_is_retried_until_the_window_opens() {
    // The gym's window opens 1.5 s later than the plan says.
    let w = World::new(tuesday("09:00:01") + chrono::Duration::milliseconds(500)).await;
    let outcome = w.book(chrono::Duration::milliseconds(100)).await;
    assert!(matches!(outcome, Outcome::Booked { .. }), "{outcome:?}");
    let requests = w.bookings_requested();
    assert!(requests.len() > 2, "{requests:?}");
    assert!(requests[0].0 >= tuesday("09:00:00"), "{requests:?}");
    let (last, _) = requests.last().unwrap();
    assert!(*last >= tuesday("09:00:01") + chrono::Duration::milliseconds(500));
    assert_eq!(w.fake.visits().len(), 1);
}

#[tokio::test]
async fn an_unanswered_booking_is_read_back_never_booked_again() {
    let opens = tuesday("09:00:00");
    let w = World::new(opens).await;
    w.fake.fail_next(
        MindbodyRoute::AddClientToClass,
        MindbodyFault::ProcessThenHang,
        1,
    );
    let outcome = w.book(opens - w.clock.now()).await;
    assert!(
        matches!(&outcome, Outcome::Booked { class, .. } if class.id == "1"),
        "{outcome:?}"
    );
    assert_eq!(w.bookings_requested().len(), 1, "no second booking request");
    assert_eq!(
        w.fake.count(MindbodyRoute::ClientVisits),
        1,
        "read back once"
    );
    assert_eq!(w.fake.visits().len(), 1);
}

#[tokio::test]
async fn a_run_that_died_mid_request_is_settled_by_reading_back() {
    let opens = tuesday("09:00:00");
    // The earlier run's request went through, then the process died: its row says `booking`.
    let w = World::new(opens).await;
    w.clock.set(opens);
    w.client.book(CLIENT, "1", false).await.unwrap();
    let mut tx = w.store.begin_write().await.unwrap();
    gym_bookings::set(
        &mut tx,
        "Priya Raman",
        thursday_date(),
        CLIENT,
        GymState::Booking,
        &gym_bookings::ClassRef {
            id: Some("1"),
            ..Default::default()
        },
        None,
        true,
        w.clock.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    w.fake.clear_requests();
    let outcome = w.book(opens - w.clock.now()).await;
    assert!(matches!(outcome, Outcome::Booked { .. }), "{outcome:?}");
    assert!(w.bookings_requested().is_empty(), "nothing booked again");
    assert_eq!(w.fake.visits().len(), 1);

    // Booked already: a second run changes and says nothing.
    w.fake.clear_requests();
    assert_eq!(
        w.book(chrono::Duration::seconds(1)).await,
        Outcome::Unchanged
    );
    assert!(w.fake.requests().is_empty());
}

#[tokio::test]
async fn a_refused_login_fails_loudly_and_a_skipped_day_is_left_alone() {
    let opens = tuesday("09:00:00");
    let w = World::new(opens).await;
    w.fake.fail_next(
        MindbodyRoute::IssueToken,
        herald_sim::mindbody::MindbodyFault::Unauthorized,
        1,
    );
    let outcome = w.book(opens - w.clock.now()).await;
    let Outcome::Failed(why) = &outcome else {
        panic!("{outcome:?}");
    };
    let told = super::told(&outcome, &plan(), thursday_date(), tz());
    assert!(
        told.member
            .as_deref()
            .is_some_and(|m| m.starts_with("⚠️ I could not book your Thu 3 Dec class: ")),
        "{told:?}"
    );
    assert!(
        told.operators.as_deref().is_some_and(
            |o| o.contains("Priya Raman's Thu 3 Dec class") && o.contains(why.as_str())
        ),
        "{told:?}"
    );
    assert_eq!(w.state().await, Some(GymState::Failed));
    assert!(w.bookings_requested().is_empty());

    // `/gym skip`: the day's row says skipped; the job books nothing and says nothing.
    let w = World::new(opens).await;
    let mut tx = w.store.begin_write().await.unwrap();
    gym_bookings::set(
        &mut tx,
        "Priya Raman",
        thursday_date(),
        CLIENT,
        GymState::Skipped,
        &Default::default(),
        None,
        false,
        w.clock.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        w.book(chrono::Duration::seconds(1)).await,
        Outcome::Unchanged
    );
    assert!(w.fake.requests().is_empty(), "no request at all");
}

/// A class whose requests keep going unanswered (and read back as not booked) is left
/// uncertain, never marked failed: the row stays `booking`, so no later run books afresh
/// without reading back first.
#[tokio::test]
async fn requests_that_keep_going_unanswered_leave_the_day_uncertain() {
    let opens = tuesday("09:00:00");
    let w = World::new(opens).await;
    w.fake
        .fail_next(MindbodyRoute::AddClientToClass, MindbodyFault::Hang, 3);
    let outcome = w.book(opens - w.clock.now()).await;
    assert!(matches!(outcome, Outcome::Unknown(_)), "{outcome:?}");
    assert_eq!(
        w.bookings_requested().len(),
        3,
        "three requests of the first class"
    );
    assert_eq!(
        w.fake.count(MindbodyRoute::ClientVisits),
        3,
        "each read back"
    );
    assert_eq!(w.state().await, Some(GymState::Booking));
    let told = super::told(&outcome, &plan(), thursday_date(), tz());
    assert!(told.operators.is_some(), "the operators are told");
}
