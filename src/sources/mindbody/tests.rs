//! The Mindbody client against the fake Mindbody on loopback, through the `GymProvider` trait
//! the booking job will use: the staff token issued once, reused, renewed before it expires and
//! issued again after a 401; a day's classes; a booking made, refused as full, refused before
//! the window opens, already made, waitlisted; bookings read back and cancelled; and each
//! failure named, above all a booking whose answer never came (a timeout, a lost reply), which
//! must surface as an unknown outcome with the booking readable back.

use std::time::Duration;

use crate::clock::Clock;
use crate::config::Token;
use crate::sources::gym::{BookingStatus, GymError, GymProvider, Period};
use crate::sources::mindbody::{MindbodyClient, MindbodyCredentials, MindbodySettings};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use herald_sim::mindbody::{
    FakeMindbody, FakeMindbodyConfig, MindbodyFault, MindbodyRoute, API_KEY, PASSWORD, SITE_ID,
    USERNAME,
};
use herald_sim::SimClock;

/// The member, as Mindbody knows them.
const MEMBER: &str = "100015432";
/// Sunday 22 Nov 2026, 06:30 Singapore: full.
const FULL: &str = "58211";
/// 07:30: room left.
const ROOMY: &str = "58212";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("instant")
}

fn singapore() -> Tz {
    "Asia/Singapore".parse().expect("zone")
}

fn sunday() -> Period {
    Period::day(
        NaiveDate::from_ymd_opt(2026, 11, 22).expect("date"),
        singapore(),
    )
}

/// A manual clock at `start`, and the fake Mindbody (with the fixture's classes) on it.
async fn start(start: &str) -> (Clock, FakeMindbody) {
    let clock = Clock::manual(at(start));
    let reading = clock.clone();
    let fake = FakeMindbody::start(FakeMindbodyConfig {
        clock: Some(SimClock::from_fn(move || reading.now())),
        ..FakeMindbodyConfig::default()
    })
    .await
    .expect("fake starts");
    fake.seed_fixture_classes();
    (clock, fake)
}

fn credentials(password: &str) -> MindbodyCredentials {
    MindbodyCredentials {
        api_key: Token::new(API_KEY.to_owned()),
        username: USERNAME.to_owned(),
        password: Token::new(password.to_owned()),
    }
}

fn client_with(fake: &FakeMindbody, clock: &Clock, timeout: Duration) -> MindbodyClient {
    let settings = MindbodySettings {
        api_url: fake.base_url(),
        location_ids: vec![1],
        program_ids: vec![22],
        timeout,
        ..MindbodySettings::new(SITE_ID, singapore())
    };
    MindbodyClient::new(settings, credentials(PASSWORD), clock.clone()).expect("client")
}

fn client(fake: &FakeMindbody, clock: &Clock) -> MindbodyClient {
    client_with(fake, clock, Duration::from_secs(5))
}

