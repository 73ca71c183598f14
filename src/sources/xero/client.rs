//! [`XeroClient`]: the Accounting API calls herald makes, and how each of Xero's answers is
//! handled. Every request carries `Authorization: Bearer`, `xero-tenant-id` and
//! `Accept: application/json`.
//!
//! - 401 (`TokenExpired` and the like): the access token is renewed once and the request sent
//!   once more; a second 401 is an error.
//! - 429: waits `Retry-After` seconds (60 when absent) on the [`Clock`], then sends again. A
//!   wait longer than [`RETRY_AFTER_CAP`](super::http::RETRY_AFTER_CAP) (a daily limit says
//!   hours) is not waited out: the call fails with [`XeroError::RetryAfterTooLong`], naming
//!   the wait. No wait ever happens while holding the token lock, so one caller's 429 never
//!   blocks another caller.
//! - An HTML body (a proxy or maintenance page): "Xero returned an HTML error page".
//! - 400: Xero's validation messages. 5xx: the status and Xero's message. Transport failures
//!   and timeouts are named.
//!
//! `authorise` sends an `Idempotency-Key`: a caller that is unsure whether its call went
//! through (timeout, 5xx) retries with the same key and Xero changes the invoice at most once.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::ACCEPT;
use reqwest::{RequestBuilder, StatusCode};

use super::error::XeroError;
use super::http::{send_once, status_error, wait_out, Sent};
use super::model::{parse_connections, parse_invoices, Connection, ErrorBody, Invoice};
use super::token::{RefreshTokenStore, SecretFileRefreshToken, TokenManager, XeroCredentials};
use crate::clock::Clock;
use crate::config::model::XeroFile;
use crate::config::{SecretStore, Token};

/// Stop paging after this many pages (100,000 invoices at Xero's 100 a page).
const MAX_PAGES: u32 = 1000;

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
