//! The fake Mindbody over real HTTP: the staff token, classes (filters, paging, site-local
//! times), the booking rules in the order Mindbody checks them (the window opening on the
//! test's clock, full, waiting list, already booked, suspended, payment, unknown class),
//! bookings read back and cancelled, and each fault (500, a hang, a booking whose answer is
//! held or lost, a delay), with the request log a bench reads.
//!
//! They exist because GymBooker's client and booking job are tested against this fake: it must
//! refuse what Mindbody refuses, and its faults must leave the state a real failure would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use herald_sim::mindbody::{
    FakeMindbody, FakeMindbodyConfig, MindbodyClass, MindbodyFault, MindbodyRoute, API_KEY,
    PASSWORD, SITE_ID, USERNAME,
};
use herald_sim::SimClock;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CLIENT: &str = "100015432";
/// The fixture's 06:30 class (Sunday, Singapore): full.
const FULL: i64 = 58211;
/// The 07:30 class: 9 of 16 booked.
const ROOMY: i64 = 58212;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("instant")
}

/// A clock the test moves, shared with the fake.
#[derive(Clone)]
struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    fn new(start: &str) -> TestClock {
        TestClock(Arc::new(Mutex::new(at(start))))
    }

    fn set(&self, to: &str) {
        *self.0.lock().expect("clock") = at(to);
    }

    fn sim(&self) -> SimClock {
        let reading = Arc::clone(&self.0);
        SimClock::from_fn(move || *reading.lock().expect("clock"))
    }
}

/// The fake with the fixture's classes, on `clock` (Friday 20 Nov 2026, 08:59 in Singapore:
/// a minute before the windows open).
async fn start(clock: &TestClock) -> FakeMindbody {
    let fake = FakeMindbody::start(FakeMindbodyConfig {
        clock: Some(clock.sim()),
        ..FakeMindbodyConfig::default()
    })
    .await
    .expect("fake starts");
    assert_eq!(fake.seed_fixture_classes(), 3);
    fake
}

