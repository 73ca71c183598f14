//! [`MindbodyClient`]: GymBooker's [`GymProvider`] on Mindbody's Public API v6, and how each of
//! Mindbody's answers is handled. Every request carries `Api-Key`, `SiteId` and `Accept:
//! application/json`; every request but the token's carries the staff token in
//! `Authorization`; every request has the settings' timeout.
//!
//! - The staff token is issued from the username and password on first need (or by
//!   [`GymProvider::prepare`], ahead of a booking), cached with its `Expires`, renewed a few
//!   minutes before it, and issued again once when Mindbody answers 401 (a token expired or
//!   revoked early); a second 401 is [`GymError::Auth`]. One issue at a time: callers queue on
//!   a lock and reuse what the first one got.
//! - Refusals are mapped by `Error.Code` to the named [`GymError`]s (full, already booked,
//!   window not open, payment, suspended, unknown class, credentials); a 5xx or an error page
//!   is [`GymError::Server`]; a timeout, or a connection lost after the request may have left,
//!   is an unknown outcome for a booking ([`GymError::outcome_unknown`]). Nothing is retried
//!   here but the 401: a booking is never sent twice by this client.
//!
//! Every HTTP exchange is counted in `/metrics` (`herald_source_calls_total{source="mindbody"}`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::future::BoxFuture;
use futures::FutureExt;
use reqwest::header::ACCEPT;
use reqwest::StatusCode;

use super::model::{self, codes, query};
use crate::clock::Clock;
use crate::config::Token;
use crate::sources::gym::{Booking, GymClass, GymError, GymProvider, Period};
use crate::sources::http::{read_answer, transport_reason, Answer};
use crate::sources::one_line;
use crate::telemetry::metrics::{self, CallOutcome, Source};

/// The provider's name in errors and logs.
pub const PROVIDER: &str = "Mindbody";
/// Mindbody's API base.
pub const DEFAULT_API_URL: &str = "https://api.mindbodyonline.com/public/v6";
/// Issue a new staff token this long before the cached one expires.
const RENEW_EARLY: chrono::Duration = chrono::Duration::minutes(5);
/// Stop paging after this many pages (5,000 classes).
pub const MAX_PAGES: u32 = 50;

/// Where the site is and how to call it. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MindbodySettings {
    /// API base ([`DEFAULT_API_URL`]).
    pub api_url: String,
    /// The business's site id (`SiteId`).
    pub site_id: String,
    /// The site's time zone: offset-less times are read in it.
    pub site_timezone: Tz,
    /// Only classes at these locations (all when empty).
    pub location_ids: Vec<i64>,
    /// Only classes of these programs (all when empty).
    pub program_ids: Vec<i64>,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// `RequirePayment` of a booking: refuse it unless the member has a usable pricing option.
    pub require_payment: bool,
    /// `SendEmail` of a booking or cancellation: Mindbody's own confirmation email.
    pub send_email: bool,
}

impl MindbodySettings {
    /// Mindbody's API for `site_id` in `site_timezone`: every location and program, a 10 s
    /// timeout, no payment required, no email.
    pub fn new(site_id: &str, site_timezone: Tz) -> MindbodySettings {
        MindbodySettings {
            api_url: DEFAULT_API_URL.to_owned(),
            site_id: site_id.to_owned(),
            site_timezone,
            location_ids: Vec::new(),
            program_ids: Vec::new(),
            timeout: Duration::from_secs(10),
            require_payment: false,
            send_email: false,
        }
    }
}

/// The developer's API key and the staff login, already resolved from their secret references.
/// `Debug` shows none of them.
#[derive(Clone)]
pub struct MindbodyCredentials {
    pub api_key: Token,
    pub username: String,
    pub password: Token,
}

impl std::fmt::Debug for MindbodyCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MindbodyCredentials(<redacted>)")
    }
}

/// A cached staff token.
struct StaffToken {
    token: Token,
    expires: Option<DateTime<Utc>>,
}

/// One API call: its route, its parameters, and the class it is about (for errors).
struct Call<'a> {
    what: String,
    path: &'static str,
    query: Vec<(&'static str, String)>,
    body: Option<serde_json::Value>,
    class_id: Option<&'a str>,
}

/// A sent request's answer, when it is not an error of its own.
enum Sent {
    Body(Vec<u8>),
    /// 401: the token was refused.
    Unauthorized(String),
}

