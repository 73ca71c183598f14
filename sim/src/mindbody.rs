//! A fake Mindbody (Public API v6) on loopback, for GymBooker's client tests, its booking bench
//! and `herald sandbox`. It answers in Mindbody's wire format (`tests/fixtures/mindbody/`: the
//! documented shapes, and `*_ASSUMED.json` where Mindbody documents nothing, chiefly the error
//! bodies) and keeps its records as its own types, never herald's, so a mistake in herald's
//! model cannot hide behind the same mistake here.
//!
//! Routes (under [`FakeMindbody::base_url`], i.e. `/public/v6`):
//! - `POST /usertoken/issue` with `{"Username","Password"}`: a staff user token
//!   (`AccessToken`, `TokenType`, `Expires`, `User`); wrong credentials: 401
//!   `InvalidStaffCredentials`.
//! - `GET /class/classes?StartDateTime=&EndDateTime=&LocationIds=&ProgramIds=&ClassIds=&ClientId=
//!   &Limit=&Offset=`: classes starting in the range, by start time, paged
//!   (`PaginationResponse`). `TotalBooked`, `IsAvailable` and `IsEnrolled` are computed from the
//!   fake's bookings and its clock.
//! - `POST /class/addclienttoclass` with `{"ClientId","ClassId","Test","RequirePayment",
//!   "Waitlist","SendEmail"}`: checks, in this order, the class (`InvalidClassId`), the client
//!   (`ClientIsSuspended`), a booking already made (`ClientIsAlreadyBooked`, also when already
//!   on the waiting list), the booking window (`InvalidBookingTime` before it opens or after it
//!   closes), payment (`ClassRequiresPayment`, see [`FakeMindbody::set_without_pricing_option`])
//!   and capacity (`ClassSignUpsFull`, or with `Waitlist: true` and a waiting list, a waiting
//!   list entry: a `Visit` with `WaitlistEntryId` set). `Test: true` validates only. Each
//!   refusal is HTTP 400 with `{"Error":{"Message","Code"}}`.
//! - `GET /client/clientvisits?ClientId=&StartDate=&EndDate=`: the client's booked classes
//!   (not waiting-list entries) starting in the range.
//! - `POST /class/removeclientfromclass` with `{"ClientId","ClassId","LateCancel"}`: cancels a
//!   booking (`{"Class":{...}}`); not booked: 400 `ClientIsNotBooked` (ASSUMED code).
//!
//! Query parameters are read as ASP.NET binds them: names in any case, with or without the
//! documented `request.` prefix, lists as repeated keys or comma-separated. Times without an
//! offset are the site's local time ([`FakeMindbodyConfig::local_times`], UTC if unset); the
//! fake writes its times the same way (with `Z` when unset, as Mindbody documents).
//!
//! Every route wants the `Api-Key` and `SiteId` headers, and every route but the token's a live
//! staff token in `Authorization` (bare, or after `Bearer `): else 401 (the `DeniedAccess`
//! fixture). Real Mindbody lets some reads through without a staff token; herald always sends
//! one, so the fake is stricter.
//!
//! "Now" (token expiry, booking windows) is the [`SimClock`] of the config, so a test drives the
//! window's opening with the same clock herald runs on. Faults are scripted per route
//! ([`FakeMindbody::fail_next`], [`MindbodyFault`]). Every request is logged at arrival
//! ([`FakeMindbody::requests`]) with its parameters (never the password nor a token) and the
//! instant it arrived on both the fake's clock and the monotonic clock, so a bench can tell how
//! long after the window opened a booking arrived.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State as AxumState};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::SimClock;
use crate::server::{ConnKill, SimListener};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../tests/fixtures/mindbody/", $name))
    };
}

/// The `Api-Key` the fake accepts unless configured otherwise.
pub const API_KEY: &str = "mindbody-test-api-key";
/// The `SiteId` (Mindbody's sandbox site).
pub const SITE_ID: &str = "-99";
/// The staff username that gets a token.
pub const USERNAME: &str = "gymbooker-staff";
/// Its password.
pub const PASSWORD: &str = "staff-password-1";
/// Page size when a request gives no `Limit` (Mindbody's default).
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `Limit` accepted.
pub const MAX_LIMIT: usize = 200;

/// What the fake knows at start.
#[derive(Clone)]
pub struct FakeMindbodyConfig {
    pub api_key: String,
    pub site_id: String,
    pub username: String,
    pub password: String,
    /// Lifetime of a staff token.
    pub token_lifetime: chrono::Duration,
    /// `Some(offset)`: times are read and written as the site's local time without an offset
    /// (`2026-11-22T06:30:00`), as integrators report Mindbody does for classes (ASSUMED);
    /// `None`: UTC with `Z`, as Mindbody documents.
    pub local_times: Option<FixedOffset>,
    /// Source of "now"; the system clock if `None`.
    pub clock: Option<SimClock>,
}

impl Default for FakeMindbodyConfig {
    fn default() -> Self {
        FakeMindbodyConfig {
            api_key: API_KEY.into(),
            site_id: SITE_ID.into(),
            username: USERNAME.into(),
            password: PASSWORD.into(),
            token_lifetime: chrono::Duration::hours(24),
            local_times: None,
            clock: None,
        }
    }
}

/// Shows no credential.
impl fmt::Debug for FakeMindbodyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeMindbodyConfig")
            .field("site_id", &self.site_id)
            .field("token_lifetime", &self.token_lifetime)
            .field("local_times", &self.local_times)
            .finish_non_exhaustive()
    }
}

/// The fake's routes, for faults and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MindbodyRoute {
    /// `POST /usertoken/issue`
    IssueToken,
    /// `GET /class/classes`
    Classes,
    /// `POST /class/addclienttoclass`
    AddClientToClass,
    /// `GET /client/clientvisits`
    ClientVisits,
    /// `POST /class/removeclientfromclass`
    RemoveClientFromClass,
}