#[tokio::test]
async fn the_staff_token_is_issued_once_reused_renewed_and_issued_again_after_a_401() {
    let (clock, fake) = start("2026-11-20T00:50:00Z").await;
    let client = client(&fake, &clock);
    client.prepare().await.expect("logs in");
    client.classes(sunday()).await.expect("classes");
    client.classes(sunday()).await.expect("classes");
    assert_eq!(fake.tokens_issued(), 1);
    assert_eq!(fake.count(MindbodyRoute::IssueToken), 1);
    let logged = fake.requests();
    assert!(logged
        .iter()
        .filter(|r| r.route == Some(MindbodyRoute::Classes))
        .all(|r| r.authorized && r.status == Some(200)));
    assert!(logged.iter().all(|r| r.param("Password").is_none()));

    // Revoked early: one 401, a new token, the same call again.
    fake.expire_tokens();
    let classes = client.classes(sunday()).await.expect("classes after a 401");
    assert_eq!(classes.len(), 3);
    assert_eq!(fake.tokens_issued(), 2);
    let statuses: Vec<Option<u16>> = fake
        .requests()
        .iter()
        .filter(|r| r.route == Some(MindbodyRoute::Classes))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [Some(200), Some(200), Some(401), Some(200)]);

    // Near its Expires (24 h), the token is renewed without waiting for a 401.
    clock.advance(chrono::Duration::hours(24) - chrono::Duration::minutes(4));
    client.classes(sunday()).await.expect("classes");
    assert_eq!(fake.tokens_issued(), 3);
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.status == Some(401))
            .count(),
        1
    );

    // A fresh token refused too: an auth failure, after one new token only.
    fake.fail_next(MindbodyRoute::Classes, MindbodyFault::Unauthorized, 2);
    let refused = client.classes(sunday()).await.expect_err("refused");
    assert!(matches!(refused, GymError::Auth { .. }), "{refused:?}");
    assert_eq!(fake.tokens_issued(), 4);

    // Wrong credentials: an auth failure naming the fix, never the password.
    let settings = client.settings().clone();
    let wrong =
        MindbodyClient::new(settings, credentials("hunter2"), clock.clone()).expect("client");
    let refused = wrong.prepare().await.expect_err("refused");
    let text = refused.to_string();
    assert!(matches!(refused, GymError::Auth { .. }), "{text}");
    assert!(text.contains("InvalidStaffCredentials"), "{text}");
    assert!(!text.contains("hunter2") && !format!("{wrong:?}").contains("hunter2"));
    assert!(!format!("{wrong:?}").contains(API_KEY));
}

#[tokio::test]
async fn a_days_classes_are_read_with_the_configured_filters() {
    let (clock, fake) = start("2026-11-20T00:50:00Z").await;
    let client = client(&fake, &clock);
    let classes = client.classes(sunday()).await.expect("classes");
    let ids: Vec<&str> = classes.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [FULL, ROOMY, "58230"]);
    let first = &classes[0];
    assert_eq!(first.starts_at, at("2026-11-21T22:30:00Z"));
    assert_eq!(first.name, "CrossFit WOD");
    assert_eq!(first.program.as_deref(), Some("CrossFit"));
    assert_eq!((first.capacity, first.booked), (Some(16), Some(16)));
    assert!(first.is_full());
    assert_eq!(first.window_opens_at, Some(at("2026-11-20T01:00:00Z")));
    assert!(!classes[1].is_full());

    let request = fake
        .requests()
        .into_iter()
        .find(|r| r.route == Some(MindbodyRoute::Classes))
        .expect("a classes request");
    assert_eq!(request.param("LocationIds"), Some("1"));
    assert_eq!(request.param("ProgramIds"), Some("22"));
    // A day wider on each side, in site time: the client keeps only Sunday's.
    assert_eq!(request.param("StartDateTime"), Some("2026-11-21T00:00:00"));
    assert_eq!(request.param("EndDateTime"), Some("2026-11-24T00:00:00"));

    // A narrower range in UTC.
    let morning = Period::utc(at("2026-11-21T23:00:00Z"), at("2026-11-22T01:00:00Z"));
    let classes = client.classes(morning).await.expect("classes");
    assert_eq!(classes.len(), 1);
    assert_eq!(classes[0].id, ROOMY);
}