/// The raw answer to one HTTP/1.1 request on a fresh connection: every byte the fake sent.
async fn exchange(
    fake: &FakeMindbody,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Vec<u8> {
    let base = fake.base_url();
    let rest = base.trim_start_matches("http://");
    let (addr, prefix) = rest.split_once('/').expect("a path in the base URL");
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!(
        "{method} /{prefix}{path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("writes");
    stream.write_all(body.as_bytes()).await.expect("writes");
    let mut raw = Vec::new();
    // A reset (a lost reply) ends the answer like a close.
    let _ = stream.read_to_end(&mut raw).await;
    raw
}

/// (status, JSON body) of an answer.
fn parse(raw: &[u8]) -> (u16, Value) {
    let text = String::from_utf8(raw.to_vec()).expect("UTF-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    };
    (status, value)
}

/// A call with the API key, the site and `token` (if any).
async fn call(
    fake: &FakeMindbody,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut headers = vec![("Api-Key", API_KEY), ("SiteId", SITE_ID)];
    if let Some(token) = token {
        headers.push(("Authorization", token));
    }
    parse(&exchange(fake, method, path, &headers, body.as_ref()).await)
}

async fn token(fake: &FakeMindbody) -> String {
    let (status, body) = call(
        fake,
        "POST",
        "/usertoken/issue",
        None,
        Some(json!({ "Username": USERNAME, "Password": PASSWORD })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["AccessToken"].as_str().expect("a token").to_owned()
}

fn book_body(class_id: i64, waitlist: bool) -> Value {
    json!({
        "ClientId": CLIENT, "ClassId": class_id, "Test": false,
        "RequirePayment": false, "Waitlist": waitlist, "SendEmail": false
    })
}

async fn book(fake: &FakeMindbody, token: &str, class_id: i64, waitlist: bool) -> (u16, Value) {
    call(
        fake,
        "POST",
        "/class/addclienttoclass",
        Some(token),
        Some(book_body(class_id, waitlist)),
    )
    .await
}

fn code(body: &Value) -> &str {
    body["Error"]["Code"].as_str().unwrap_or("(no code)")
}

#[tokio::test]
async fn a_staff_token_is_issued_for_the_right_credentials_only() {
    let clock = TestClock::new("2026-11-20T00:59:00Z");
    let fake = start(&clock).await;
    let (status, body) = call(
        &fake,
        "POST",
        "/usertoken/issue",
        None,
        Some(json!({ "Username": USERNAME, "Password": PASSWORD })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["TokenType"], "Bearer");
    assert_eq!(body["Expires"], "2026-11-21T00:59:00Z");
    assert_eq!(body["User"]["Type"], "Staff");
    let (status, body) = call(
        &fake,
        "POST",
        "/usertoken/issue",
        None,
        Some(json!({ "Username": USERNAME, "Password": "wrong" })),
    )
    .await;
    assert_eq!((status, code(&body)), (401, "InvalidStaffCredentials"));
    // No API key: refused before anything else.
    let raw = exchange(
        &fake,
        "POST",
        "/usertoken/issue",
        &[("SiteId", SITE_ID)],
        Some(&json!({ "Username": USERNAME, "Password": PASSWORD })),
    )
    .await;
    assert_eq!(parse(&raw).0, 401);
    assert_eq!(fake.tokens_issued(), 1);
    // The log keeps the username, never the password.
    let first = &fake.requests()[0];
    assert_eq!(first.route, Some(MindbodyRoute::IssueToken));
    assert_eq!(first.param("Username"), Some(USERNAME));
    assert_eq!(first.param("Password"), None);
    assert_eq!(first.status, Some(200));
}

#[tokio::test]
async fn classes_are_filtered_paged_and_need_a_live_token() {
    let clock = TestClock::new("2026-11-20T00:59:00Z");
    let fake = start(&clock).await;
    let token = token(&fake).await;
    let day = "/class/classes?request.startDateTime=2026-11-21T16:00:00Z&request.endDateTime=2026-11-22T16:00:00Z";
    let (status, body) = call(&fake, "GET", day, Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    let classes = body["Classes"].as_array().expect("classes");
    assert_eq!(classes.len(), 3);
    assert_eq!(classes[0]["Id"], FULL);
    assert_eq!(classes[0]["StartDateTime"], "2026-11-21T22:30:00Z");
    assert_eq!(
        classes[0]["ClassDescription"]["Program"]["Name"],
        "CrossFit"
    );
    assert_eq!(
        classes[0]["BookingWindow"]["StartDateTime"],
        "2026-11-20T01:00:00Z"
    );
    assert_eq!(classes[1]["TotalBooked"], 9);
    // The window is not open yet at 08:59: nothing is available.
    assert_eq!(classes[1]["IsAvailable"], false);
    assert_eq!(body["PaginationResponse"]["TotalResults"], 3);

    // Bare names, lists and paging.
    let (_, body) = call(
        &fake,
        "GET",
        "/class/classes?StartDateTime=2026-11-21T16:00:00Z&EndDateTime=2026-11-22T16:00:00Z&LocationIds=1&ProgramIds=22&ProgramIds=23&Limit=2&Offset=2",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(body["Classes"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["Classes"][0]["Id"], 58230);
    assert_eq!(body["PaginationResponse"]["TotalResults"], 3);
    let (_, body) = call(
        &fake,
        "GET",
        &format!("{day}&request.locationIds=2"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(body["Classes"].as_array().map(Vec::len), Some(0));

    clock.set("2026-11-20T01:00:00Z");
    let (_, body) = call(&fake, "GET", day, Some(&token), None).await;
    assert_eq!(body["Classes"][1]["IsAvailable"], true);
    assert_eq!(body["Classes"][0]["IsAvailable"], false, "full");

    for bad in [None, Some("not-a-token")] {
        let (status, body) = call(&fake, "GET", day, bad, None).await;
        assert_eq!((status, code(&body)), (401, "DeniedAccess"));
    }
    fake.expire_tokens();
    let (status, _) = call(&fake, "GET", day, Some(&format!("Bearer {token}")), None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_booking_waits_for_the_window_and_is_made_once() {
    let clock = TestClock::new("2026-11-20T00:59:59Z");
    let fake = start(&clock).await;
    let token = token(&fake).await;
    let (status, body) = book(&fake, &token, ROOMY, false).await;
    assert_eq!((status, code(&body)), (400, "InvalidBookingTime"));
    assert!(fake.visits().is_empty());

    clock.set("2026-11-20T01:00:00Z");
    let (status, body) = book(&fake, &token, ROOMY, false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Visit"]["ClassId"], ROOMY);
    assert_eq!(body["Visit"]["ClientId"], CLIENT);
    assert_eq!(body["Visit"]["WaitlistEntryId"], Value::Null);
    assert!(body["Visit"]["Id"].as_i64().is_some());
    let (status, body) = book(&fake, &token, ROOMY, false).await;
    assert_eq!((status, code(&body)), (400, "ClientIsAlreadyBooked"));
    let visits = fake.visits();
    assert_eq!(visits.len(), 1);
    assert_eq!(visits[0].booked_at, at("2026-11-20T01:00:00Z"));

    // The log tells when each booking arrived, on the fake's clock and the monotonic one.
    let bookings: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.route == Some(MindbodyRoute::AddClientToClass))
        .collect();
    assert_eq!(bookings.len(), 3);
    assert_eq!(bookings[0].arrived_at, at("2026-11-20T00:59:59Z"));
    assert_eq!(
        bookings[0].error_code.as_deref(),
        Some("InvalidBookingTime")
    );
    assert_eq!(bookings[1].arrived_at, at("2026-11-20T01:00:00Z"));
    assert_eq!(bookings[1].status, Some(200));
    assert!(bookings[1].arrived <= bookings[2].arrived);
    assert_eq!(bookings[1].param("ClassId"), Some("58212"));
    assert_eq!(bookings[1].param("Waitlist"), Some("false"));
    assert!(bookings[1].authorized);

    // Read back, then cancelled.
    // Dates are the site's: UTC here, where the 07:30 (+08:00) class is on the 21st.
    let visits_path = format!(
        "/client/clientvisits?request.clientId={CLIENT}&request.startDate=2026-11-21&request.endDate=2026-11-21"
    );
    let (status, body) = call(&fake, "GET", &visits_path, Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Visits"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["Visits"][0]["ClassId"], ROOMY);
    assert_eq!(body["Visits"][0]["StartDateTime"], "2026-11-21T23:30:00Z");
    let remove = |class_id: i64| json!({ "ClientId": CLIENT, "ClassId": class_id, "LateCancel": false, "SendEmail": false });
    let (status, body) = call(
        &fake,
        "POST",
        "/class/removeclientfromclass",
        Some(&token),
        Some(remove(ROOMY)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Class"]["Id"], ROOMY);
    assert!(fake.visits().is_empty());
    assert_eq!(fake.cancellations().len(), 1);
    let (status, body) = call(
        &fake,
        "POST",
        "/class/removeclientfromclass",
        Some(&token),
        Some(remove(ROOMY)),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "ClientIsNotBooked"));
    let (_, body) = call(&fake, "GET", &visits_path, Some(&token), None).await;
    assert_eq!(body["Visits"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn a_full_class_refuses_or_waitlists_and_every_other_refusal_has_its_code() {
    let clock = TestClock::new("2026-11-20T01:00:00Z");
    let fake = start(&clock).await;
    let token = token(&fake).await;
    let (status, body) = book(&fake, &token, FULL, false).await;
    assert_eq!((status, code(&body)), (400, "ClassSignUpsFull"));
    let (status, body) = book(&fake, &token, FULL, true).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["Visit"]["WaitlistEntryId"].as_i64().is_some());
    assert_eq!(body["Visit"]["Id"], Value::Null);
    assert_eq!(fake.waitlist().len(), 1);
    assert!(fake.visits().is_empty());
    let (status, body) = book(&fake, &token, FULL, true).await;
    assert_eq!((status, code(&body)), (400, "ClientIsAlreadyBooked"));

    // A class without a waiting list stays full.
    assert!(fake.update_class(58230, |c| {
        c.booked_by_others = c.capacity;
        c.waitlist_available = false;
    }));
    let (_, body) = book(&fake, &token, 58230, true).await;
    assert_eq!(code(&body), "ClassSignUpsFull");

    let (status, body) = book(&fake, &token, 99999, false).await;
    assert_eq!((status, code(&body)), (400, "InvalidClassId"));

    fake.set_without_pricing_option(CLIENT, true);
    let (_, body) = call(
        &fake,
        "POST",
        "/class/addclienttoclass",
        Some(&token),
        Some(json!({ "ClientId": CLIENT, "ClassId": ROOMY, "RequirePayment": true })),
    )
    .await;
    assert_eq!(code(&body), "ClassRequiresPayment");
    fake.set_without_pricing_option(CLIENT, false);

    fake.suspend_client(CLIENT, true);
    let (_, body) = book(&fake, &token, ROOMY, false).await;
    assert_eq!(code(&body), "ClientIsSuspended");
    fake.suspend_client(CLIENT, false);

    // Test: validated, not committed.
    let (status, _) = call(
        &fake,
        "POST",
        "/class/addclienttoclass",
        Some(&token),
        Some(json!({ "ClientId": CLIENT, "ClassId": ROOMY, "Test": true })),
    )
    .await;
    assert_eq!(status, 200);
    assert!(fake.visits().is_empty());
    let (status, _) = book(&fake, &token, ROOMY, false).await;
    assert_eq!(status, 200);

    // After the class started, the window is closed (and the day-old token expired).
    clock.set("2026-11-21T23:30:00Z");
    let token = self::token(&fake).await;
    fake.add_class(MindbodyClass::new(
        70001,
        at("2026-11-21T23:00:00Z"),
        "CrossFit WOD",
    ));
    let (_, body) = book(&fake, &token, 70001, false).await;
    assert_eq!(code(&body), "InvalidBookingTime");
}

#[tokio::test]
async fn faults_leave_the_state_a_real_failure_would() {
    let clock = TestClock::new("2026-11-20T01:00:00Z");
    let fake = start(&clock).await;
    let token = token(&fake).await;

    // 500: nothing booked.
    fake.fail_next(
        MindbodyRoute::AddClientToClass,
        MindbodyFault::ServerError,
        1,
    );
    let (status, _) = book(&fake, &token, ROOMY, false).await;
    assert_eq!(status, 500);
    assert!(fake.visits().is_empty());

    // A lost reply: booked, and not one byte of an answer.
    fake.fail_next(MindbodyRoute::AddClientToClass, MindbodyFault::ReplyLost, 1);
    let raw = exchange(
        &fake,
        "POST",
        "/class/addclienttoclass",
        &[
            ("Api-Key", API_KEY),
            ("SiteId", SITE_ID),
            ("Authorization", &token),
        ],
        Some(&book_body(ROOMY, false)),
    )
    .await;
    assert!(raw.is_empty(), "{}", String::from_utf8_lossy(&raw));
    assert_eq!(fake.visits().len(), 1);
    let lost = fake.requests().pop().expect("logged");
    assert_eq!(lost.fault, Some(MindbodyFault::ReplyLost));
    assert_eq!(lost.status, None);

    // Booked, then the answer is held: the client would time out.
    fake.fail_next(
        MindbodyRoute::AddClientToClass,
        MindbodyFault::ProcessThenHang,
        1,
    );
    let held = tokio::spawn({
        let fake = fake.clone();
        let token = token.clone();
        async move { book(&fake, &token, 58230, false).await }
    });
    fake.wait_until(|f| f.visits().len() == 2).await;
    assert!(!held.is_finished());

    // Held, never processed.
    fake.fail_next(MindbodyRoute::ClientVisits, MindbodyFault::Hang, 1);
    let hung = tokio::spawn({
        let fake = fake.clone();
        let token = token.clone();
        async move {
            let path = format!("/client/clientvisits?ClientId={CLIENT}");
            exchange(
                &fake,
                "GET",
                &path,
                &[
                    ("Api-Key", API_KEY),
                    ("SiteId", SITE_ID),
                    ("Authorization", &token),
                ],
                None,
            )
            .await
        }
    });
    fake.wait_for_requests(MindbodyRoute::ClientVisits, 1).await;
    assert!(!hung.is_finished());

    // A delay: answered normally, late.
    fake.fail_next(
        MindbodyRoute::Classes,
        MindbodyFault::Delay(Duration::from_millis(20)),
        1,
    );
    let (status, _) = call(&fake, "GET", "/class/classes", Some(&token), None).await;
    assert_eq!(status, 200);

    // Shutting down ends the held requests without a useful answer.
    fake.shutdown();
    let held = held.await.expect("joins");
    assert_eq!(held.0, 503);
    let hung = hung.await.expect("joins");
    assert!(hung.is_empty() || parse(&hung).0 == 503);
    assert_eq!(fake.visits().len(), 2);
}

#[tokio::test]
async fn site_local_times_are_read_and_written_without_an_offset() {
    let clock = TestClock::new("2026-11-20T01:00:00Z");
    let fake = FakeMindbody::start(FakeMindbodyConfig {
        clock: Some(clock.sim()),
        local_times: FixedOffset::east_opt(8 * 3600),
        ..FakeMindbodyConfig::default()
    })
    .await
    .expect("fake starts");
    fake.seed_fixture_classes();
    let token = token(&fake).await;
    let (_, body) = call(
        &fake,
        "GET",
        "/class/classes?StartDateTime=2026-11-22&EndDateTime=2026-11-22",
        Some(&token),
        None,
    )
    .await;
    let classes = body["Classes"].as_array().expect("classes");
    assert_eq!(classes.len(), 3);
    assert_eq!(classes[0]["StartDateTime"], "2026-11-22T06:30:00");
    assert_eq!(
        classes[2]["BookingWindow"]["StartDateTime"],
        "2026-11-20T09:00:00"
    );
    let (_, body) = call(
        &fake,
        "GET",
        "/class/classes?StartDateTime=2026-11-22T07:00:00&EndDateTime=2026-11-22T23:59:59",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(body["Classes"].as_array().map(Vec::len), Some(2));
}