/// A scripted failure, played instead of (or around) the route's normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MindbodyFault {
    /// 500 with a JSON error body; nothing is processed.
    ServerError,
    /// An HTML page with this status (a proxy's error page); nothing is processed.
    HtmlPage(u16),
    /// 401 with the `DeniedAccess` body, whatever the token; nothing is processed.
    Unauthorized,
    /// The request is held and never answered (until the fake shuts down); nothing is
    /// processed. The client sees its timeout.
    Hang,
    /// The request is processed (a booking is made), then the answer is held forever: the
    /// client sees its timeout, yet the change happened.
    ProcessThenHang,
    /// The request is processed, then the connection is closed before any byte of the answer:
    /// the client sees the connection closed, yet the change happened.
    ReplyLost,
    /// Held this long, then processed and answered normally (processed even if the client
    /// gave up meanwhile).
    Delay(Duration),
}

/// One class instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MindbodyClass {
    pub id: i64,
    pub class_schedule_id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// `ClassDescription.Name`.
    pub name: String,
    pub program_id: i64,
    pub program_name: String,
    pub location_id: i64,
    pub location_name: String,
    pub staff_name: String,
    /// `MaxCapacity`.
    pub capacity: u32,
    /// Booked by people the fake does not track; `TotalBooked` adds the fake's own bookings.
    pub booked_by_others: u32,
    /// `IsWaitlistAvailable`.
    pub waitlist_available: bool,
    /// `BookingWindow.StartDateTime`: bookings before it get `InvalidBookingTime`.
    pub window_opens: DateTime<Utc>,
    /// `BookingWindow.EndDateTime`: bookings from it on get `InvalidBookingTime`.
    pub window_closes: DateTime<Utc>,
    /// Bookings need a pricing option even with `RequirePayment: false`.
    pub requires_payment: bool,
}

impl MindbodyClass {
    /// A one-hour class of program 22 "CrossFit" at location 1, capacity 16, nobody booked,
    /// window open from the start of time until the class starts, waiting list available.
    pub fn new(id: i64, starts_at: DateTime<Utc>, name: &str) -> MindbodyClass {
        MindbodyClass {
            id,
            class_schedule_id: 2000 + id % 1000,
            starts_at,
            ends_at: starts_at + chrono::Duration::hours(1),
            name: name.to_owned(),
            program_id: 22,
            program_name: "CrossFit".into(),
            location_id: 1,
            location_name: "Tanjong Pagar".into(),
            staff_name: "Jo Lim".into(),
            capacity: 16,
            booked_by_others: 0,
            waitlist_available: true,
            window_opens: DateTime::<Utc>::MIN_UTC,
            window_closes: starts_at,
            requires_payment: false,
        }
    }

    /// The same with its booking window opening at `opens`.
    pub fn window_opening_at(mut self, opens: DateTime<Utc>) -> MindbodyClass {
        self.window_opens = opens;
        self
    }

    /// The same with `capacity` places, `booked_by_others` of them taken.
    pub fn with_places(mut self, capacity: u32, booked_by_others: u32) -> MindbodyClass {
        self.capacity = capacity;
        self.booked_by_others = booked_by_others;
        self
    }
}

/// A booking (a class visit) the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MindbodyVisit {
    pub id: i64,
    pub class_id: i64,
    pub client_id: String,
    /// The fake's clock when it was booked.
    pub booked_at: DateTime<Utc>,
}

/// A waiting-list entry the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MindbodyWaitlistEntry {
    pub id: i64,
    pub class_id: i64,
    pub client_id: String,
}

/// One request the fake received, logged when it arrived.
#[derive(Debug, Clone)]
pub struct MindbodyRequest {
    pub method: String,
    pub path: String,
    pub route: Option<MindbodyRoute>,
    /// The query's pairs (GET) or the JSON body's top-level fields (POST, values as text),
    /// in order; `Password` is never kept.
    pub params: Vec<(String, String)>,
    /// The fake's clock when the request (head and body) had arrived.
    pub arrived_at: DateTime<Utc>,
    /// The monotonic instant it arrived.
    pub arrived: Instant,
    /// The fault played on it, if any.
    pub fault: Option<MindbodyFault>,
    /// The status answered; `None` while held, or when no answer was sent (a hang, a lost
    /// reply).
    pub status: Option<u16>,
    /// `Error.Code` of a refusal.
    pub error_code: Option<String>,
    /// Whether an `Authorization` header came (its value is never kept).
    pub authorized: bool,
}

impl MindbodyRequest {
    /// A parameter's value as ASP.NET binds it: any case, `request.` prefix optional, `[n]`
    /// ignored; the first if repeated.
    pub fn param(&self, name: &str) -> Option<&str> {
        let wanted = param_key(name);
        self.params
            .iter()
            .find(|(k, _)| param_key(k) == wanted)
            .map(|(_, v)| v.as_str())
    }
}

/// A running fake Mindbody. Cheap to clone: all clones share one state.
#[derive(Clone)]
pub struct FakeMindbody {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl fmt::Debug for FakeMindbody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeMindbody")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

struct Shared {
    state: Mutex<State>,
    shutdown: watch::Sender<bool>,
    /// Bumped whenever a request is logged or answered.
    logged: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.logged.send_modify(|n| *n += 1);
    }

    /// Waits until the fake shuts down.
    async fn until_shutdown(&self) {
        let mut stop = self.shutdown.subscribe();
        // Err only when every sender is gone, which also means: stop.
        let _stopped = stop.wait_for(|s| *s).await;
    }
}

