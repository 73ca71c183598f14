//! [`XeroClient`]: the Accounting API calls herald makes, and how each of Xero's answers is
//! handled. Every request carries `Authorization: Bearer`, `xero-tenant-id` and
//! `Accept: application/json`.
//!
//! - 401 (`TokenExpired` and the like): the access token is renewed once and the request sent
//!   once more; a second 401 is an error.
//! - 429: waits `Retry-After` seconds (60 when absent) on the [`Clock`], then sends again. A
//!   wait longer than [`RETRY_AFTER_CAP`] (a daily limit says hours) is not waited out: the
//!   call fails with [`XeroError::RetryAfterTooLong`], naming the wait. No wait ever happens
//!   while holding the token lock, so one caller's 429 never blocks another caller.
//! - An HTML body (a proxy or maintenance page): "Xero returned an HTML error page".
//! - 400: Xero's validation messages. 5xx: the status and Xero's message. Transport failures
//!   and timeouts are named.
//!
//! `authorise` sends an `Idempotency-Key`: a caller that is unsure whether its call went
//! through (timeout, 5xx) retries with the same key and Xero changes the invoice at most once.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};

use super::model::{self, parse_connections, parse_invoices, Connection, ErrorBody, Invoice};
use super::token::{RefreshTokenStore, SecretFileRefreshToken, TokenManager, XeroCredentials};
use super::XeroError;
use crate::clock::Clock;
use crate::config::model::XeroFile;
use crate::config::{SecretStore, Token};

/// Stop paging after this many pages (100,000 invoices at Xero's 100 a page).
const MAX_PAGES: u32 = 1000;
/// Wait this long on a 429 without a readable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The longest `Retry-After` herald waits out; a longer one fails the call (and the run).
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// Where Xero is and which organisation to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XeroSettings {
    /// Accounting API base (`https://api.xero.com/api.xro/2.0`).
    pub api_url: String,
    /// OAuth2 identity server (`https://identity.xero.com`).
    pub identity_url: String,
    /// Connections endpoint (`https://api.xero.com/connections`).
    pub connections_url: String,
    /// Sent as `xero-tenant-id` on every request.
    pub tenant_id: String,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
}

impl XeroSettings {
    /// The settings of a `[xero]` table.
    pub fn from_file(file: &XeroFile) -> XeroSettings {
        XeroSettings {
            api_url: file.api_url.clone(),
            identity_url: file.identity_url.clone(),
            connections_url: file.connections_url.clone(),
            tenant_id: file.tenant_id.clone(),
            timeout: Duration::from_secs(u64::from(file.timeout_seconds)),
        }
    }
}

/// A Xero Accounting API client for one tenant. Cheap to share behind an `Arc`; concurrent
/// calls share one access token and never refresh twice at once.
pub struct XeroClient {
    http: reqwest::Client,
    settings: XeroSettings,
    tokens: TokenManager,
    /// Where `Retry-After` waits happen.
    clock: Clock,
}

