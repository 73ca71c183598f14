//! A fake Xero on loopback, for the Xero client's tests and `herald sandbox`: the OAuth2 token
//! endpoint, the Accounting API's invoice routes and the connections list, answering in Xero's
//! wire format (`tests/fixtures/xero/`: `/Date(...)/` dates beside `DateString`, money as JSON
//! numbers with two decimals, the `Id`/`Status`/`ProviderName`/`DateTimeUTC` envelope and
//! `pagination`).
//!
//! Routes (under [`FakeXero::base_url`]):
//! - `POST /connect/token`: `grant_type=refresh_token` with HTTP Basic client credentials. Only
//!   the current refresh token works; each use issues a new refresh token and a new access
//!   token and retires the old refresh token (reusing it: 400 `invalid_grant`, the fixture).
//! - `GET /connections`.
//! - `GET /api.xro/2.0/Invoices?page=N&Statuses=A,B&where=Type=="ACCREC"`: filtered, paged by
//!   [`FakeXeroConfig::page_size`] (no `page`: everything, without `pagination`).
//! - `GET /api.xro/2.0/Invoices/{id or number}`.
//! - `POST /api.xro/2.0/Invoices` and `POST /api.xro/2.0/Invoices/{id}` with
//!   `{"Invoices":[{"InvoiceID":..,"Status":"AUTHORISED"}]}`: a DRAFT or SUBMITTED invoice becomes
//!   AUTHORISED; any other status is a 400 validation error (the fixture's wording). Idempotent
//!   per `Idempotency-Key`: a repeated key gets the first answer again, with no second change
//!   ([`FakeXero::authorisations`] counts real changes).
//!
//! API routes want `Authorization: Bearer` with a live access token (an expired one gets the
//! `TokenExpired` 401 fixture; see [`FakeXero::expire_access_tokens`]) and, for invoices, the
//! configured `xero-tenant-id` (else 403). Faults are scripted per route
//! ([`FakeXero::fail_next`]); every request is logged with the headers tests check
//! ([`FakeXero::requests`]), never with a credential.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::watch;

use self::invoice::{read_invoices, Envelope, Pagination, WireInvoice};
pub use self::invoice::{XeroInvoice, XeroInvoiceType, XeroLineItem, XeroStatus};
use crate::clock::SimClock;

mod invoice;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/xero/", $name))
    };
}

/// What the fake knows at start.
#[derive(Clone)]
pub struct FakeXeroConfig {
    pub client_id: String,
    pub client_secret: String,
    /// The one refresh token that works at start.
    pub refresh_token: String,
    pub tenant_id: String,
    pub tenant_name: String,
    /// Invoices per page of `GET Invoices?page=N` (Xero's is 100).
    pub page_size: usize,
    /// Lifetime of an access token, in seconds (Xero's is 1800).
    pub access_token_seconds: i64,
    /// Source of "now" (token expiry, `UpdatedDateUTC`); the system clock if `None`.
    pub clock: Option<SimClock>,
}

impl Default for FakeXeroConfig {
    fn default() -> Self {
        FakeXeroConfig {
            client_id: "fake-client-id".into(),
            client_secret: "fake-client-secret".into(),
            refresh_token: "fake-refresh-0000-initial".into(),
            tenant_id: "70784a63-d24b-46a9-a4db-0e70a274b056".into(),
            tenant_name: "Acme Pte Ltd".into(),
            page_size: 100,
            access_token_seconds: 1800,
            clock: None,
        }
    }
}

/// Shows no credential.
impl fmt::Debug for FakeXeroConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeXeroConfig")
            .field("tenant_id", &self.tenant_id)
            .field("tenant_name", &self.tenant_name)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

/// The fake's routes, for faults and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XeroRoute {
    /// `POST /connect/token`
    Token,
    /// `GET /connections`
    Connections,
    /// `GET /api.xro/2.0/Invoices`
    Invoices,
    /// `GET /api.xro/2.0/Invoices/{id}`
    Invoice,
    /// `POST /api.xro/2.0/Invoices[/{id}]`
    Authorise,
}