impl FakeMindbody {
    /// Binds `127.0.0.1:0` and serves until [`FakeMindbody::shutdown`] or the runtime stops.
    /// No classes at first (see [`FakeMindbody::seed_fixture_classes`]).
    pub async fn start(config: FakeMindbodyConfig) -> io::Result<FakeMindbody> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(config)),
            shutdown: watch::channel(false).0,
            logged: watch::channel(0).0,
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let stopping = Arc::clone(&shared);
        tokio::spawn(async move {
            let served = axum::serve(
                SimListener(listener),
                app.into_make_service_with_connect_info::<ConnKill>(),
            )
            .with_graceful_shutdown(async move { stopping.until_shutdown().await })
            .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "fake mindbody stopped with an error");
            }
        });
        tracing::debug!(%addr, "fake mindbody listening");
        Ok(FakeMindbody { shared, addr })
    }

    /// `http://127.0.0.1:PORT/public/v6`, the API base.
    pub fn base_url(&self) -> String {
        format!("http://{}/public/v6", self.addr)
    }

    /// Stops serving; held requests end without an answer.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
    }

    // ----- state -------------------------------------------------------------------------------

    /// The classes of `mindbody_classes.json` (Sunday 22 November 2026 in Singapore: 06:30
    /// full, 07:30 and 12:00 with room; windows opening on Friday 20 November at 09:00 +08:00).
    /// `TotalBooked` becomes [`MindbodyClass::booked_by_others`].
    ///
    /// # Panics
    /// Never with the fixture in the repository (compiled in; this crate's tests read it).
    pub fn fixture_classes() -> Vec<MindbodyClass> {
        let document: Value = serde_json::from_str(fixture!("mindbody_classes.json"))
            .unwrap_or_else(|e| panic!("the Mindbody classes fixture: {e}"));
        let Some(Value::Array(classes)) = document.get("Classes") else {
            panic!("the Mindbody classes fixture has no Classes array");
        };
        classes
            .iter()
            .map(|c| class_from_fixture(c).unwrap_or_else(|e| panic!("a fixture class: {e}")))
            .collect()
    }

    /// Adds the [`FakeMindbody::fixture_classes`]; returns how many.
    pub fn seed_fixture_classes(&self) -> usize {
        let classes = FakeMindbody::fixture_classes();
        let count = classes.len();
        for class in classes {
            self.add_class(class);
        }
        count
    }

    /// Adds a class, or replaces the one with its id.
    pub fn add_class(&self, class: MindbodyClass) {
        let mut st = self.shared.lock();
        match st.classes.iter_mut().find(|c| c.id == class.id) {
            Some(slot) => *slot = class,
            None => st.classes.push(class),
        }
    }

    /// Every class.
    pub fn classes(&self) -> Vec<MindbodyClass> {
        self.shared.lock().classes.clone()
    }

    /// Changes one class in place; false when there is no such class.
    pub fn update_class(&self, class_id: i64, change: impl FnOnce(&mut MindbodyClass)) -> bool {
        let mut st = self.shared.lock();
        match st.classes.iter_mut().find(|c| c.id == class_id) {
            Some(class) => {
                change(class);
                true
            }
            None => false,
        }
    }

    /// `client_id`'s bookings are refused with `ClientIsSuspended` (or accepted again).
    pub fn suspend_client(&self, client_id: &str, suspended: bool) {
        let mut st = self.shared.lock();
        st.suspended.retain(|c| c != client_id);
        if suspended {
            st.suspended.push(client_id.to_owned());
        }
    }

    /// `client_id` has no usable pricing option (or has one again): a booking with
    /// `RequirePayment: true`, or of a class that [`MindbodyClass::requires_payment`], is
    /// refused with `ClassRequiresPayment`.
    pub fn set_without_pricing_option(&self, client_id: &str, without: bool) {
        let mut st = self.shared.lock();
        st.unpaid.retain(|c| c != client_id);
        if without {
            st.unpaid.push(client_id.to_owned());
        }
    }

    /// Every staff token issued so far expires now: the next call with one gets 401.
    pub fn expire_tokens(&self) {
        let mut st = self.shared.lock();
        let past = st.clock.now() - chrono::Duration::seconds(1);
        for expiry in st.tokens.values_mut() {
            *expiry = past;
        }
    }

    /// Staff tokens issued so far.
    pub fn tokens_issued(&self) -> usize {
        self.shared.lock().tokens.len()
    }

    /// The bookings held now (cancelled ones are gone), in booking order.
    pub fn visits(&self) -> Vec<MindbodyVisit> {
        self.shared.lock().visits.clone()
    }

    /// The waiting-list entries, in order.
    pub fn waitlist(&self) -> Vec<MindbodyWaitlistEntry> {
        self.shared.lock().waitlist.clone()
    }

    /// The bookings cancelled so far, in order.
    pub fn cancellations(&self) -> Vec<MindbodyVisit> {
        self.shared.lock().cancelled.clone()
    }

    // ----- faults ------------------------------------------------------------------------------

    /// The next `times` requests to `route` get `fault`, after any already scripted for it.
    pub fn fail_next(&self, route: MindbodyRoute, fault: MindbodyFault, times: usize) {
        let mut st = self.shared.lock();
        let queue = st.faults.entry(route).or_default();
        queue.extend(std::iter::repeat_n(fault, times));
    }

    // ----- inspection --------------------------------------------------------------------------

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<MindbodyRequest> {
        self.shared
            .lock()
            .log
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// How many requests reached `route` (faulted ones included).
    pub fn count(&self, route: MindbodyRoute) -> usize {
        self.shared.lock().count(route)
    }

    /// Waits until at least `n` requests reached `route` (logged at arrival, so a held request
    /// counts). No timeout of its own: the test's harness bounds it.
    pub async fn wait_for_requests(&self, route: MindbodyRoute, n: usize) {
        self.wait_until(|fake| fake.count(route) >= n).await;
    }

    /// Waits until `pred` holds, looking again whenever a request arrives, is processed or is
    /// answered. No timeout of its own: the test's harness bounds it.
    pub async fn wait_until(&self, pred: impl Fn(&FakeMindbody) -> bool) {
        let mut changes = self.shared.logged.subscribe();
        loop {
            if pred(self) {
                return;
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.shared.lock().log.clear();
        self.shared.bump();
    }
}

/// A [`MindbodyClass`] from one class of the fixture.
fn class_from_fixture(c: &Value) -> Result<MindbodyClass, String> {
    let int = |v: &Value, what: &str| v.as_i64().ok_or_else(|| format!("{what} is not a number"));
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let time = |v: &Value, what: &str| {
        v.as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| format!("{what} is not an RFC 3339 instant"))
    };
    let count = |v: &Value, what: &str| {
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("{what} is not a count"))
    };
    Ok(MindbodyClass {
        id: int(&c["Id"], "Id")?,
        class_schedule_id: int(&c["ClassScheduleId"], "ClassScheduleId")?,
        starts_at: time(&c["StartDateTime"], "StartDateTime")?,
        ends_at: time(&c["EndDateTime"], "EndDateTime")?,
        name: text(&c["ClassDescription"]["Name"]),
        program_id: int(&c["ClassDescription"]["Program"]["Id"], "Program.Id")?,
        program_name: text(&c["ClassDescription"]["Program"]["Name"]),
        location_id: int(&c["Location"]["Id"], "Location.Id")?,
        location_name: text(&c["Location"]["Name"]),
        staff_name: text(&c["Staff"]["Name"]),
        capacity: count(&c["MaxCapacity"], "MaxCapacity")?,
        booked_by_others: count(&c["TotalBooked"], "TotalBooked")?,
        waitlist_available: c["IsWaitlistAvailable"].as_bool().unwrap_or(false),
        window_opens: time(
            &c["BookingWindow"]["StartDateTime"],
            "BookingWindow.StartDateTime",
        )?,
        window_closes: time(
            &c["BookingWindow"]["EndDateTime"],
            "BookingWindow.EndDateTime",
        )?,
        requires_payment: false,
    })
}