impl std::fmt::Debug for XeroClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XeroClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl XeroClient {
    /// A client reading and saving refresh tokens through `store`.
    pub fn new(
        settings: XeroSettings,
        credentials: XeroCredentials,
        store: Arc<dyn RefreshTokenStore>,
        clock: Clock,
    ) -> Result<XeroClient, XeroError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| XeroError::Config(format!("cannot build the HTTP client: {e}")))?;
        let tokens = TokenManager::new(
            http.clone(),
            &settings.identity_url,
            credentials,
            store,
            clock.clone(),
            settings.timeout,
        );
        Ok(XeroClient {
            http,
            settings,
            tokens,
            clock,
        })
    }

    /// The production client of a `[xero]` table: client id and secret resolved through
    /// `secrets`, the refresh token read from and saved to its file secret.
    pub fn from_config(
        xero: &XeroFile,
        secrets: Arc<SecretStore>,
        clock: Clock,
    ) -> Result<XeroClient, XeroError> {
        let resolve = |key: &str, r| {
            secrets
                .resolve_secret(r)
                .map_err(|e| XeroError::Config(format!("[xero].{key}: {e}")))
        };
        let credentials = XeroCredentials {
            client_id: resolve("client_id", &xero.client_id)?,
            client_secret: resolve("client_secret", &xero.client_secret)?,
        };
        let store = SecretFileRefreshToken::new(secrets, xero.refresh_token.clone())?;
        XeroClient::new(
            XeroSettings::from_file(xero),
            credentials,
            Arc::new(store),
            clock,
        )
    }

    /// Uses `refresh_token` for the first refresh instead of the stored one.
    pub fn starting_from(self, refresh_token: Token) -> XeroClient {
        XeroClient {
            tokens: self.tokens.starting_from(refresh_token),
            ..self
        }
    }

    pub fn settings(&self) -> &XeroSettings {
        &self.settings
    }

    /// Refreshes the access token now (rotating and saving the refresh token).
    pub async fn refresh_now(&self) -> Result<(), XeroError> {
        self.tokens.refresh().await
    }

    /// Every invoice with one of `statuses` (none = any status) and of `kind` (`ACCREC`,
    /// `ACCPAY`; `None` = both): `GET Invoices?page=N&Statuses=A,B&where=Type=="K"`, page after
    /// page until a page is empty or `pagination.pageCount` is reached.
    pub async fn invoices(
        &self,
        statuses: &[&str],
        kind: Option<&str>,
    ) -> Result<Vec<Invoice>, XeroError> {
        for word in statuses.iter().chain(kind.iter()) {
            if word.is_empty() || !word.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(XeroError::Invalid(format!(
                    "`{word}` is not a Xero status or invoice type (upper-case letters)"
                )));
            }
        }
        let url = self.api_url(&["Invoices"])?;
        let mut filters: Vec<(&str, String)> = Vec::new();
        if !statuses.is_empty() {
            filters.push(("Statuses", statuses.join(",")));
        }
        if let Some(kind) = kind {
            filters.push(("where", format!("Type==\"{kind}\"")));
        }
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let what = format!("GET Invoices page {page}");
            let body = self
                .call(&what, |http| {
                    http.get(url.clone())
                        .query(&[("page", page.to_string())])
                        .query(&filters)
                })
                .await?;
            let parsed =
                parse_invoices(&body).map_err(|reason| XeroError::BadResponse { what, reason })?;
            let count = parsed.invoices.len();
            all.extend(parsed.invoices);
            let last = count == 0 || parsed.pagination.is_some_and(|p| page >= p.page_count);
            if last {
                return Ok(all);
            }
        }
        Err(XeroError::TooManyPages { pages: MAX_PAGES })
    }

    /// One invoice by `InvoiceID`: `GET Invoices/{id}`.
    pub async fn invoice(&self, invoice_id: &str) -> Result<Invoice, XeroError> {
        let url = self.api_url(&["Invoices", invoice_id])?;
        let what = format!("GET Invoices/{invoice_id}");
        let body = match self.call(&what, |http| http.get(url.clone())).await {
            Err(XeroError::NotFound { .. }) => {
                return Err(XeroError::NotFound {
                    what: format!("invoice {invoice_id}"),
                })
            }
            other => other?,
        };
        one_invoice(&body, invoice_id, &what)
    }

    /// Authorises (approves) a draft or submitted invoice: `POST Invoices` with
    /// `{"Invoices":[{"InvoiceID":id,"Status":"AUTHORISED"}]}` and `Idempotency-Key: key`.
    /// Retrying with the same key never changes the invoice twice. An invoice that can no
    /// longer be authorised (already authorised, paid, voided) is a [`XeroError::Validation`].
    pub async fn authorise(
        &self,
        invoice_id: &str,
        idempotency_key: &str,
    ) -> Result<Invoice, XeroError> {
        if idempotency_key.is_empty()
            || idempotency_key.len() > 128
            || !idempotency_key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(XeroError::Invalid(
                "an idempotency key is 1 to 128 printable ASCII characters".into(),
            ));
        }
        let url = self.api_url(&["Invoices"])?;
        let request = serde_json::json!({
            "Invoices": [{ "InvoiceID": invoice_id, "Status": "AUTHORISED" }]
        });
        let what = format!("POST Invoices (authorise {invoice_id})");
        let body = self
            .call(&what, |http| {
                http.post(url.clone())
                    .header("Idempotency-Key", idempotency_key)
                    .json(&request)
            })
            .await?;
        one_invoice(&body, invoice_id, &what)
    }

    /// The tenants this token may read: `GET {connections_url}`.
    pub async fn connections(&self) -> Result<Vec<Connection>, XeroError> {
        let url = self.settings.connections_url.clone();
        let what = "GET connections";
        let body = self.call(what, |http| http.get(&url)).await?;
        parse_connections(&body).map_err(|reason| XeroError::BadResponse {
            what: what.into(),
            reason,
        })
    }

    /// `{api_url}/seg/seg`, each segment percent-encoded.
    fn api_url(&self, segments: &[&str]) -> Result<url::Url, XeroError> {
        let bad = || XeroError::Config(format!("api_url {} is not a URL", self.settings.api_url));
        let mut url = url::Url::parse(&self.settings.api_url).map_err(|_| bad())?;
        url.path_segments_mut()
            .map_err(|_| bad())?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Sends an API request (built anew for each try) with the access token, the tenant and
    /// `Accept`; renews the token once on a 401. The 2xx body, or the error it means.
    async fn call(
        &self,
        what: &str,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Vec<u8>, XeroError> {
        let mut token = self.tokens.access_token().await?;
        let mut renewed = false;
        loop {
            let request = build(&self.http)
                .bearer_auth(token.expose())
                .header("xero-tenant-id", &self.settings.tenant_id)
                .header(ACCEPT, "application/json");
            let answer = match send_once(what, self.settings.timeout, request).await? {
                Sent::Answer(answer) => answer,
                Sent::RateLimited(limit) => {
                    wait_out(&self.clock, what, &limit).await?;
                    continue;
                }
            };
            if answer.status == StatusCode::UNAUTHORIZED && !renewed {
                let detail = ErrorBody::parse(&answer.body)
                    .and_then(|b| b.summary())
                    .unwrap_or_default();
                tracing::info!(what, %detail, "Xero answered 401; renewing the access token once");
                renewed = true;
                token = self.tokens.renew(&token).await?;
                continue;
            }
            if answer.html {
                return Err(XeroError::HtmlPage {
                    status: answer.status.as_u16(),
                });
            }
            if answer.status.is_success() {
                return Ok(answer.body);
            }
            return Err(status_error(
                answer.status,
                &answer.body,
                what,
                &self.settings.tenant_id,
            ));
        }
    }
}

/// The invoice `id` out of an `Invoices` answer.
fn one_invoice(body: &[u8], invoice_id: &str, what: &str) -> Result<Invoice, XeroError> {
    let page = parse_invoices(body).map_err(|reason| XeroError::BadResponse {
        what: what.into(),
        reason,
    })?;
    page.invoices
        .into_iter()
        .find(|i| i.invoice_id.eq_ignore_ascii_case(invoice_id))
        .ok_or_else(|| XeroError::BadResponse {
            what: what.into(),
            reason: format!("invoice {invoice_id} is not in the answer"),
        })
}

/// A response that is not a 429: its status, whether it is an HTML page, its body.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub html: bool,
    pub body: Vec<u8>,
}