/// A scripted failure, answered instead of the route's normal answer (nothing is processed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XeroFault {
    /// 429 with the fixture's headers (`X-Rate-Limit-Problem: minute`, ...), this
    /// `Retry-After`, and an empty body.
    RateLimited { retry_after: u32 },
    /// 500 with the fixture's body.
    ServerError,
    /// An HTML page with this status (a proxy's error page).
    HtmlPage(u16),
    /// 401 with the `TokenExpired` fixture body.
    TokenExpired,
    /// Hold the request this long, then process and answer it normally: a client that gave
    /// up meanwhile saw a timeout, yet the change (an authorisation) happened.
    Hang(std::time::Duration),
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct XeroRequest {
    pub method: String,
    pub path: String,
    /// The raw query string.
    pub query: String,
    pub route: Option<XeroRoute>,
    /// `xero-tenant-id`.
    pub tenant_id: Option<String>,
    /// `Accept`.
    pub accept: Option<String>,
    /// `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// The `Authorization` scheme only (`Bearer`, `Basic`), never the credential.
    pub auth_scheme: Option<String>,
    /// The JSON body of an authorise request (other bodies, which may hold credentials, are
    /// not kept).
    pub body: Option<serde_json::Value>,
    /// The status answered.
    pub status: u16,
}

/// A running fake Xero. Cheap to clone: all clones share one state.
#[derive(Clone)]
pub struct FakeXero {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl fmt::Debug for FakeXero {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeXero")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
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

impl FakeXero {
    /// The `[xero]` table of a deployment that talks to this fake, with its secrets at
    /// `/xero/client_id`, `/xero/client_secret` and `/xero/refresh_token` of the `local`
    /// provider (see [`FakeXero::write_secrets`]).
    pub fn deployment_toml(&self, tenant_id: &str) -> String {
        format!(
            r#"
[xero]
client_id = {{ source = "file", provider = "local", id = "/xero/client_id" }}
client_secret = {{ source = "file", provider = "local", id = "/xero/client_secret" }}
refresh_token = {{ source = "file", provider = "local", id = "/xero/refresh_token" }}
tenant_id = "{tenant_id}"
api_url = "{}"
identity_url = "{}"
connections_url = "{}"
timeout_seconds = 10
"#,
            self.api_url(),
            self.identity_url(),
            self.connections_url()
        )
    }

    /// Adds the fake's default client credentials (and `refresh_token`, if given) to the JSON
    /// secrets file at `path`, where [`FakeXero::deployment_toml`] points.
    pub fn write_secrets(path: &std::path::Path, refresh_token: Option<&str>) -> io::Result<()> {
        let defaults = FakeXeroConfig::default();
        let mut document: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut xero = serde_json::json!({
            "client_id": defaults.client_id,
            "client_secret": defaults.client_secret,
        });
        if let Some(token) = refresh_token {
            xero["refresh_token"] = serde_json::Value::String(token.to_owned());
        }
        document["xero"] = xero;
        std::fs::write(path, document.to_string())
    }