// ----- the state machine ---------------------------------------------------------------------

struct State {
    api_key: String,
    site_id: String,
    username: String,
    password: String,
    token_lifetime: chrono::Duration,
    local_times: Option<FixedOffset>,
    clock: SimClock,
    classes: Vec<MindbodyClass>,
    /// Token -> when it expires.
    tokens: HashMap<String, DateTime<Utc>>,
    visits: Vec<MindbodyVisit>,
    cancelled: Vec<MindbodyVisit>,
    waitlist: Vec<MindbodyWaitlistEntry>,
    suspended: Vec<String>,
    unpaid: Vec<String>,
    /// Ids and tokens handed out, for unique values.
    issued: i64,
    faults: HashMap<MindbodyRoute, VecDeque<MindbodyFault>>,
    /// (sequence number, request).
    log: Vec<(u64, MindbodyRequest)>,
    next_seq: u64,
}

/// What `GET /class/classes` asked for.
struct ClassFilters {
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    locations: Vec<i64>,
    programs: Vec<i64>,
    class_ids: Vec<i64>,
    limit: usize,
    offset: usize,
}

/// An answer.
struct Reply {
    status: u16,
    html: bool,
    body: Vec<u8>,
    error_code: Option<String>,
}

impl Reply {
    fn json(status: u16, value: &Value) -> Reply {
        Reply {
            status,
            html: false,
            body: value.to_string().into_bytes(),
            error_code: None,
        }
    }

    /// A refusal: `{"Error":{"Message","Code"}}`, from the fixture for the codes that have one.
    fn error(status: u16, code: &str, message: &str) -> Reply {
        let body = fixture_error(code)
            .unwrap_or_else(|| json!({ "Error": { "Message": message, "Code": code } }));
        Reply {
            status,
            html: false,
            body: body.to_string().into_bytes(),
            error_code: Some(code.to_owned()),
        }
    }

    fn bad_request(code: &str, message: &str) -> Reply {
        Reply::error(400, code, message)
    }

    fn denied() -> Reply {
        Reply::error(401, "DeniedAccess", "")
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let content_type = if self.html {
            "text/html; charset=utf-8"
        } else {
            "application/json; charset=utf-8"
        };
        let mut response = (status, self.body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    }
}

/// The body of an `*_ASSUMED.json` error fixture for `code`, without its `_note`.
fn fixture_error(code: &str) -> Option<Value> {
    let text = match code {
        "ClassSignUpsFull" => fixture!("mindbody_error_class_full_ASSUMED.json"),
        "ClientIsAlreadyBooked" => fixture!("mindbody_error_already_booked_ASSUMED.json"),
        "InvalidBookingTime" => fixture!("mindbody_error_invalid_booking_time_ASSUMED.json"),
        "ClassRequiresPayment" => fixture!("mindbody_error_requires_payment_ASSUMED.json"),
        "ClientIsSuspended" => fixture!("mindbody_error_client_suspended_ASSUMED.json"),
        "InvalidClassId" => fixture!("mindbody_error_invalid_class_ASSUMED.json"),
        "DeniedAccess" => fixture!("mindbody_error_401_ASSUMED.json"),
        "InvalidStaffCredentials" => fixture!("mindbody_error_invalid_credentials_ASSUMED.json"),
        _ => return None,
    };
    let mut body: Value = serde_json::from_str(text).ok()?;
    if let Some(object) = body.as_object_mut() {
        object.remove("_note");
    }
    Some(body)
}

/// A request's parameters: the query, or the JSON body's fields.
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        let wanted = param_key(name);
        self.0
            .iter()
            .find(|(k, _)| param_key(k) == wanted)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a list parameter (repeated keys, comma-separated values).
    fn list(&self, name: &str) -> Vec<String> {
        let wanted = param_key(name);
        self.0
            .iter()
            .filter(|(k, _)| param_key(k) == wanted)
            .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_owned()))
            .filter(|s| !s.is_empty())
            .collect()
    }

    fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// `request.locationIds[0]` -> `locationids`.
fn param_key(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let bare = lower.strip_prefix("request.").unwrap_or(&lower);
    match bare.find('[') {
        Some(at) => bare[..at].to_owned(),
        None => bare.to_owned(),
    }
}

impl State {
    fn new(config: FakeMindbodyConfig) -> State {
        State {
            api_key: config.api_key,
            site_id: config.site_id,
            username: config.username,
            password: config.password,
            token_lifetime: config.token_lifetime,
            local_times: config.local_times,
            clock: config.clock.unwrap_or_else(SimClock::system),
            classes: Vec::new(),
            tokens: HashMap::new(),
            visits: Vec::new(),
            cancelled: Vec::new(),
            waitlist: Vec::new(),
            suspended: Vec::new(),
            unpaid: Vec::new(),
            issued: 0,
            faults: HashMap::new(),
            log: Vec::new(),
            next_seq: 0,
        }
    }