#[tokio::test]
async fn bookings_wait_for_the_window_and_each_refusal_is_named() {
    let (clock, fake) = start("2026-11-20T00:59:59Z").await;
    let client = client(&fake, &clock);
    client.prepare().await.expect("logs in");

    let early = client.book(MEMBER, ROOMY, false).await.expect_err("early");
    assert!(
        matches!(early, GymError::WindowNotOpen { ref code, .. } if code == "InvalidBookingTime"),
        "{early:?}"
    );
    assert!(!early.outcome_unknown());

    clock.set(at("2026-11-20T01:00:00Z"));
    let booking = client.book(MEMBER, ROOMY, false).await.expect("booked");
    assert_eq!(booking.status, BookingStatus::Booked);
    assert_eq!(booking.class_id, ROOMY);
    assert_eq!(booking.member, MEMBER);
    assert_eq!(booking.starts_at, Some(at("2026-11-21T23:30:00Z")));
    assert!(booking.reference.is_some());
    let arrived = fake
        .requests()
        .into_iter()
        .filter(|r| r.route == Some(MindbodyRoute::AddClientToClass))
        .map(|r| r.arrived_at)
        .collect::<Vec<_>>();
    assert_eq!(
        arrived,
        [at("2026-11-20T00:59:59Z"), at("2026-11-20T01:00:00Z")]
    );

    let again = client.book(MEMBER, ROOMY, false).await.expect_err("twice");
    assert!(matches!(again, GymError::AlreadyBooked { .. }), "{again:?}");
    let full = client.book(MEMBER, FULL, false).await.expect_err("full");
    assert!(
        matches!(full, GymError::Full { ref class_id, .. } if class_id == FULL),
        "{full:?}"
    );
    let place = client.book(MEMBER, FULL, true).await.expect("waitlisted");
    assert_eq!(place.status, BookingStatus::Waitlisted);
    assert_eq!(fake.visits().len(), 1);
    assert_eq!(fake.waitlist().len(), 1);

    let unknown = client
        .book(MEMBER, "99999", false)
        .await
        .expect_err("no class");
    assert!(
        matches!(unknown, GymError::InvalidClass { .. }),
        "{unknown:?}"
    );
    let garbage = client
        .book(MEMBER, "six-thirty", false)
        .await
        .expect_err("no class");
    assert!(
        matches!(garbage, GymError::InvalidClass { .. }),
        "{garbage:?}"
    );
    fake.suspend_client("100099999", true);
    let suspended = client
        .book("100099999", "58230", false)
        .await
        .expect_err("suspended");
    assert!(
        matches!(suspended, GymError::ClientSuspended { .. }),
        "{suspended:?}"
    );
    fake.update_class(58230, |c| c.requires_payment = true);
    fake.set_without_pricing_option("100088888", true);
    let unpaid = client
        .book("100088888", "58230", false)
        .await
        .expect_err("unpaid");
    assert!(
        matches!(unpaid, GymError::RequiresPayment { .. }),
        "{unpaid:?}"
    );

    // Read back: the place, not the waiting-list entry; then cancelled.
    let bookings = client.bookings(MEMBER, sunday()).await.expect("bookings");
    assert_eq!(bookings.len(), 1);
    assert_eq!(bookings[0].class_id, ROOMY);
    assert_eq!(bookings[0].status, BookingStatus::Booked);
    client.cancel(MEMBER, ROOMY).await.expect("cancelled");
    assert!(client
        .bookings(MEMBER, sunday())
        .await
        .expect("bookings")
        .is_empty());
    assert_eq!(fake.cancellations().len(), 1);
    let cancelled = fake
        .requests()
        .into_iter()
        .find(|r| r.route == Some(MindbodyRoute::RemoveClientFromClass))
        .expect("logged");
    assert_eq!(cancelled.param("LateCancel"), Some("false"));
    let twice = client.cancel(MEMBER, ROOMY).await.expect_err("not booked");
    assert!(
        matches!(twice, GymError::Refused { status: 400, .. }),
        "{twice:?}"
    );
}