    /// Binds `127.0.0.1:0` and serves until [`FakeXero::shutdown`] or the runtime stops.
    pub async fn start(config: FakeXeroConfig) -> io::Result<FakeXero> {
        FakeXero::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Like [`FakeXero::start`] on a chosen address.
    pub async fn start_on(config: FakeXeroConfig, addr: SocketAddr) -> io::Result<FakeXero> {
        if config.page_size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "page_size must be at least 1",
            ));
        }
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(config)),
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
                tracing::debug!(error = %e, "fake xero stopped with an error");
            }
        });
        tracing::debug!(%addr, "fake xero listening");
        Ok(FakeXero { shared, addr })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// For `[xero].identity_url`.
    pub fn identity_url(&self) -> String {
        self.base_url()
    }

    /// For `[xero].api_url`.
    pub fn api_url(&self) -> String {
        format!("{}/api.xro/2.0", self.base_url())
    }

    /// For `[xero].connections_url`.
    pub fn connections_url(&self) -> String {
        format!("{}/connections", self.base_url())
    }

    /// Stops serving.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
    }

    // ----- state -------------------------------------------------------------------------------

    /// The invoices of the fixtures: the three of `xero_invoices_page1.json` and the draft of
    /// `xero_invoice_draft_get.json`.
    ///
    /// # Panics
    /// Never with the fixtures in the repository: they are compiled in, and this crate's tests
    /// read them.
    pub fn fixture_invoices() -> Vec<XeroInvoice> {
        let mut invoices = Vec::new();
        for body in [
            fixture!("xero_invoices_page1.json"),
            fixture!("xero_invoice_draft_get.json"),
        ] {
            let read = read_invoices(body).unwrap_or_else(|e| panic!("a Xero fixture: {e}"));
            invoices.extend(read);
        }
        invoices
    }

    /// Adds the [`FakeXero::fixture_invoices`]; returns how many.
    pub fn seed_fixtures(&self) -> usize {
        let invoices = FakeXero::fixture_invoices();
        let count = invoices.len();
        for invoice in invoices {
            self.insert_invoice(invoice);
        }
        count
    }

    /// Adds an invoice, or replaces the one with its id (keeping its place).
    pub fn insert_invoice(&self, invoice: XeroInvoice) {
        let mut st = self.shared.lock();
        match st
            .invoices
            .iter_mut()
            .find(|i| i.invoice_id == invoice.invoice_id)
        {
            Some(slot) => *slot = invoice,
            None => st.invoices.push(invoice),
        }
    }

    /// Every invoice, in the order the fake lists them.
    pub fn invoices(&self) -> Vec<XeroInvoice> {
        self.shared.lock().invoices.clone()
    }

    /// One invoice by id.
    pub fn invoice(&self, invoice_id: &str) -> Option<XeroInvoice> {
        self.shared
            .lock()
            .invoices
            .iter()
            .find(|i| i.invoice_id == invoice_id)
            .cloned()
    }

    /// Changes an invoice's status directly, as someone in Xero's web app would (approved in
    /// Xero while the approval card was open). False when there is no such invoice.
    pub fn set_status(&self, invoice_id: &str, status: XeroStatus) -> bool {
        let mut st = self.shared.lock();
        let now = st.clock.now();
        match st.invoices.iter_mut().find(|i| i.invoice_id == invoice_id) {
            Some(invoice) => {
                invoice.status = status;
                invoice.updated = now;
                true
            }
            None => false,
        }
    }

    /// Invoices per page from now on (at least 1).
    pub fn set_page_size(&self, page_size: usize) {
        self.shared.lock().page_size = page_size.max(1);
    }

    /// The refresh token that works now.
    pub fn refresh_token(&self) -> String {
        self.shared.lock().refresh_token.clone()
    }

    /// Makes `token` the one refresh token that works (a new authorisation).
    pub fn set_refresh_token(&self, token: &str) {
        self.shared.lock().refresh_token = token.to_owned();
    }

    /// Every access token issued so far expires now: the next API call gets 401 TokenExpired.
    pub fn expire_access_tokens(&self) {
        let mut st = self.shared.lock();
        let past = st.clock.now() - chrono::Duration::seconds(1);
        for expiry in st.access_tokens.values_mut() {
            *expiry = past;
        }
    }

    /// Adds an organisation to the connections list (the configured tenant is listed first).
    pub fn add_connection(&self, tenant_id: &str, tenant_name: &str) {
        self.shared
            .lock()
            .connections
            .push((tenant_id.to_owned(), tenant_name.to_owned()));
    }

    // ----- faults ------------------------------------------------------------------------------

    /// The next `times` requests to `route` are answered with `fault`, after any faults
    /// already scripted for it.
    pub fn fail_next(&self, route: XeroRoute, fault: XeroFault, times: usize) {
        let mut st = self.shared.lock();
        let queue = st.faults.entry(route).or_default();
        queue.extend(std::iter::repeat_n(fault, times));
    }

    // ----- inspection --------------------------------------------------------------------------

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<XeroRequest> {
        self.shared.lock().log.clone()
    }

    /// How many requests `route` received (faulted ones included).
    pub fn count(&self, route: XeroRoute) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|r| r.route == Some(route))
            .count()
    }

    /// Successful token refreshes (each rotated the refresh token).
    pub fn refreshes(&self) -> usize {
        self.shared.lock().refreshes
    }

    /// Real authorisations (state changes); idempotent replays are not counted.
    pub fn authorisations(&self) -> usize {
        self.shared.lock().authorisations
    }

    /// Forgets the request log (counters of refreshes and authorisations stay).
    pub fn clear_requests(&self) {
        self.shared.lock().log.clear();
    }
}