/// A Mindbody client. Cheap to share behind an `Arc`.
pub struct MindbodyClient {
    http: reqwest::Client,
    settings: MindbodySettings,
    credentials: MindbodyCredentials,
    /// Token expiry is judged on it.
    clock: Clock,
    token: tokio::sync::Mutex<Option<StaffToken>>,
}

impl std::fmt::Debug for MindbodyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MindbodyClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl MindbodyClient {
    /// A client of the site in `settings`, logging in with `credentials`.
    pub fn new(
        settings: MindbodySettings,
        credentials: MindbodyCredentials,
        clock: Clock,
    ) -> Result<MindbodyClient, GymError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GymError::Config(format!("cannot build the HTTP client: {e}")))?;
        let settings = MindbodySettings {
            api_url: settings.api_url.trim_end_matches('/').to_owned(),
            ..settings
        };
        Ok(MindbodyClient {
            http,
            settings,
            credentials,
            clock,
            token: tokio::sync::Mutex::new(None),
        })
    }

    /// The client of `[gym]` (provider `mindbody`), its secrets resolved through `secrets`;
    /// class times are read in `timezone` (the team's).
    pub fn from_config(
        file: &crate::config::model::GymFile,
        secrets: &crate::config::SecretStore,
        timezone: Tz,
        clock: Clock,
    ) -> Result<MindbodyClient, GymError> {
        let resolve = |field: &str, r| {
            secrets
                .resolve_secret(r)
                .map_err(|e| GymError::Config(format!("gym.{field}: {e}")))
        };
        let credentials = MindbodyCredentials {
            api_key: resolve("api_key", &file.api_key)?,
            username: file.username.clone(),
            password: resolve("password", &file.password)?,
        };
        let settings = MindbodySettings {
            api_url: file.api_url.clone(),
            location_ids: file.location_ids.clone(),
            program_ids: file.program_ids.clone(),
            timeout: Duration::from_secs(u64::from(file.timeout_seconds)),
            ..MindbodySettings::new(&file.site_id, timezone)
        };
        MindbodyClient::new(settings, credentials, clock)
    }

    /// The settings in use.
    pub fn settings(&self) -> &MindbodySettings {
        &self.settings
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.api_url)
    }

    fn tz(&self) -> Tz {
        self.settings.site_timezone
    }

    /// The cached staff token while it is fresh, else a new one.
    async fn staff_token(&self) -> Result<Token, GymError> {
        let mut cached = self.token.lock().await;
        let now = self.clock.now();
        if let Some(current) = cached.as_ref() {
            let fresh = current
                .expires
                .is_none_or(|expires| now + RENEW_EARLY < expires);
            if fresh {
                return Ok(current.token.clone());
            }
        }
        let issued = self.issue().await?;
        let token = issued.token.clone();
        *cached = Some(issued);
        Ok(token)
    }

    /// Drops `token` from the cache, unless another caller replaced it already.
    async fn forget(&self, token: &Token) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|c| &c.token == token) {
            *cached = None;
        }
    }

    /// `POST /usertoken/issue`.
    async fn issue(&self) -> Result<StaffToken, GymError> {
        let what = "the staff token";
        let body = model::IssueRequest {
            username: &self.credentials.username,
            password: self.credentials.password.expose(),
        };
        let request = self
            .http
            .post(self.url(model::ISSUE_TOKEN_PATH))
            .header(model::API_KEY_HEADER, self.credentials.api_key.expose())
            .header(model::SITE_ID_HEADER, &self.settings.site_id)
            .header(ACCEPT, "application/json")
            .json(&body);
        let answer = self.exchange(what, request).await?;
        if answer.status.is_success() && !answer.html {
            let issued: model::IssueResponse =
                serde_json::from_slice(&answer.body).map_err(|e| unreadable(what, &e))?;
            let Some(token) = issued.access_token.filter(|t| !t.is_empty()) else {
                return Err(GymError::Unreadable {
                    provider: PROVIDER,
                    what: what.into(),
                    reason: "no AccessToken".into(),
                });
            };
            let expires = issued
                .expires
                .as_deref()
                .and_then(|t| model::read_time(t, self.tz()));
            tracing::debug!(expires = ?expires, "Mindbody issued a staff token");
            return Ok(StaffToken {
                token: Token::new(token),
                expires,
            });
        }
        Err(match answer.status.as_u16() {
            400 | 401 | 403 if !answer.html => GymError::Auth {
                provider: PROVIDER,
                detail: format!(
                    "the staff login was refused (HTTP {}, {}); check the username and password \
                     [gym] points at, and the API key",
                    answer.status.as_u16(),
                    error_text(&answer.body)
                ),
            },
            _ => refusal(what, None, &answer),
        })
    }

    /// Sends `request` once: the answer, or the transport failure as a [`GymError`].
    async fn exchange(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Answer, GymError> {
        let counters = metrics::process();
        let transport = |e: reqwest::Error| {
            counters.source_call(Source::Mindbody, CallOutcome::TransportError);
            self.transport_error(what, &e)
        };
        let response = request.send().await.map_err(transport)?;
        let answer = read_answer(response).await.map_err(transport)?;
        counters.source_call(Source::Mindbody, CallOutcome::of_status(answer.status));
        Ok(answer)
    }

    /// A reqwest failure: a timeout, a connection never made (surely not sent), or one lost
    /// after it was made (perhaps sent). Never the URL, never a credential.
    fn transport_error(&self, what: &str, e: &reqwest::Error) -> GymError {
        if e.is_timeout() {
            return GymError::Timeout {
                provider: PROVIDER,
                what: what.into(),
                seconds: self.settings.timeout.as_secs(),
            };
        }
        GymError::Transport {
            provider: PROVIDER,
            what: what.into(),
            reason: transport_reason(e),
            maybe_sent: !e.is_connect(),
        }
    }

    /// Sends `call` with `token`.
    async fn send(&self, call: &Call<'_>, token: &Token) -> Result<Sent, GymError> {
        let url = self.url(call.path);
        let request = match &call.body {
            Some(body) => self.http.post(url).json(body),
            None => self.http.get(url).query(&call.query),
        }
        .header(model::API_KEY_HEADER, self.credentials.api_key.expose())
        .header(model::SITE_ID_HEADER, &self.settings.site_id)
        .header(reqwest::header::AUTHORIZATION, token.expose())
        .header(ACCEPT, "application/json");
        let answer = self.exchange(&call.what, request).await?;
        if answer.status == StatusCode::UNAUTHORIZED {
            return Ok(Sent::Unauthorized(error_text(&answer.body)));
        }
        if answer.status.is_success() && !answer.html {
            return Ok(Sent::Body(answer.body));
        }
        Err(refusal(&call.what, call.class_id, &answer))
    }

    /// Runs `call` with the staff token, issuing a new token and sending once more after a 401.
    async fn call(&self, call: Call<'_>) -> Result<Vec<u8>, GymError> {
        let token = self.staff_token().await?;
        match self.send(&call, &token).await? {
            Sent::Body(body) => return Ok(body),
            Sent::Unauthorized(detail) => {
                tracing::info!(
                    what = %call.what,
                    detail = %detail,
                    "Mindbody refused the staff token (401); issuing a new one and sending once more"
                );
                self.forget(&token).await;
            }
        }
        let token = self.staff_token().await?;
        match self.send(&call, &token).await? {
            Sent::Body(body) => Ok(body),
            Sent::Unauthorized(detail) => Err(GymError::Auth {
                provider: PROVIDER,
                detail: format!(
                    "a freshly issued staff token was refused too (HTTP 401, {detail})"
                ),
            }),
        }
    }

    /// Reads every page of the list at `path`: the `base` parameters then `Limit` and
    /// `Offset`, from offset 0 on. Each page's items (`items` takes them and the
    /// `PaginationResponse` out of the page) go to `each` in order, before the next page is asked
    /// for. Paging stops at an empty page, once the offset reaches `TotalResults`, or, with no
    /// total, at a short page; more than [`MAX_PAGES`] pages is [`GymError::Unreadable`].
    async fn paged<P, W>(
        &self,
        what: &str,
        path: &'static str,
        base: &[(&'static str, String)],
        items: impl Fn(P) -> (Vec<W>, Option<model::PaginationResponse>),
        mut each: impl FnMut(W),
    ) -> Result<(), GymError>
    where
        P: serde::de::DeserializeOwned,
    {
        let mut offset: u32 = 0;
        for _ in 0..MAX_PAGES {
            let mut query = base.to_vec();
            query.push((query::LIMIT, model::PAGE_LIMIT.to_string()));
            query.push((query::OFFSET, offset.to_string()));
            let body = self
                .call(Call {
                    what: what.into(),
                    path,
                    query,
                    body: None,
                    class_id: None,
                })
                .await?;
            let page: P = serde_json::from_slice(&body).map_err(|e| unreadable(what, &e))?;
            let (wires, pagination) = items(page);
            let got = u32::try_from(wires.len()).unwrap_or(u32::MAX);
            wires.into_iter().for_each(&mut each);
            offset = offset.saturating_add(got);
            let total = pagination.and_then(|p| p.total_results);
            let done = got == 0
                || match total {
                    Some(total) => offset >= total,
                    None => got < model::PAGE_LIMIT,
                };
            if done {
                return Ok(());
            }
        }
        Err(GymError::Unreadable {
            provider: PROVIDER,
            what: what.into(),
            reason: format!("more than {MAX_PAGES} pages"),
        })
    }

    /// Every class starting in `period`, paged.
    async fn read_classes(&self, period: Period) -> Result<Vec<GymClass>, GymError> {
        let tz = self.tz();
        let day = chrono::Duration::days(1);
        let mut base = vec![
            (
                query::START_DATE_TIME,
                model::write_time(period.from - day, tz),
            ),
            (query::END_DATE_TIME, model::write_time(period.to + day, tz)),
        ];
        for id in &self.settings.location_ids {
            base.push((query::LOCATION_IDS, id.to_string()));
        }
        for id in &self.settings.program_ids {
            base.push((query::PROGRAM_IDS, id.to_string()));
        }
        let mut classes = Vec::new();
        self.paged(
            "the class schedule",
            model::CLASSES_PATH,
            &base,
            |page: model::ClassesPage| (page.classes, page.pagination),
            |wire| match model::to_gym_class(wire, tz) {
                Ok(class) if period.contains(class.starts_at) => classes.push(class),
                Ok(_) => {}
                Err(reason) => {
                    tracing::warn!(reason = %one_line(&reason), "Mindbody class skipped: unreadable");
                }
            },
        )
        .await?;
        classes.sort_by(|a, b| (a.starts_at, &a.id).cmp(&(b.starts_at, &b.id)));
        Ok(classes)
    }

    async fn book_class(
        &self,
        member: &str,
        class_id: &str,
        waitlist: bool,
    ) -> Result<Booking, GymError> {
        let id = mindbody_id(class_id)?;
        let what = format!("the booking of class {id}");
        let body = model::AddClientToClassRequest {
            client_id: member,
            class_id: id,
            test: false,
            require_payment: self.settings.require_payment,
            waitlist,
            send_email: self.settings.send_email,
        };
        let body = serde_json::to_value(&body)
            .map_err(|e| GymError::Config(format!("cannot encode a booking: {e}")))?;
        tracing::info!(class_id = id, waitlist, "booking a Mindbody class");
        let answer = self
            .call(Call {
                what: what.clone(),
                path: model::ADD_CLIENT_TO_CLASS_PATH,
                query: Vec::new(),
                body: Some(body),
                class_id: Some(class_id),
            })
            .await?;
        let parsed: model::AddClientToClassResponse =
            serde_json::from_slice(&answer).map_err(|e| unreadable(&what, &e))?;
        let visit = parsed.visit.ok_or_else(|| GymError::Unreadable {
            provider: PROVIDER,
            what: what.clone(),
            reason: "no Visit".into(),
        })?;
        Ok(model::to_booking(visit, member, Some(id), self.tz()))
    }

    async fn read_bookings(&self, member: &str, period: Period) -> Result<Vec<Booking>, GymError> {
        let tz = self.tz();
        let day = chrono::Duration::days(1);
        let first = (period.from - day).with_timezone(&tz).date_naive();
        let last = (period.to + day).with_timezone(&tz).date_naive();
        let base = [
            (query::CLIENT_ID, member.to_owned()),
            (query::START_DATE, model::write_date(first)),
            (query::END_DATE, model::write_date(last)),
        ];
        let mut bookings = Vec::new();
        self.paged(
            "the member's bookings",
            model::CLIENT_VISITS_PATH,
            &base,
            |page: model::VisitsPage| (page.visits, page.pagination),
            |visit| {
                if visit.late_cancelled == Some(true) || visit.waitlist_entry_id.is_some() {
                    return;
                }
                let booking = model::to_booking(visit, member, None, tz);
                match booking.starts_at {
                    Some(at) if period.contains(at) => bookings.push(booking),
                    Some(_) => {}
                    None => tracing::warn!(
                        class_id = %booking.class_id,
                        "Mindbody visit skipped: no readable StartDateTime"
                    ),
                }
            },
        )
        .await?;
        bookings.sort_by(|a, b| (a.starts_at, &a.class_id).cmp(&(b.starts_at, &b.class_id)));
        Ok(bookings)
    }

    async fn cancel_booking(&self, member: &str, class_id: &str) -> Result<(), GymError> {
        let id = mindbody_id(class_id)?;
        let body = model::RemoveClientFromClassRequest {
            client_id: member,
            class_id: id,
            test: false,
            send_email: self.settings.send_email,
            late_cancel: false,
        };
        let body = serde_json::to_value(&body)
            .map_err(|e| GymError::Config(format!("cannot encode a cancellation: {e}")))?;
        tracing::info!(class_id = id, "cancelling a Mindbody booking");
        self.call(Call {
            what: format!("the cancellation of class {id}"),
            path: model::REMOVE_CLIENT_FROM_CLASS_PATH,
            query: Vec::new(),
            body: Some(body),
            class_id: Some(class_id),
        })
        .await?;
        Ok(())
    }
}

impl GymProvider for MindbodyClient {
    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    fn prepare(&self) -> BoxFuture<'_, Result<(), GymError>> {
        async move { self.staff_token().await.map(|_| ()) }.boxed()
    }

    fn classes(&self, period: Period) -> BoxFuture<'_, Result<Vec<GymClass>, GymError>> {
        self.read_classes(period).boxed()
    }

    fn book<'a>(
        &'a self,
        member: &'a str,
        class_id: &'a str,
        waitlist: bool,
    ) -> BoxFuture<'a, Result<Booking, GymError>> {
        self.book_class(member, class_id, waitlist).boxed()
    }

    fn bookings<'a>(
        &'a self,
        member: &'a str,
        period: Period,
    ) -> BoxFuture<'a, Result<Vec<Booking>, GymError>> {
        self.read_bookings(member, period).boxed()
    }

    fn cancel<'a>(
        &'a self,
        member: &'a str,
        class_id: &'a str,
    ) -> BoxFuture<'a, Result<(), GymError>> {
        self.cancel_booking(member, class_id).boxed()
    }
}