#[tokio::test]
async fn a_booking_without_an_answer_is_an_unknown_outcome_readable_back() {
    let (clock, fake) = start("2026-11-20T01:00:00Z").await;
    let client = client_with(&fake, &clock, Duration::from_millis(300));
    client.prepare().await.expect("logs in");

    // Booked, then the answer is held past the client's timeout.
    fake.fail_next(
        MindbodyRoute::AddClientToClass,
        MindbodyFault::ProcessThenHang,
        1,
    );
    let timed_out = client
        .book(MEMBER, ROOMY, false)
        .await
        .expect_err("timeout");
    assert!(
        matches!(timed_out, GymError::Timeout { .. }),
        "{timed_out:?}"
    );
    assert!(timed_out.outcome_unknown());
    let read_back = client.bookings(MEMBER, sunday()).await.expect("bookings");
    assert_eq!(read_back.len(), 1);
    assert_eq!(read_back[0].class_id, ROOMY);
    assert_eq!(fake.visits().len(), 1);
    assert_eq!(
        fake.count(MindbodyRoute::AddClientToClass),
        1,
        "never booked twice"
    );

    // Booked, then the connection is closed before any answer.
    fake.fail_next(MindbodyRoute::AddClientToClass, MindbodyFault::ReplyLost, 1);
    let lost = client.book(MEMBER, "58230", false).await.expect_err("lost");
    assert!(
        matches!(
            lost,
            GymError::Transport {
                maybe_sent: true,
                ..
            }
        ),
        "{lost:?}"
    );
    assert!(lost.outcome_unknown());
    assert_eq!(fake.visits().len(), 2);

    // Held and never processed: a timeout all the same (the client cannot tell).
    fake.fail_next(MindbodyRoute::AddClientToClass, MindbodyFault::Hang, 1);
    let hung = client.book(MEMBER, FULL, true).await.expect_err("hang");
    assert!(hung.outcome_unknown());
    assert!(fake.waitlist().is_empty());
    fake.shutdown();
}

#[tokio::test]
async fn server_errors_and_an_unreachable_mindbody_are_named() {
    let (clock, fake) = start("2026-11-20T01:00:00Z").await;
    let client = client(&fake, &clock);
    fake.fail_next(
        MindbodyRoute::AddClientToClass,
        MindbodyFault::ServerError,
        1,
    );
    let failed = client.book(MEMBER, ROOMY, false).await.expect_err("500");
    assert!(
        matches!(failed, GymError::Server { status: 500, .. }),
        "{failed:?}"
    );
    assert!(failed.outcome_unknown());
    assert!(fake.visits().is_empty());
    fake.fail_next(MindbodyRoute::Classes, MindbodyFault::HtmlPage(502), 1);
    let page = client.classes(sunday()).await.expect_err("502");
    assert!(
        matches!(page, GymError::Server { status: 502, .. }),
        "{page:?}"
    );
    // The same calls work again afterwards.
    client.book(MEMBER, ROOMY, false).await.expect("booked");

    // Nobody listening: surely not sent.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let settings = MindbodySettings {
        api_url: format!("http://127.0.0.1:{port}/public/v6"),
        timeout: Duration::from_secs(5),
        ..MindbodySettings::new(SITE_ID, singapore())
    };
    let nowhere = MindbodyClient::new(settings, credentials(PASSWORD), clock).expect("client");
    let refused = nowhere.prepare().await.expect_err("no one there");
    assert!(
        matches!(
            refused,
            GymError::Transport {
                maybe_sent: false,
                ..
            }
        ),
        "{refused:?}"
    );
    assert!(!refused.outcome_unknown());
}

/// Every exchange with Mindbody is counted under `source="mindbody"` in `/metrics` (the counters
/// are the process's, shared with tests running beside this one: they can only grow).
#[tokio::test]
async fn every_exchange_is_counted_in_the_metrics() {
    let count = || {
        let state = crate::telemetry::metrics::ScrapeState {
            outbox: Vec::new(),
            lease: None,
            ready: true,
            capabilities: Vec::new(),
        };
        let text = crate::telemetry::metrics::encode(crate::telemetry::metrics::process(), &state)
            .expect("encodes");
        text.lines()
            .find(|l| {
                l.starts_with("herald_source_calls_total{source=\"mindbody\",outcome=\"ok\"}")
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let before = count();
    let (clock, fake) = start("2026-11-20T01:00:00Z").await;
    let client = client(&fake, &clock);
    client.classes(sunday()).await.expect("classes");
    // The token's issue and the classes' read.
    assert!(count() >= before + 2.0, "{before} -> {}", count());
}