/// An answer, kept whole so an idempotent replay can send it again.
#[derive(Clone)]
struct Reply {
    status: u16,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            content_type: "application/json; charset=utf-8",
            headers: Vec::new(),
            body,
        }
    }

    fn json_value(status: u16, value: &serde_json::Value) -> Reply {
        Reply::json(status, value.to_string().into_bytes())
    }

    /// Xero's problem-details shape (`Title`, `Status`, `Detail`).
    fn problem(status: u16, title: &str, detail: &str) -> Reply {
        Reply::json_value(
            status,
            &serde_json::json!({
                "Type": null,
                "Title": title,
                "Status": status,
                "Detail": detail,
                "Instance": "00000000-0000-4000-8000-000000000000",
                "Extensions": {}
            }),
        )
    }

    fn validation(invoice: &XeroInvoice, message: &str) -> Reply {
        Reply::json_value(
            400,
            &serde_json::json!({
                "ErrorNumber": 10,
                "Type": "ValidationException",
                "Message": "A validation exception occurred",
                "Elements": [{
                    "Type": invoice.kind.as_str(),
                    "InvoiceID": invoice.invoice_id,
                    "Status": invoice.status.as_str(),
                    "LineAmountTypes": "Exclusive",
                    "HasErrors": true,
                    "ValidationErrors": [{ "Message": message }]
                }]
            }),
        )
    }

    fn fault(fault: &XeroFault) -> Reply {
        match fault {
            XeroFault::RateLimited { retry_after } => Reply {
                status: 429,
                content_type: "text/plain",
                headers: vec![
                    ("Retry-After", retry_after.to_string()),
                    ("X-Rate-Limit-Problem", "minute".into()),
                    ("X-MinLimit-Remaining", "0".into()),
                    ("X-DayLimit-Remaining", "4873".into()),
                    ("X-AppMinLimit-Remaining", "9981".into()),
                ],
                body: Vec::new(),
            },
            XeroFault::ServerError => {
                Reply::json(500, fixture!("xero_error_500.json").as_bytes().to_vec())
            }
            XeroFault::TokenExpired => Reply::json(
                401,
                fixture!("xero_error_401_token_expired.json")
                    .as_bytes()
                    .to_vec(),
            ),
            XeroFault::Hang(_) => Reply::problem(500, "Fake Xero", "a hang is not an answer"),
            XeroFault::HtmlPage(status) => {
                let reason = StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("Error");
                Reply {
                    status: *status,
                    content_type: "text/html",
                    headers: Vec::new(),
                    body: format!(
                        "<!DOCTYPE html>\r\n<html><head><title>{status} {reason}</title></head>\
                         <body><h1>{status} {reason}</h1><p>The service is unavailable.</p>\
                         </body></html>\r\n"
                    )
                    .into_bytes(),
                }
            }
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }
}

struct State {
    client_id: String,
    client_secret: String,
    tenant_id: String,
    clock: SimClock,
    page_size: usize,
    access_token_seconds: i64,
    invoices: Vec<XeroInvoice>,
    refresh_token: String,
    access_tokens: HashMap<String, DateTime<Utc>>,
    /// Tokens and envelope ids issued, for unique values.
    issued: u64,
    refreshes: usize,
    authorisations: usize,
    /// Idempotency-Key -> the first answer.
    replies: HashMap<String, Reply>,
    faults: HashMap<XeroRoute, VecDeque<XeroFault>>,
    connections: Vec<(String, String)>,
    log: Vec<XeroRequest>,
}