    fn count(&self, route: MindbodyRoute) -> usize {
        self.log
            .iter()
            .filter(|(_, r)| r.route == Some(route))
            .count()
    }

    fn next_id(&mut self) -> i64 {
        self.issued += 1;
        self.issued
    }

    fn offset(&self) -> FixedOffset {
        self.local_times.unwrap_or_else(|| Utc.fix())
    }

    /// An instant as the fake writes it.
    fn write_time(&self, at: DateTime<Utc>) -> String {
        match self.local_times {
            Some(offset) => at
                .with_timezone(&offset)
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string(),
            None => at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }
    }

    /// A time parameter: an RFC 3339 instant, a local date-time or a local date (its first
    /// instant, or with `end_of_day` its last).
    fn read_time(&self, text: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
        let text = text.trim();
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Some(at.with_timezone(&Utc));
        }
        let offset = self.offset();
        let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"))
            .ok()
            .or_else(|| {
                let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
                let time = if end_of_day {
                    NaiveTime::from_hms_milli_opt(23, 59, 59, 999)?
                } else {
                    NaiveTime::MIN
                };
                Some(date.and_time(time))
            })?;
        offset
            .from_local_datetime(&local)
            .single()
            .map(|at| at.with_timezone(&Utc))
    }

    /// The local day of "now": (its first instant, its last).
    fn today(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let offset = self.offset();
        let date = self.clock.now().with_timezone(&offset).date_naive();
        let first = offset
            .from_local_datetime(&date.and_time(NaiveTime::MIN))
            .single()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| self.clock.now());
        (
            first,
            first + chrono::Duration::days(1) - chrono::Duration::milliseconds(1),
        )
    }

    fn take_fault(&mut self, route: MindbodyRoute) -> Option<MindbodyFault> {
        self.faults.get_mut(&route).and_then(VecDeque::pop_front)
    }

    fn log_status(&mut self, seq: u64, reply: Option<&Reply>) {
        if let Some((_, r)) = self.log.iter_mut().find(|(s, _)| *s == seq) {
            r.status = reply.map(|r| r.status);
            r.error_code = reply.and_then(|r| r.error_code.clone());
        }
    }

    /// Checks `Api-Key`, `SiteId` and (unless issuing one) a live staff token.
    fn authenticate(&self, headers: &HeaderMap, needs_token: bool) -> Result<(), Reply> {
        if header_text(headers, "api-key").as_deref() != Some(self.api_key.as_str())
            || header_text(headers, "siteid").as_deref() != Some(self.site_id.as_str())
        {
            return Err(Reply::denied());
        }
        if !needs_token {
            return Ok(());
        }
        let Some(value) = header_text(headers, "authorization") else {
            return Err(Reply::denied());
        };
        let token = value.strip_prefix("Bearer ").unwrap_or(&value).trim();
        match self.tokens.get(token) {
            Some(expires) if self.clock.now() < *expires => Ok(()),
            _ => Err(Reply::denied()),
        }
    }

    fn respond(
        &mut self,
        route: Option<MindbodyRoute>,
        headers: &HeaderMap,
        params: &Params,
    ) -> Reply {
        let Some(route) = route else {
            return Reply::error(404, "NotFound", "No such route in the fake Mindbody.");
        };
        if let Err(refused) = self.authenticate(headers, route != MindbodyRoute::IssueToken) {
            return refused;
        }
        match route {
            MindbodyRoute::IssueToken => self.issue(params),
            MindbodyRoute::Classes => self.list_classes(params),
            MindbodyRoute::AddClientToClass => self.add_client(params),
            MindbodyRoute::ClientVisits => self.client_visits(params),
            MindbodyRoute::RemoveClientFromClass => self.remove_client(params),
        }
    }

    fn issue(&mut self, params: &Params) -> Reply {
        if params.get("Username") != Some(self.username.as_str())
            || params.get("Password") != Some(self.password.as_str())
        {
            return Reply::error(401, "InvalidStaffCredentials", "");
        }
        let n = self.next_id();
        let scramble = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66_D1CE_4E5B;
        let token = format!("fake-mb-token-{n:04}-{scramble:016x}");
        let expires = self.clock.now() + self.token_lifetime;
        self.tokens.insert(token.clone(), expires);
        Reply::json(
            200,
            &json!({
                "TokenType": "Bearer",
                "AccessToken": token,
                "Expires": expires.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "User": { "Id": 100000279, "FirstName": "Gym", "LastName": "Booker", "Type": "Staff" }
            }),
        )
    }

    fn paging(params: &Params) -> Result<(usize, usize), Reply> {
        let limit = match params.get("Limit").map(str::parse::<usize>) {
            None => DEFAULT_LIMIT,
            Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(_) => {
                return Err(Reply::bad_request(
                    "InvalidParameter",
                    "Limit must be between 1 and 200.",
                ))
            }
        };
        let offset = match params.get("Offset").map(str::parse::<usize>) {
            None => 0,
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                return Err(Reply::bad_request(
                    "InvalidParameter",
                    "Offset must be a number.",
                ))
            }
        };
        Ok((limit, offset))
    }

    /// The range of `from`..`to` parameters; the local day of now by default.
    fn range(
        &self,
        params: &Params,
        from: &str,
        to: &str,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>), Reply> {
        let (today_first, today_last) = self.today();
        let read = |name: &str, end: bool, default: DateTime<Utc>| match params.get(name) {
            None => Ok(default),
            Some(text) => self.read_time(text, end).ok_or_else(|| {
                Reply::bad_request("InvalidParameter", &format!("{name} is not a date."))
            }),
        };
        let first = read(from, false, today_first)?;
        let last = read(to, true, today_last)?;
        Ok((first, last))
    }

    fn ids(params: &Params, name: &str) -> Result<Vec<i64>, Reply> {
        params
            .list(name)
            .iter()
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    Reply::bad_request("InvalidParameter", &format!("{name} must be numbers."))
                })
            })
            .collect()
    }

    fn class_filters(&self, params: &Params) -> Result<ClassFilters, Reply> {
        let (first, last) = self.range(params, "StartDateTime", "EndDateTime")?;
        let (limit, offset) = State::paging(params)?;
        Ok(ClassFilters {
            first,
            last,
            locations: State::ids(params, "LocationIds")?,
            programs: State::ids(params, "ProgramIds")?,
            class_ids: State::ids(params, "ClassIds")?,
            limit,
            offset,
        })
    }

    fn list_classes(&mut self, params: &Params) -> Reply {
        let ClassFilters {
            first,
            last,
            locations,
            programs,
            class_ids,
            limit,
            offset,
        } = match self.class_filters(params) {
            Ok(filters) => filters,
            Err(reply) => return reply,
        };
        let client = params.get("ClientId");
        let mut matching: Vec<&MindbodyClass> = self
            .classes
            .iter()
            .filter(|c| c.starts_at >= first && c.starts_at <= last)
            .filter(|c| locations.is_empty() || locations.contains(&c.location_id))
            .filter(|c| programs.is_empty() || programs.contains(&c.program_id))
            .filter(|c| class_ids.is_empty() || class_ids.contains(&c.id))
            .collect();
        matching.sort_by_key(|c| (c.starts_at, c.id));
        let total = matching.len();
        let page: Vec<Value> = matching
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|c| self.class_json(c, client))
            .collect();
        Reply::json(
            200,
            &json!({
                "PaginationResponse": {
                    "RequestedLimit": limit,
                    "RequestedOffset": offset,
                    "PageSize": page.len(),
                    "TotalResults": total
                },
                "Classes": page
            }),
        )
    }

    fn booked(&self, class: &MindbodyClass) -> u32 {
        let own = self
            .visits
            .iter()
            .filter(|v| v.class_id == class.id)
            .count();
        class
            .booked_by_others
            .saturating_add(u32::try_from(own).unwrap_or(u32::MAX))
    }

    fn class_json(&self, c: &MindbodyClass, client: Option<&str>) -> Value {
        let now = self.clock.now();
        let booked = self.booked(c);
        let waitlisted = self.waitlist.iter().filter(|w| w.class_id == c.id).count();
        let window_open = now >= c.window_opens && now < c.window_closes;
        let enrolled = client.is_some_and(|client| {
            self.visits
                .iter()
                .any(|v| v.class_id == c.id && v.client_id == client)
        });
        json!({
            "ClassScheduleId": c.class_schedule_id,
            "Location": { "Id": c.location_id, "Name": c.location_name },
            "MaxCapacity": c.capacity,
            "WebCapacity": c.capacity,
            "TotalBooked": booked,
            "TotalSignedIn": 0,
            "TotalBookedWaitlist": waitlisted,
            "WebBooked": booked,
            "SemesterId": null,
            "IsCanceled": false,
            "Substitute": false,
            "Active": true,
            "IsWaitlistAvailable": c.waitlist_available,
            "IsEnrolled": enrolled,
            "HideCancel": false,
            "Id": c.id,
            "IsAvailable": window_open && booked < c.capacity,
            "StartDateTime": self.write_time(c.starts_at),
            "EndDateTime": self.write_time(c.ends_at),
            "LastModifiedDateTime": self.write_time(now),
            "ClassDescription": {
                "Active": true,
                "Id": 100 + c.class_schedule_id % 100,
                "Name": c.name,
                "Program": { "Id": c.program_id, "Name": c.program_name, "ScheduleType": "Class" }
            },
            "Staff": { "Id": 100000021, "Name": c.staff_name, "DisplayName": null },
            "BookingWindow": {
                "StartDateTime": self.write_time(c.window_opens),
                "EndDateTime": self.write_time(c.window_closes),
                "DailyStartTime": self.write_time(c.window_opens),
                "DailyEndTime": self.write_time(c.window_closes)
            },
            "VirtualStreamLink": null,
            "WaitListSize": if c.waitlist_available { 5 } else { 0 }
        })
    }

    fn client_and_class(&self, params: &Params) -> Result<(String, i64), Reply> {
        let client = params
            .get("ClientId")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Reply::bad_request("MissingRequiredFields", "ClientId is required."))?;
        let class_id = params
            .get("ClassId")
            .ok_or_else(|| Reply::bad_request("MissingRequiredFields", "ClassId is required."))?
            .parse::<i64>()
            .map_err(|_| Reply::bad_request("InvalidClassId", ""))?;
        Ok((client.to_owned(), class_id))
    }

    fn visit_json(
        &self,
        class: &MindbodyClass,
        client: &str,
        visit_id: Option<i64>,
        waitlist_entry: Option<i64>,
    ) -> Value {
        json!({
            "AppointmentId": 0,
            "AppointmentGenderPreference": "None",
            "AppointmentStatus": "None",
            "ClassId": class.id,
            "ClientId": client,
            "StartDateTime": self.write_time(class.starts_at),
            "EndDateTime": self.write_time(class.ends_at),
            "Id": visit_id,
            "LastModifiedDateTime": self.write_time(self.clock.now()),
            "LateCancelled": false,
            "LocationId": class.location_id,
            "MakeUp": false,
            "Name": class.name,
            "ServiceId": null,
            "ServiceName": null,
            "ProductId": null,
            "SignedIn": false,
            "StaffId": 100000021,
            "WebSignup": false,
            "Action": "Added",
            "CrossRegionalBookingPerformed": false,
            "SiteId": self.site_id.parse::<i64>().unwrap_or(-99),
            "WaitlistEntryId": waitlist_entry
        })
    }

    fn add_client(&mut self, params: &Params) -> Reply {
        let (client, class_id) = match self.client_and_class(params) {
            Ok(found) => found,
            Err(reply) => return reply,
        };
        let Some(class) = self.classes.iter().find(|c| c.id == class_id).cloned() else {
            return Reply::bad_request("InvalidClassId", "");
        };
        if self.suspended.contains(&client) {
            return Reply::bad_request("ClientIsSuspended", "");
        }
        let booked_already = self
            .visits
            .iter()
            .any(|v| v.class_id == class_id && v.client_id == client)
            || self
                .waitlist
                .iter()
                .any(|w| w.class_id == class_id && w.client_id == client);
        if booked_already {
            return Reply::bad_request("ClientIsAlreadyBooked", "");
        }
        let now = self.clock.now();
        if now < class.window_opens || now >= class.window_closes {
            return Reply::bad_request("InvalidBookingTime", "");
        }
        if (class.requires_payment || params.flag("RequirePayment"))
            && self.unpaid.contains(&client)
        {
            return Reply::bad_request("ClassRequiresPayment", "");
        }
        let test = params.flag("Test");
        if self.booked(&class) >= class.capacity {
            if !(params.flag("Waitlist") && class.waitlist_available) {
                return Reply::bad_request("ClassSignUpsFull", "");
            }
            let entry = if test { 0 } else { self.next_id() };
            if !test {
                self.waitlist.push(MindbodyWaitlistEntry {
                    id: entry,
                    class_id,
                    client_id: client.clone(),
                });
            }
            let visit = self.visit_json(&class, &client, None, Some(entry));
            return Reply::json(200, &json!({ "Visit": visit }));
        }
        let id = if test { 0 } else { self.next_id() };
        if !test {
            self.visits.push(MindbodyVisit {
                id,
                class_id,
                client_id: client.clone(),
                booked_at: now,
            });
        }
        let visit = self.visit_json(&class, &client, Some(id), None);
        Reply::json(200, &json!({ "Visit": visit }))
    }

    fn client_visits(&mut self, params: &Params) -> Reply {
        let Some(client) = params.get("ClientId").filter(|c| !c.is_empty()) else {
            return Reply::bad_request("MissingRequiredFields", "ClientId is required.");
        };
        let (first, last) = match self.range(params, "StartDate", "EndDate") {
            Ok(range) => range,
            Err(reply) => return reply,
        };
        let (limit, offset) = match State::paging(params) {
            Ok(paging) => paging,
            Err(reply) => return reply,
        };
        let mut matching: Vec<(&MindbodyVisit, &MindbodyClass)> = self
            .visits
            .iter()
            .filter(|v| v.client_id == client)
            .filter_map(|v| {
                self.classes
                    .iter()
                    .find(|c| c.id == v.class_id)
                    .map(|c| (v, c))
            })
            .filter(|(_, c)| c.starts_at >= first && c.starts_at <= last)
            .collect();
        matching.sort_by_key(|(v, c)| (c.starts_at, v.id));
        let total = matching.len();
        let page: Vec<Value> = matching
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(v, c)| self.visit_json(c, &v.client_id, Some(v.id), None))
            .collect();
        Reply::json(
            200,
            &json!({
                "PaginationResponse": {
                    "RequestedLimit": limit,
                    "RequestedOffset": offset,
                    "PageSize": page.len(),
                    "TotalResults": total
                },
                "Visits": page
            }),
        )
    }

    fn remove_client(&mut self, params: &Params) -> Reply {
        let (client, class_id) = match self.client_and_class(params) {
            Ok(found) => found,
            Err(reply) => return reply,
        };
        let Some(class) = self.classes.iter().find(|c| c.id == class_id).cloned() else {
            return Reply::bad_request("InvalidClassId", "");
        };
        let Some(at) = self
            .visits
            .iter()
            .position(|v| v.class_id == class_id && v.client_id == client)
        else {
            return Reply::bad_request(
                "ClientIsNotBooked",
                "The client is not booked for this class.",
            );
        };
        if !params.flag("Test") {
            let visit = self.visits.remove(at);
            self.cancelled.push(visit);
        }
        let body = self.class_json(&class, None);
        Reply::json(200, &json!({ "Class": body }))
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn route_of(method: &Method, path: &str) -> Option<MindbodyRoute> {
    let rest = path.trim_end_matches('/').strip_prefix("/public/v6")?;
    let rest = rest.to_ascii_lowercase();
    match (method, rest.as_str()) {
        (&Method::POST, "/usertoken/issue") => Some(MindbodyRoute::IssueToken),
        (&Method::GET, "/class/classes") => Some(MindbodyRoute::Classes),
        (&Method::POST, "/class/addclienttoclass") => Some(MindbodyRoute::AddClientToClass),
        (&Method::GET, "/client/clientvisits") => Some(MindbodyRoute::ClientVisits),
        (&Method::POST, "/class/removeclientfromclass") => {
            Some(MindbodyRoute::RemoveClientFromClass)
        }
        _ => None,
    }
}

/// The parameters of a request: its query pairs, then the top-level fields of a JSON object
/// body (text as is, other values as JSON). `None` when the body is not a JSON object.
fn read_params(uri: &Uri, body: &[u8]) -> Option<Vec<(String, String)>> {
    let mut params: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    if body.trim_ascii().is_empty() {
        return Some(params);
    }
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    for (name, value) in fields {
        let text = match value {
            Value::String(text) => text,
            Value::Null => continue,
            other => other.to_string(),
        };
        params.push((name, text));
    }
    Some(params)
}

async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnKill>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    let route = route_of(&method, uri.path());
    let params = read_params(&uri, &body);
    let (seq, fault) = {
        let mut st = shared.lock();
        let arrived_at = st.clock.now();
        let fault = route.and_then(|r| st.take_fault(r));
        let seq = st.next_seq;
        st.next_seq += 1;
        let logged: Vec<(String, String)> = params
            .iter()
            .flatten()
            .filter(|(k, _)| param_key(k) != "password")
            .cloned()
            .collect();
        st.log.push((
            seq,
            MindbodyRequest {
                method: method.to_string(),
                path: uri.path().to_owned(),
                route,
                params: logged,
                arrived_at,
                arrived,
                fault: fault.clone(),
                status: None,
                error_code: None,
                authorized: headers.contains_key(header::AUTHORIZATION),
            },
        ));
        (seq, fault)
    };
    shared.bump();
    tracing::debug!(%method, path = uri.path(), fault = ?fault, "fake mindbody request");
    let Some(params) = params else {
        let reply = Reply::bad_request("InvalidRequest", "The body is not a JSON object.");
        return answered(&shared, seq, reply).into_response();
    };
    let params = Params(params);
    let process = |shared: &Shared| -> Reply { shared.lock().respond(route, &headers, &params) };
    match fault {
        None => answered(&shared, seq, process(&shared)).into_response(),
        Some(MindbodyFault::ServerError) => {
            let reply = Reply::json(
                500,
                &json!({ "Error": { "Message": "An internal error occurred.", "Code": "InternalError" } }),
            );
            answered(&shared, seq, reply).into_response()
        }
        Some(MindbodyFault::HtmlPage(status)) => {
            let reply = Reply {
                status,
                html: true,
                body: format!("<html><body><h1>{status} Bad Gateway</h1></body></html>")
                    .into_bytes(),
                error_code: None,
            };
            answered(&shared, seq, reply).into_response()
        }
        Some(MindbodyFault::Unauthorized) => {
            answered(&shared, seq, Reply::denied()).into_response()
        }
        Some(MindbodyFault::Hang) => {
            shared.until_shutdown().await;
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Some(MindbodyFault::ProcessThenHang) => {
            let reply = process(&shared);
            held(&shared, seq, &reply);
            shared.until_shutdown().await;
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Some(MindbodyFault::ReplyLost) => {
            let reply = process(&shared);
            held(&shared, seq, &reply);
            conn.trip();
            Response::new(Body::empty())
        }
        Some(MindbodyFault::Delay(hold)) => {
            // Processed in a task of its own, so it happens even when the client gives up
            // (hyper drops the handler of a closed connection).
            let (answer, answered_rx) = tokio::sync::oneshot::channel();
            let task_shared = Arc::clone(&shared);
            tokio::spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(hold) => {}
                    _ = task_shared.until_shutdown() => {}
                }
                let reply = task_shared.lock().respond(route, &headers, &params);
                let reply = answered(&task_shared, seq, reply);
                // Err: the client is gone; the request was processed all the same.
                let _gone = answer.send(reply);
            });
            match answered_rx.await {
                Ok(reply) => reply.into_response(),
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
    }
}

/// Logs the status of an answer about to be sent.
fn answered(shared: &Shared, seq: u64, reply: Reply) -> Reply {
    shared.lock().log_status(seq, Some(&reply));
    shared.bump();
    reply
}

/// Logs the refusal code of a request processed but never answered (status stays `None`).
fn held(shared: &Shared, seq: u64, reply: &Reply) {
    let mut st = shared.lock();
    if let Some((_, r)) = st.log.iter_mut().find(|(s, _)| *s == seq) {
        r.error_code = reply.error_code.clone();
    }
    drop(st);
    shared.bump();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("instant")
    }

    #[test]
    fn the_fixture_classes_load() {
        let classes = FakeMindbody::fixture_classes();
        assert_eq!(classes.len(), 3);
        assert_eq!(classes[0].id, 58211);
        assert_eq!(classes[0].starts_at, at("2026-11-21T22:30:00Z"));
        assert_eq!(classes[0].booked_by_others, classes[0].capacity);
        assert_eq!(classes[1].window_opens, at("2026-11-20T01:00:00Z"));
        assert_eq!(classes[2].program_name, "CrossFit");
    }

    #[test]
    fn every_error_fixture_is_an_error_envelope_with_its_code() {
        for code in [
            "ClassSignUpsFull",
            "ClientIsAlreadyBooked",
            "InvalidBookingTime",
            "ClassRequiresPayment",
            "ClientIsSuspended",
            "InvalidClassId",
            "DeniedAccess",
            "InvalidStaffCredentials",
        ] {
            let body = fixture_error(code).expect("a fixture");
            assert_eq!(body["Error"]["Code"], code);
            assert!(body["Error"]["Message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()));
            assert!(body.get("_note").is_none());
        }
    }

    #[test]
    fn parameters_bind_as_asp_net_does() {
        assert_eq!(param_key("request.startDateTime"), "startdatetime");
        assert_eq!(param_key("StartDateTime"), "startdatetime");
        assert_eq!(param_key("request.locationIds[0]"), "locationids");
        let params = Params(vec![
            ("request.locationIds".into(), "1".into()),
            ("LOCATIONIDS".into(), "2,3".into()),
            ("Waitlist".into(), "true".into()),
        ]);
        assert_eq!(params.list("LocationIds"), ["1", "2", "3"]);
        assert!(params.flag("waitlist"));
        assert!(!params.flag("Test"));
    }

    #[test]
    fn times_are_read_and_written_in_the_site_zone() {
        let mut st = State::new(FakeMindbodyConfig::default());
        assert_eq!(
            st.read_time("2026-11-22T06:30:00+08:00", false),
            Some(at("2026-11-21T22:30:00Z"))
        );
        assert_eq!(
            st.read_time("2026-11-22T06:30:00", false),
            Some(at("2026-11-22T06:30:00Z"))
        );
        st.local_times = FixedOffset::east_opt(8 * 3600);
        assert_eq!(
            st.read_time("2026-11-22T06:30:00", false),
            Some(at("2026-11-21T22:30:00Z"))
        );
        assert_eq!(
            st.read_time("2026-11-22", false),
            Some(at("2026-11-21T16:00:00Z"))
        );
        assert_eq!(
            st.read_time("2026-11-22", true),
            Some(at("2026-11-22T15:59:59.999Z"))
        );
        assert_eq!(
            st.write_time(at("2026-11-21T22:30:00Z")),
            "2026-11-22T06:30:00"
        );
        assert_eq!(st.read_time("soon", false), None);
    }

    #[test]
    fn routes_ignore_case_and_a_trailing_slash() {
        assert_eq!(
            route_of(&Method::POST, "/public/v6/class/AddClientToClass/"),
            Some(MindbodyRoute::AddClientToClass)
        );
        assert_eq!(
            route_of(&Method::GET, "/public/v6/class/addclienttoclass"),
            None
        );
        assert_eq!(route_of(&Method::GET, "/class/classes"), None);
    }
}
