//! A fake Talenox on loopback, for the Talenox client's tests and `herald sandbox`. It serves
//! JSON as the public API documents it where it is public (`GET /employees`: a bare array) and
//! as our ASSUMED fixtures guess where it is not (`tests/fixtures/talenox/*_ASSUMED.json`: the
//! leave route, its envelope and field names). Records are kept as JSON, not as herald's
//! types, so a mistake in herald's model cannot hide behind the same mistake here.
//!
//! Routes (under [`FakeTalenox::api_url`], i.e. `/api/v2`):
//! - `GET /employees`: every employee.
//! - `GET /leave_applications?overlap_from=YYYY-MM-DD&overlap_to=YYYY-MM-DD[&status=S]
//!   [&limit=N][&last_seen_id=ID]`: applications overlapping the range (both required, else
//!   400), ascending by `id` after `last_seen_id`, `limit` (1-50, default 20) a page, with
//!   `next_last_seen_id` set while more remain.
//!
//! Every route wants `Authorization: Bearer <token>` (else the 401 fixture). Faults are
//! scripted per route ([`FakeTalenox::fail_next`]); every request is logged without its
//! credential ([`FakeTalenox::requests`]).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::State as AxumState;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../tests/fixtures/talenox/", $name))
    };
}

/// The API token the fake accepts unless told otherwise.
pub const TOKEN: &str = "talenox-test-token";
/// Page size when a request gives no `limit`.
pub const DEFAULT_LIMIT: usize = 20;
/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = 50;

/// The fake's routes, for faults and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TalenoxRoute {
    /// `GET /api/v2/employees`
    Employees,
    /// `GET /api/v2/leave_applications`
    LeaveApplications,
}

/// A scripted failure, answered instead of the route's normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TalenoxFault {
    /// 429 with this `Retry-After` and an empty body.
    RateLimited { retry_after: u32 },
    /// 500 with a JSON error body.
    ServerError,
    /// An HTML page with this status (a proxy's error page).
    HtmlPage(u16),
    /// 401 with the fixture's body, whatever the token.
    Unauthorized,
    /// Hold the request this long before answering normally.
    Hang(Duration),
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct TalenoxRequest {
    pub method: String,
    pub path: String,
    /// The raw query string.
    pub query: String,
    pub route: Option<TalenoxRoute>,
    /// The `Authorization` scheme only (`Bearer`), never the credential.
    pub auth_scheme: Option<String>,
    /// The status answered.
    pub status: u16,
}

struct State {
    token: String,
    employees: Vec<Value>,
    leave: Vec<Value>,
    faults: HashMap<TalenoxRoute, VecDeque<TalenoxFault>>,
    log: Vec<TalenoxRequest>,
}