impl State {
    fn new(config: FakeXeroConfig) -> State {
        State {
            client_id: config.client_id,
            client_secret: config.client_secret,
            connections: vec![(config.tenant_id.clone(), config.tenant_name)],
            tenant_id: config.tenant_id,
            clock: config.clock.unwrap_or_else(SimClock::system),
            page_size: config.page_size,
            access_token_seconds: config.access_token_seconds,
            invoices: Vec::new(),
            refresh_token: config.refresh_token,
            access_tokens: HashMap::new(),
            issued: 0,
            refreshes: 0,
            authorisations: 0,
            replies: HashMap::new(),
            faults: HashMap::new(),
            log: Vec::new(),
        }
    }

    /// A fresh value for ids and tokens: a counter and a scramble of it.
    fn next_id(&mut self) -> (u64, u64) {
        self.issued += 1;
        let n = self.issued;
        (
            n,
            n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66_D1CE_4E5B,
        )
    }

    fn guid(&mut self) -> String {
        let (n, x) = self.next_id();
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            x >> 32,
            (x >> 16) & 0xffff,
            x & 0xfff,
            n & 0xfff,
            n
        )
    }

    /// The hold of a [`XeroFault::Hang`] next in line for `route`, taken.
    fn take_hang(&mut self, route: XeroRoute) -> Option<std::time::Duration> {
        let queue = self.faults.get_mut(&route)?;
        match queue.front() {
            Some(XeroFault::Hang(hold)) => {
                let hold = *hold;
                queue.pop_front();
                Some(hold)
            }
            _ => None,
        }
    }

    fn take_fault(&mut self, route: XeroRoute) -> Option<XeroFault> {
        self.faults.get_mut(&route).and_then(VecDeque::pop_front)
    }

    fn respond(
        &mut self,
        route: Option<(XeroRoute, Option<String>)>,
        query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Reply {
        let Some((route, id)) = route else {
            return Reply::problem(
                404,
                "NotFound",
                "The resource you're looking for cannot be found",
            );
        };
        if let Some(fault) = self.take_fault(route) {
            return Reply::fault(&fault);
        }
        if route == XeroRoute::Token {
            return self.token(headers, body);
        }
        if let Err(reply) = self.authorize(headers, route != XeroRoute::Connections) {
            return reply;
        }
        match route {
            XeroRoute::Connections => self.connections(),
            XeroRoute::Invoices => self.list(query),
            XeroRoute::Invoice => self.one(id.as_deref().unwrap_or_default()),
            XeroRoute::Authorise => {
                let key = header_text(headers, "idempotency-key");
                if let Some(reply) = key.as_ref().and_then(|k| self.replies.get(k)) {
                    return reply.clone();
                }
                let reply = self.authorise(id.as_deref(), body);
                if let Some(key) = key {
                    self.replies.insert(key, reply.clone());
                }
                reply
            }
            XeroRoute::Token => Reply::problem(500, "Unreachable", "token route"),
        }
    }

    fn token(&mut self, headers: &HeaderMap, body: &[u8]) -> Reply {
        let oauth_error =
            |code: &str| Reply::json_value(400, &serde_json::json!({ "error": code }));
        let expected = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.client_id, self.client_secret));
        let basic = header_text(headers, "authorization")
            .and_then(|v| v.strip_prefix("Basic ").map(str::to_owned));
        if basic.as_deref() != Some(expected.as_str()) {
            return oauth_error("invalid_client");
        }
        let form: HashMap<String, String> =
            url::form_urlencoded::parse(body).into_owned().collect();
        if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
            return oauth_error("unsupported_grant_type");
        }
        if form.get("refresh_token") != Some(&self.refresh_token) {
            return Reply::json(
                400,
                fixture!("xero_token_error_invalid_grant.json")
                    .as_bytes()
                    .to_vec(),
            );
        }
        let (n, x) = self.next_id();
        let access = format!("fake-access-{n:04}-{x:016x}");
        self.refresh_token = format!("fake-refresh-{n:04}-{:016x}", x.rotate_left(17));
        let expires = self.clock.now() + chrono::Duration::seconds(self.access_token_seconds);
        self.access_tokens.insert(access.clone(), expires);
        self.refreshes += 1;
        Reply::json_value(
            200,
            &serde_json::json!({
                "id_token": format!("fake-id-token-{n:04}"),
                "access_token": access,
                "expires_in": self.access_token_seconds,
                "token_type": "Bearer",
                "refresh_token": self.refresh_token,
                "scope": "openid profile email accounting.transactions accounting.contacts offline_access"
            }),
        )
    }

    /// A live bearer token, and the tenant for tenant-scoped routes.
    fn authorize(&self, headers: &HeaderMap, tenant_scoped: bool) -> Result<(), Reply> {
        let unauthenticated = || Reply::problem(401, "Unauthorized", "AuthenticationUnsuccessful");
        let bearer = header_text(headers, "authorization")
            .and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned))
            .ok_or_else(unauthenticated)?;
        let expires = self
            .access_tokens
            .get(&bearer)
            .ok_or_else(unauthenticated)?;
        if self.clock.now() >= *expires {
            return Err(Reply::fault(&XeroFault::TokenExpired));
        }
        if tenant_scoped
            && header_text(headers, "xero-tenant-id").as_deref() != Some(self.tenant_id.as_str())
        {
            return Err(Reply::problem(
                403,
                "Forbidden",
                "AuthenticationUnsuccessful",
            ));
        }
        Ok(())
    }

    fn connections(&self) -> Reply {
        let list: Vec<serde_json::Value> = self
            .connections
            .iter()
            .enumerate()
            .map(|(i, (tenant_id, name))| {
                serde_json::json!({
                    "id": format!("e1eede29-f875-4a5d-8470-{:012x}", i + 1),
                    "authEventId": "d99ecdfe-391d-43d2-b834-17636ba90e8d",
                    "tenantId": tenant_id,
                    "tenantType": "ORGANISATION",
                    "tenantName": name,
                    "createdDateUtc": "2026-03-02T08:15:44.1234560",
                    "updatedDateUtc": "2026-03-02T08:15:44.1265760"
                })
            })
            .collect();
        Reply::json_value(200, &serde_json::Value::Array(list))
    }

    fn list(&mut self, query: &str) -> Reply {
        let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let statuses: Option<Vec<String>> = params
            .get("Statuses")
            .map(|s| s.split(',').map(|x| x.trim().to_owned()).collect());
        let kind = match params.get("where") {
            None => None,
            Some(clause) => match parse_type_clause(clause) {
                Some(kind) => Some(kind),
                None => {
                    return Reply::problem(
                        400,
                        "Bad Request",
                        "the fake Xero understands only where=Type==\"ACCREC\" (or ACCPAY)",
                    )
                }
            },
        };
        let matching: Vec<XeroInvoice> = self
            .invoices
            .iter()
            .filter(|i| {
                statuses
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|s| s == i.status.as_str()))
            })
            .filter(|i| kind.as_deref().is_none_or(|k| k == i.kind.as_str()))
            .cloned()
            .collect();
        let page = match params.get("page").map(|p| p.parse::<usize>()) {
            None => None,
            Some(Ok(page)) if page >= 1 => Some(page),
            Some(_) => return Reply::problem(400, "Bad Request", "page must be a number from 1"),
        };
        let (invoices, pagination) = match page {
            None => (matching, None),
            Some(page) => {
                let size = self.page_size;
                let count = matching.len();
                let pages = count.div_ceil(size);
                let shown = matching
                    .into_iter()
                    .skip((page - 1).saturating_mul(size))
                    .take(size)
                    .collect();
                let to_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
                (
                    shown,
                    Some(Pagination {
                        page: to_u32(page),
                        page_size: to_u32(size),
                        page_count: to_u32(pages),
                        item_count: to_u32(count),
                    }),
                )
            }
        };
        self.envelope(&invoices, pagination)
    }

    fn one(&mut self, key: &str) -> Reply {
        let found = self
            .invoices
            .iter()
            .find(|i| i.invoice_id.eq_ignore_ascii_case(key) || i.number == key)
            .cloned();
        match found {
            Some(invoice) => self.envelope(&[invoice], None),
            None => Reply::problem(
                404,
                "NotFound",
                "The resource you're looking for cannot be found",
            ),
        }
    }

    fn authorise(&mut self, path_id: Option<&str>, body: &[u8]) -> Reply {
        let bad = |detail: &str| Reply::problem(400, "Bad Request", detail);
        let Ok(request) = serde_json::from_slice::<serde_json::Value>(body) else {
            return bad("the body is not JSON");
        };
        let items: Vec<serde_json::Value> = match request.get("Invoices") {
            Some(serde_json::Value::Array(items)) => items.clone(),
            Some(_) => return bad("Invoices must be an array"),
            None => vec![request.clone()],
        };
        let mut done = Vec::new();
        for item in items {
            let id = item
                .get("InvoiceID")
                .and_then(|v| v.as_str())
                .or(path_id)
                .unwrap_or_default()
                .to_owned();
            let wanted = item.get("Status").and_then(|v| v.as_str()).unwrap_or("");
            let now = self.clock.now();
            let Some(invoice) = self
                .invoices
                .iter_mut()
                .find(|i| i.invoice_id.eq_ignore_ascii_case(&id))
            else {
                return Reply::problem(
                    404,
                    "NotFound",
                    "The resource you're looking for cannot be found",
                );
            };
            if wanted != "AUTHORISED" {
                return Reply::validation(invoice, "The fake Xero only authorises invoices");
            }
            if !matches!(invoice.status, XeroStatus::Draft | XeroStatus::Submitted) {
                return Reply::validation(invoice, "Invoice not of valid status for modification");
            }
            invoice.status = XeroStatus::Authorised;
            invoice.updated = now;
            self.authorisations += 1;
            done.push(invoice.clone());
        }
        self.envelope(&done, None)
    }

    /// `{"Id":..,"Status":"OK","ProviderName":..,"DateTimeUTC":..,["pagination":..,]"Invoices":[..]}`.
    fn envelope(&mut self, invoices: &[XeroInvoice], pagination: Option<Pagination>) -> Reply {
        let envelope = Envelope {
            id: self.guid(),
            status: "OK",
            provider_name: "Acme Ops Bot",
            date_time_utc: format!("/Date({})/", self.clock.now().timestamp_millis()),
            pagination,
            invoices: invoices.iter().map(WireInvoice::from).collect(),
        };
        match serde_json::to_vec(&envelope) {
            Ok(body) => Reply::json(200, body),
            Err(e) => Reply::problem(500, "Fake Xero", &format!("cannot encode: {e}")),
        }
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `Type=="ACCREC"` -> `ACCREC`.
fn parse_type_clause(clause: &str) -> Option<String> {
    let rest = clause.trim().strip_prefix("Type")?.trim_start();
    let value = rest.strip_prefix("==")?.trim();
    let inner = value.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.is_empty()).then(|| inner.to_owned())
}