/// A class id as Mindbody's integer.
fn mindbody_id(class_id: &str) -> Result<i64, GymError> {
    class_id
        .trim()
        .parse::<i64>()
        .map_err(|_| GymError::InvalidClass {
            provider: PROVIDER,
            class_id: one_line(class_id),
        })
}

fn unreadable(what: &str, e: &serde_json::Error) -> GymError {
    GymError::Unreadable {
        provider: PROVIDER,
        what: what.into(),
        reason: one_line(&e.to_string()),
    }
}

/// `Code: Message` of an error body, or its text, in one line.
fn error_text(body: &[u8]) -> String {
    let error = model::read_error(body);
    let text = match (error.code, error.message) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        (None, Some(message)) => message,
        (None, None) => String::from_utf8_lossy(body).into_owned(),
    };
    let text = one_line(&text);
    if text.is_empty() {
        "no details".to_owned()
    } else {
        text
    }
}

/// The [`GymError`] of a failed answer (not a 401 to an API call, handled by the caller).
fn refusal(what: &str, class_id: Option<&str>, answer: &Answer) -> GymError {
    let status = answer.status.as_u16();
    if answer.html || answer.status.is_server_error() {
        let message = if answer.html {
            "an HTML page where JSON was expected".to_owned()
        } else {
            error_text(&answer.body)
        };
        return GymError::Server {
            provider: PROVIDER,
            what: what.into(),
            status,
            message,
        };
    }
    if answer.status.is_success() {
        return GymError::Unreadable {
            provider: PROVIDER,
            what: what.into(),
            reason: "an HTML page".into(),
        };
    }
    let error = model::read_error(&answer.body);
    let code = error.code.unwrap_or_default();
    let message = one_line(error.message.as_deref().unwrap_or(""));
    let class_id = one_line(class_id.unwrap_or("?"));
    let is = |known: &str| code.eq_ignore_ascii_case(known);
    if is(codes::CLASS_FULL) {
        GymError::Full {
            provider: PROVIDER,
            class_id,
        }
    } else if is(codes::ALREADY_BOOKED) {
        GymError::AlreadyBooked {
            provider: PROVIDER,
            class_id,
        }
    } else if is(codes::INVALID_BOOKING_TIME) || is(codes::SCHEDULING_WINDOW_VIOLATED) {
        GymError::WindowNotOpen {
            provider: PROVIDER,
            class_id,
            code,
            message,
        }
    } else if is(codes::REQUIRES_PAYMENT) || is(codes::PAYMENT_REQUIRED) {
        GymError::RequiresPayment {
            provider: PROVIDER,
            class_id,
            message,
        }
    } else if is(codes::CLIENT_SUSPENDED) {
        GymError::ClientSuspended {
            provider: PROVIDER,
            message,
        }
    } else if is(codes::INVALID_CLASS) {
        GymError::InvalidClass {
            provider: PROVIDER,
            class_id,
        }
    } else if is(codes::INVALID_STAFF_CREDENTIALS) || is(codes::DENIED_ACCESS) {
        GymError::Auth {
            provider: PROVIDER,
            detail: format!("HTTP {status}, {}", error_text(&answer.body)),
        }
    } else {
        GymError::Refused {
            provider: PROVIDER,
            what: what.into(),
            status,
            code: if code.is_empty() {
                "no code".into()
            } else {
                one_line(&code)
            },
            message: if message.is_empty() {
                error_text(&answer.body)
            } else {
                message
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).expect("status"),
            html: body.starts_with('<'),
            body: body.as_bytes().to_vec(),
        }
    }

    fn error(code: &str) -> String {
        format!(r#"{{"Error":{{"Message":"m","Code":"{code}"}}}}"#)
    }

    #[test]
    fn each_code_is_its_named_error() {
        let full = refusal("b", Some("58211"), &answer(400, &error("ClassSignUpsFull")));
        assert!(matches!(full, GymError::Full { ref class_id, .. } if class_id == "58211"));
        type Check = fn(&GymError) -> bool;
        let cases: [(&str, Check); 8] = [
            ("ClientIsAlreadyBooked", |e| {
                matches!(e, GymError::AlreadyBooked { .. })
            }),
            ("InvalidBookingTime", |e| {
                matches!(e, GymError::WindowNotOpen { .. })
            }),
            ("schedulingwindowviolated", |e| {
                matches!(e, GymError::WindowNotOpen { .. })
            }),
            ("ClassRequiresPayment", |e| {
                matches!(e, GymError::RequiresPayment { .. })
            }),
            ("ClientIsSuspended", |e| {
                matches!(e, GymError::ClientSuspended { .. })
            }),
            ("InvalidClassId", |e| {
                matches!(e, GymError::InvalidClass { .. })
            }),
            ("DeniedAccess", |e| matches!(e, GymError::Auth { .. })),
            (
                "SomethingNew",
                |e| matches!(e, GymError::Refused { status: 400, ref code, .. } if code == "SomethingNew"),
            ),
        ];
        for (code, expected) in cases {
            let e = refusal("b", Some("1"), &answer(400, &error(code)));
            assert!(expected(&e), "{code}: {e:?}");
            assert!(!e.outcome_unknown(), "{code}");
        }
        let server = refusal("b", None, &answer(500, &error("InternalError")));
        assert!(matches!(server, GymError::Server { status: 500, .. }));
        assert!(server.outcome_unknown());
        let page = refusal("b", None, &answer(502, "<html>bad gateway</html>"));
        assert!(matches!(page, GymError::Server { status: 502, .. }));
        let odd = refusal("b", None, &answer(404, "not json"));
        assert!(matches!(odd, GymError::Refused { ref message, .. } if message == "not json"));
    }

    #[test]
    fn credentials_never_show() {
        let credentials = MindbodyCredentials {
            api_key: Token::new("api-key-value".into()),
            username: "staff".into(),
            password: Token::new("password-value".into()),
        };
        let shown = format!("{credentials:?}");
        assert!(!shown.contains("api-key-value") && !shown.contains("password-value"));
        assert!(!shown.contains("staff"));
    }

    #[test]
    fn class_ids_are_mindbody_integers() {
        assert_eq!(mindbody_id(" 58212 ").ok(), Some(58212));
        assert!(matches!(
            mindbody_id("abc"),
            Err(GymError::InvalidClass { .. })
        ));
    }
}