/// A 429: how long Xero asked herald to wait, and which limit was hit.
pub(crate) struct RateLimit {
    pub wait: Duration,
    /// `X-Rate-Limit-Problem` (`minute`, `day`, `concurrent`...).
    pub problem: String,
}

/// What one request got back.
pub(crate) enum Sent {
    Answer(Answer),
    RateLimited(RateLimit),
}

/// Sends `request` once. A 429 is returned as [`Sent::RateLimited`] for the caller to wait
/// out (with [`wait_out`]) wherever it holds no lock.
pub(crate) async fn send_once(
    what: &str,
    timeout: Duration,
    request: RequestBuilder,
) -> Result<Sent, XeroError> {
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(what, &e, timeout))?;
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        let limit = RateLimit {
            wait: retry_after(response.headers()),
            problem: response
                .headers()
                .get("X-Rate-Limit-Problem")
                .and_then(|v| v.to_str().ok())
                .map(model::one_line)
                .unwrap_or_else(|| "unknown".to_owned()),
        };
        // Xero's 429 body is undocumented: never read.
        return Ok(Sent::RateLimited(limit));
    }
    let html_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(what, &e, timeout))?
        .to_vec();
    let html = html_type || body.trim_ascii_start().starts_with(b"<");
    Ok(Sent::Answer(Answer { status, html, body }))
}