struct Shared {
    state: Mutex<State>,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake Talenox. Cheap to clone: all clones share one state.
#[derive(Clone)]
pub struct FakeTalenox {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl fmt::Debug for FakeTalenox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeTalenox")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeTalenox {
    /// Binds `127.0.0.1:0`, seeded with the fixtures' employees and leave applications.
    pub async fn start() -> io::Result<FakeTalenox> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                token: TOKEN.to_owned(),
                employees: FakeTalenox::fixture_employees(),
                leave: FakeTalenox::fixture_leave(),
                faults: HashMap::new(),
                log: Vec::new(),
            }),
            shutdown: watch::channel(false).0,
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let mut stop = shared.shutdown.subscribe();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // Err only when every sender is gone, which also means: stop.
                    let _stopped = stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "fake talenox stopped with an error");
            }
        });
        Ok(FakeTalenox { shared, addr })
    }

    /// For `[talenox].api_url`: `http://127.0.0.1:PORT/api/v2`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/v2", self.addr)
    }

    /// The `[talenox]` table of a deployment that talks to this fake, with its token at
    /// `/talenox/api_token` of the `local` provider (see [`FakeTalenox::write_secrets`]).
    pub fn deployment_toml(&self) -> String {
        format!(
            "\n[talenox]\napi_token = {{ source = \"file\", provider = \"local\", id = \"/talenox/api_token\" }}\napi_url = \"{}\"\ntimeout_seconds = 5\n",
            self.api_url()
        )
    }

    /// Adds the fake's token to the JSON secrets file at `path`.
    pub fn write_secrets(path: &std::path::Path) -> io::Result<()> {
        let mut document: Value = serde_json::from_str(&std::fs::read_to_string(path)?)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        document["talenox"] = serde_json::json!({ "api_token": TOKEN });
        std::fs::write(path, document.to_string())
    }

    /// Stops serving.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
    }

    /// The employees of `talenox_employees_ASSUMED.json`.
    ///
    /// # Panics
    /// Never with the fixture in the repository (compiled in; this crate's tests read it).
    pub fn fixture_employees() -> Vec<Value> {
        match serde_json::from_str(fixture!("talenox_employees_ASSUMED.json")) {
            Ok(Value::Array(employees)) => employees,
            other => panic!("the Talenox employees fixture is not an array: {other:?}"),
        }
    }

    /// The applications of `talenox_leave_applications_ASSUMED.json`.
    ///
    /// # Panics
    /// Never with the fixture in the repository.
    pub fn fixture_leave() -> Vec<Value> {
        let document: Value =
            serde_json::from_str(fixture!("talenox_leave_applications_ASSUMED.json"))
                .unwrap_or_else(|e| panic!("the Talenox leave fixture: {e}"));
        match document.get("leave_applications") {
            Some(Value::Array(applications)) => applications.clone(),
            _ => panic!("the Talenox leave fixture has no leave_applications array"),
        }
    }

    /// Replaces every employee.
    pub fn set_employees(&self, employees: Vec<Value>) {
        self.shared.lock().employees = employees;
    }

    /// Replaces every leave application.
    pub fn set_leave(&self, leave: Vec<Value>) {
        self.shared.lock().leave = leave;
    }

    /// Accepts only `token` from now on.
    pub fn set_token(&self, token: &str) {
        self.shared.lock().token = token.to_owned();
    }

    /// Answers the next `times` requests to `route` with `fault`.
    pub fn fail_next(&self, route: TalenoxRoute, fault: TalenoxFault, times: usize) {
        let mut st = self.shared.lock();
        let queue = st.faults.entry(route).or_default();
        queue.extend(std::iter::repeat_n(fault, times));
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<TalenoxRequest> {
        self.shared.lock().log.clone()
    }

    /// How many requests reached `route`.
    pub fn count(&self, route: TalenoxRoute) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|r| r.route == Some(route))
            .count()
    }
}

