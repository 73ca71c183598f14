//! How far after a gym booking window opens GymBooker's first booking request reaches the
//! booking system, in process against the fake Mindbody on loopback, on the real clock
//! (`cargo bench --bench gym_window`).
//!
//! Each round: a fresh fake and database, a class whose window opens 1.5 s ahead, and the
//! booking job's own code ([`herald::gym::booking::Booker`]): it logs in and reads the
//! timetable at once, sleeps on the clock until the opening, and books. The figure is the
//! fake's arrival instant of the booking request minus the opening (the target: at or after
//! 0, under 200 ms). The scheduler is left out on purpose: it starts the job minutes before
//! the window, so its own lateness never reaches the opening.
//!
//! Reference, measured in the same run: the bare loopback round trip of the same request
//! (sent by the same client at a known instant, outside any wait): its arrival minus its send.
//! Prints p50 / p99 / max of both; asserts nothing beyond "never early".

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::sync::Arc;

use chrono::{DateTime, NaiveTime, Timelike, Utc, Weekday};
use herald::clock::Clock;
use herald::config::Token;
use herald::gym::booking::Booker;
use herald::gym::plan::GymPlan;
use herald::sources::mindbody::{MindbodyClient, MindbodyCredentials, MindbodySettings};
use herald::store::Store;
use herald_sim::mindbody::{
    FakeMindbody, FakeMindbodyConfig, MindbodyClass, MindbodyRoute, API_KEY, PASSWORD, SITE_ID,
    USERNAME,
};

const ROUNDS: usize = 20;

fn main() {
    let runtime = support::runtime();
    runtime.block_on(async {
        let mut after_opening = Vec::new();
        let mut round_trip = Vec::new();
        for _ in 0..ROUNDS {
            let (late, bare) = round().await;
            after_opening.push(late);
            round_trip.push(bare);
        }
        let early = after_opening.iter().filter(|ms| **ms < 0.0).count();
        println!("gym window: first booking request after the window opened ({ROUNDS} rounds, real clock)");
        print_figures("  herald (sleep to the opening, then book)", &mut after_opening);
        print_figures("  reference (bare loopback round trip)   ", &mut round_trip);
        println!("  requests before the opening: {early}");
    });
}

fn print_figures(label: &str, ms: &mut [f64]) {
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.5),
        at(0.99),
        ms[ms.len() - 1]
    );
}

/// One booking at a window opening 1.5 s from now: (ms after the opening, bare round trip ms).
async fn round() -> (f64, f64) {
    let tz: chrono_tz::Tz = "Asia/Singapore".parse().expect("zone");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&format!("sqlite://{}/bench.db", dir.path().display()))
        .await
        .expect("store");
    let fake = FakeMindbody::start(FakeMindbodyConfig::default())
        .await
        .expect("fake Mindbody");
    let clock = Clock::system();
    let opens = clock.now() + chrono::Duration::milliseconds(1500);
    let local_opening = opens.with_timezone(&tz);
    let booking_day = local_opening.date_naive();
    let class_day = booking_day + chrono::Duration::days(2);
    let starts = class_day
        .and_time(NaiveTime::from_hms_opt(7, 30, 0).expect("time"))
        .and_local_timezone(tz)
        .earliest()
        .expect("instant")
        .with_timezone(&Utc);
    fake.add_class(MindbodyClass::new(1, starts, "CrossFit").window_opening_at(opens));
    fake.add_class(MindbodyClass::new(
        2,
        starts + chrono::Duration::hours(1),
        "CrossFit",
    ));
    let mut settings = MindbodySettings::new(SITE_ID, tz);
    settings.api_url = fake.base_url();
    let credentials = MindbodyCredentials {
        api_key: Token::new(API_KEY.into()),
        username: USERNAME.into(),
        password: Token::new(PASSWORD.into()),
    };
    let client =
        Arc::new(MindbodyClient::new(settings, credentials, clock.clone()).expect("client"));
    let plan = GymPlan {
        member: "Priya Raman".into(),
        telegram_id: 1,
        client_id: "100015".into(),
        days: vec![
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ],
        times: vec![NaiveTime::from_hms_opt(7, 30, 0).expect("time")],
        days_ahead: 2,
        window_opens: local_opening
            .time()
            .with_nanosecond(local_opening.nanosecond())
            .expect("time"),
    };
    let booker = Booker {
        provider: client.as_ref(),
        store: &store,
        clock: &clock,
        timezone: tz,
    };
    let opening = booker.opening(&plan, booking_day);
    booker
        .book(&plan, class_day, opening)
        .await
        .expect("booking runs");
    let first = fake
        .requests()
        .into_iter()
        .find(|r| r.route == Some(MindbodyRoute::AddClientToClass))
        .expect("a booking request");
    let late = ms(first.arrived_at - opening);

    // The reference: the same request, sent now, for the class whose window is open.
    let sent: DateTime<Utc> = clock.now();
    use herald::sources::gym::GymProvider;
    client.book("100016", "2", false).await.expect("booked");
    let bare = fake
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.route == Some(MindbodyRoute::AddClientToClass))
        .expect("the reference request");
    fake.shutdown();
    (late, ms(bare.arrived_at - sent))
}

fn ms(d: chrono::Duration) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
}