/// The route of a request, with the id of `Invoices/{id}`.
fn route_of(method: &Method, path: &str) -> Option<(XeroRoute, Option<String>)> {
    let path = path.trim_end_matches('/');
    if path == "/connect/token" && method == Method::POST {
        return Some((XeroRoute::Token, None));
    }
    if path == "/connections" && method == Method::GET {
        return Some((XeroRoute::Connections, None));
    }
    let rest = path.strip_prefix("/api.xro/2.0/Invoices")?;
    let id = match rest.strip_prefix('/') {
        Some(id) if !id.is_empty() && !id.contains('/') => Some(super::server::percent_decode(id)),
        Some(_) => return None,
        None if rest.is_empty() => None,
        None => return None,
    };
    match (method, id) {
        (&Method::GET, None) => Some((XeroRoute::Invoices, None)),
        (&Method::GET, Some(id)) => Some((XeroRoute::Invoice, Some(id))),
        (&Method::POST, id) => Some((XeroRoute::Authorise, id)),
        _ => None,
    }
}

async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let route = route_of(&method, uri.path());
    let hang = route
        .as_ref()
        .and_then(|(r, _)| shared.lock().take_hang(*r));
    let Some(hold) = hang else {
        return process(&shared, &method, &uri, route, &headers, &body).into_response();
    };
    // Held in a task of its own, so the request is processed even when the client gives up
    // (hyper drops the handler of a closed connection).
    let (answer, answered) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut stop = shared.shutdown.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(hold) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
        let reply = process(&shared, &method, &uri, route, &headers, &body);
        // Err: the client is gone; the request was processed all the same.
        let _gone = answer.send(reply);
    });
    match answered.await {
        Ok(reply) => reply.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Answers one request and logs it.
fn process(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    route: Option<(XeroRoute, Option<String>)>,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let query = uri.query().unwrap_or("");
    let mut st = shared.lock();
    let reply = st.respond(route.clone(), query, headers, body);
    let kept_body = match &route {
        Some((XeroRoute::Authorise, _)) => serde_json::from_slice(body).ok(),
        _ => None,
    };
    st.log.push(XeroRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: query.to_owned(),
        route: route.map(|(r, _)| r),
        tenant_id: header_text(headers, "xero-tenant-id"),
        accept: header_text(headers, "accept"),
        idempotency_key: header_text(headers, "idempotency-key"),
        auth_scheme: header_text(headers, "authorization")
            .and_then(|v| v.split_whitespace().next().map(str::to_owned)),
        body: kept_body,
        status: reply.status,
    });
    drop(st);
    tracing::debug!(%method, path = uri.path(), status = reply.status, "fake xero request");
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_invoices_round_trip_through_the_wire_format() {
        let invoices = FakeXero::fixture_invoices();
        assert_eq!(invoices.len(), 4);
        let mut st = State::new(FakeXeroConfig::default());
        let reply = st.envelope(&invoices, None);
        let text = String::from_utf8(reply.body.clone()).expect("utf-8");
        // Money as numbers with two decimals, dates both ways.
        assert!(text.contains(r#""AmountDue":2270.00,"#), "{text}");
        assert!(text.contains(r#""Quantity":1.0000,"#), "{text}");
        assert!(
            text.contains(
                r#""DateString":"2026-05-04T00:00:00","Date":"/Date(1777852800000+0000)/""#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#""UpdatedDateUTC":"/Date(1781943292317+0000)/""#),
            "{text}"
        );
        assert!(text.starts_with(r#"{"Id":""#), "{text}");
        assert_eq!(read_invoices(&text).expect("reads back"), invoices);
    }

    #[test]
    fn routes_and_clauses() {
        assert_eq!(
            route_of(&Method::GET, "/api.xro/2.0/Invoices"),
            Some((XeroRoute::Invoices, None))
        );
        assert_eq!(
            route_of(&Method::GET, "/api.xro/2.0/Invoices/abc-1"),
            Some((XeroRoute::Invoice, Some("abc-1".into())))
        );
        assert_eq!(
            route_of(&Method::POST, "/api.xro/2.0/Invoices"),
            Some((XeroRoute::Authorise, None))
        );
        assert_eq!(route_of(&Method::GET, "/api.xro/2.0/Invoices/a/b"), None);
        assert_eq!(route_of(&Method::GET, "/api.xro/2.0/InvoicesX"), None);
        assert_eq!(route_of(&Method::GET, "/connect/token"), None);
        assert_eq!(parse_type_clause("Type==\"ACCREC\""), Some("ACCREC".into()));
        assert_eq!(
            parse_type_clause("Type == \"ACCPAY\""),
            Some("ACCPAY".into())
        );
        assert_eq!(parse_type_clause("Status==\"DRAFT\""), None);
    }
}