/// An answer: status, extra headers, body.
struct Reply {
    status: u16,
    retry_after: Option<u32>,
    html: bool,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, value: &Value) -> Reply {
        Reply {
            status,
            retry_after: None,
            html: false,
            body: value.to_string().into_bytes(),
        }
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
        let mut response =
            (status, [(header::CONTENT_TYPE, content_type)], self.body).into_response();
        if let Some(seconds) = self.retry_after {
            if let Ok(value) = seconds.to_string().parse() {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

fn route_of(method: &Method, path: &str) -> Option<TalenoxRoute> {
    match (method, path.trim_end_matches('/')) {
        (&Method::GET, "/api/v2/employees") => Some(TalenoxRoute::Employees),
        (&Method::GET, "/api/v2/leave_applications") => Some(TalenoxRoute::LeaveApplications),
        _ => None,
    }
}

async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let route = route_of(&method, uri.path());
    let fault = route.and_then(|r| {
        let mut st = shared.lock();
        st.faults.get_mut(&r).and_then(VecDeque::pop_front)
    });
    if let Some(TalenoxFault::Hang(hold)) = &fault {
        let mut stop = shared.shutdown.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(*hold) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }
    let query = uri.query().unwrap_or("");
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut st = shared.lock();
    let reply = match (&fault, route) {
        (_, None) => Reply::json(404, &serde_json::json!({ "error": "Not Found" })),
        (Some(TalenoxFault::RateLimited { retry_after }), _) => Reply {
            status: 429,
            retry_after: Some(*retry_after),
            html: false,
            body: Vec::new(),
        },
        (Some(TalenoxFault::ServerError), _) => Reply::json(
            500,
            &serde_json::json!({ "error": "Internal Server Error" }),
        ),
        (Some(TalenoxFault::HtmlPage(status)), _) => Reply {
            status: *status,
            retry_after: None,
            html: true,
            body: b"<html><body><h1>502 Bad Gateway</h1></body></html>".to_vec(),
        },
        (Some(TalenoxFault::Unauthorized), _) => unauthorized(),
        _ if authorization != format!("Bearer {}", st.token) => unauthorized(),
        (_, Some(TalenoxRoute::Employees)) => Reply::json(200, &Value::Array(st.employees.clone())),
        (_, Some(TalenoxRoute::LeaveApplications)) => leave_page(&st.leave, query),
    };
    st.log.push(TalenoxRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: query.to_owned(),
        route,
        auth_scheme: authorization.split_whitespace().next().map(str::to_owned),
        status: reply.status,
    });
    drop(st);
    reply.into_response()
}

fn unauthorized() -> Reply {
    let body: Value = serde_json::from_str(fixture!("talenox_error_401_ASSUMED.json"))
        .unwrap_or_else(|_| serde_json::json!({ "error": "Unauthorized" }));
    let mut body = body;
    if let Some(object) = body.as_object_mut() {
        object.remove("_note");
    }
    Reply::json(401, &body)
}

/// One page of the leave route.
fn leave_page(leave: &[Value], query: &str) -> Reply {
    let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let bad = |message: &str| Reply::json(400, &serde_json::json!({ "error": message }));
    let (Some(from), Some(to)) = (params.get("overlap_from"), params.get("overlap_to")) else {
        return bad("overlap_from and overlap_to are required");
    };
    if !is_date(from) || !is_date(to) {
        return bad("overlap_from and overlap_to must be yyyy-mm-dd");
    }
    let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => return bad("limit must be between 1 and 50"),
    };
    let after = match params.get("last_seen_id").map(|l| l.parse::<i64>()) {
        None => i64::MIN,
        Some(Ok(id)) => id,
        Some(Err(_)) => return bad("last_seen_id must be a number"),
    };
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let mut matching: Vec<&Value> = leave
        .iter()
        .filter(|a| {
            a.get("id")
                .and_then(Value::as_i64)
                .is_some_and(|id| id > after)
        })
        // Dates as YYYY-MM-DD compare as text.
        .filter(|a| text(a, "start_date") <= *to && text(a, "end_date") >= *from)
        .filter(|a| {
            params
                .get("status")
                .is_none_or(|s| text(a, "status").eq_ignore_ascii_case(s))
        })
        .collect();
    matching.sort_by_key(|a| a.get("id").and_then(Value::as_i64).unwrap_or_default());
    let more = matching.len() > limit;
    let page: Vec<Value> = matching.into_iter().take(limit).cloned().collect();
    let next = if more {
        page.last()
            .and_then(|a| a.get("id"))
            .cloned()
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    Reply::json(
        200,
        &serde_json::json!({ "leave_applications": page, "next_last_seen_id": next }),
    )
}

fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixtures_load() {
        assert_eq!(FakeTalenox::fixture_employees().len(), 3);
        assert_eq!(FakeTalenox::fixture_leave().len(), 2);
    }

    #[test]
    fn leave_pages_follow_last_seen_id_and_filter_by_overlap() {
        let leave: Vec<Value> = (1..=5)
            .map(|id| {
                serde_json::json!({
                    "id": id, "status": if id == 3 { "pending" } else { "approved" },
                    "start_date": format!("2026-08-0{id}"), "end_date": format!("2026-08-0{id}"),
                })
            })
            .collect();
        let page = |query: &str| -> Value {
            serde_json::from_slice(&leave_page(&leave, query).body).expect("json")
        };
        let first = page("overlap_from=2026-08-02&overlap_to=2026-08-09&limit=2");
        assert_eq!(
            first["leave_applications"].as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(first["next_last_seen_id"], 3);
        let last = page("overlap_from=2026-08-02&overlap_to=2026-08-09&limit=2&last_seen_id=3");
        assert_eq!(last["leave_applications"].as_array().map(Vec::len), Some(2));
        assert_eq!(last["next_last_seen_id"], Value::Null);
        let pending = page("overlap_from=2026-08-01&overlap_to=2026-08-09&status=pending");
        assert_eq!(pending["leave_applications"][0]["id"], 3);
        assert_eq!(leave_page(&leave, "overlap_from=2026-08-01").status, 400);
        assert_eq!(
            leave_page(
                &leave,
                "overlap_from=2026-08-01&overlap_to=2026-08-02&limit=51"
            )
            .status,
            400
        );
    }
}