/// Waits out a 429 on `clock`, or fails at once when Xero asks for more than
/// [`RETRY_AFTER_CAP`]. Callers must not hold the token lock while calling this.
pub(crate) async fn wait_out(
    clock: &Clock,
    what: &str,
    limit: &RateLimit,
) -> Result<(), XeroError> {
    if limit.wait > RETRY_AFTER_CAP {
        tracing::error!(
            what,
            problem = %limit.problem,
            wait_seconds = limit.wait.as_secs(),
            cap_seconds = RETRY_AFTER_CAP.as_secs(),
            "Xero rate limit (429) asks for a wait over the cap; giving up on this call"
        );
        return Err(XeroError::RetryAfterTooLong {
            seconds: limit.wait.as_secs(),
            cap: RETRY_AFTER_CAP.as_secs(),
            what: what.to_owned(),
            problem: limit.problem.clone(),
        });
    }
    tracing::warn!(
        what,
        problem = %limit.problem,
        wait_seconds = limit.wait.as_secs(),
        "Xero rate limit (429); waiting Retry-After before sending again"
    );
    clock.sleep(limit.wait).await;
    Ok(())
}

/// `Retry-After` in seconds; [`DEFAULT_RETRY_AFTER`] when absent or not a number.
fn retry_after(headers: &HeaderMap) -> Duration {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_RETRY_AFTER)
}

/// The error a non-2xx JSON (or empty) answer means.
pub(crate) fn status_error(
    status: StatusCode,
    body: &[u8],
    what: &str,
    tenant_id: &str,
) -> XeroError {
    let parsed = ErrorBody::parse(body);
    let summary = parsed.as_ref().and_then(ErrorBody::summary);
    let message = || {
        summary.clone().unwrap_or_else(|| {
            let text = model::one_line(&String::from_utf8_lossy(body));
            if text.is_empty() {
                "no details".to_owned()
            } else {
                text
            }
        })
    };
    match status.as_u16() {
        400 => {
            let mut messages = parsed
                .as_ref()
                .map(ErrorBody::validation_messages)
                .unwrap_or_default();
            if messages.is_empty() {
                messages.push(message());
            }
            XeroError::Validation { messages }
        }
        401 => XeroError::Unauthorized { detail: message() },
        403 => XeroError::Forbidden {
            detail: message(),
            tenant_id: tenant_id.to_owned(),
        },
        404 => XeroError::NotFound { what: what.into() },
        500..=599 => XeroError::Server {
            status: status.as_u16(),
            message: message(),
        },
        _ => XeroError::Status {
            status: status.as_u16(),
            what: what.into(),
            message: message(),
        },
    }
}

/// A reqwest failure as a [`XeroError`]: a timeout, or the chain of causes (no URL: the
/// operator knows which call from `what`).
pub(crate) fn transport_error(what: &str, e: &reqwest::Error, timeout: Duration) -> XeroError {
    if e.is_timeout() {
        return XeroError::Timeout {
            what: what.into(),
            seconds: timeout.as_secs(),
        };
    }
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = cause.source();
    }
    let reason = if causes.is_empty() {
        if e.is_connect() {
            "connection failed".to_owned()
        } else {
            "request failed".to_owned()
        }
    } else {
        causes.join(": ")
    };
    XeroError::Transport {
        what: what.into(),
        reason: model::one_line(&reason),
    }
}
