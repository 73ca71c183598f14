//! [`TalenoxClient`]: the two reads herald makes (employees, leave applications) and how each of
//! Talenox's answers is handled. Every request carries `Authorization: Bearer <token>` and
//! `Accept: application/json`, and has a timeout.
//!
//! - 429: waits `Retry-After` (60 s when absent) on the [`Clock`] and sends again, at most
//!   [`RATE_LIMIT_TRIES`] times; a wait over [`RETRY_AFTER_CAP`] is not waited out.
//! - 401, 403, 5xx, an HTML page, a timeout and a transport failure are each a named
//!   [`TalenoxError`].
//! - Leave pages are followed through `next_last_seen_id`, at most [`MAX_PAGES`] of them.

use std::time::Duration;

use chrono::NaiveDate;
use reqwest::header::ACCEPT;
use reqwest::StatusCode;

use super::error::TalenoxError;
use super::model::{self, Employee, LeaveApplication, LeaveStatus};
use crate::clock::Clock;
use crate::config::model::TalenoxFile;
use crate::config::{SecretStore, Token};
use crate::sources::http::{read_answer, retry_after, Answer};
use crate::sources::one_line;
use crate::telemetry::metrics::{self, CallOutcome, Source};

/// The longest `Retry-After` herald waits out.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);
/// Sends of one request while Talenox answers 429.
pub const RATE_LIMIT_TRIES: u32 = 3;
/// Stop paging after this many pages (50,000 applications at 50 a page).
pub const MAX_PAGES: u32 = 1000;
/// Wait this long on a 429 without a readable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Where Talenox is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalenoxSettings {
    /// API base (`https://api.talenox.com/api/v2`).
    pub api_url: String,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
}

impl TalenoxSettings {
    /// The settings of a `[talenox]` table.
    pub fn from_file(file: &TalenoxFile) -> TalenoxSettings {
        TalenoxSettings {
            api_url: file.api_url.trim_end_matches('/').to_owned(),
            timeout: Duration::from_secs(u64::from(file.timeout_seconds)),
        }
    }
}

/// A Talenox API client. Cheap to share behind an `Arc`.
pub struct TalenoxClient {
    http: reqwest::Client,
    settings: TalenoxSettings,
    token: Token,
    /// Where `Retry-After` waits happen.
    clock: Clock,
}

impl std::fmt::Debug for TalenoxClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TalenoxClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl TalenoxClient {
    /// A client sending `token`.
    pub fn new(
        settings: TalenoxSettings,
        token: Token,
        clock: Clock,
    ) -> Result<TalenoxClient, TalenoxError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TalenoxError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(TalenoxClient {
            http,
            settings,
            token,
            clock,
        })
    }

    /// The client of a `[talenox]` table, its token resolved through `secrets`.
    pub fn from_config(
        file: &TalenoxFile,
        secrets: &SecretStore,
        clock: Clock,
    ) -> Result<TalenoxClient, TalenoxError> {
        let token = secrets
            .resolve_secret(&file.api_token)
            .map_err(|e| TalenoxError::Config(format!("[talenox].api_token: {e}")))?;
        TalenoxClient::new(TalenoxSettings::from_file(file), token, clock)
    }

    /// Every employee, leavers included (callers filter by [`Employee::has_left`]).
    pub async fn employees(&self) -> Result<Vec<Employee>, TalenoxError> {
        let what = "the employee list";
        let body = self.get(what, model::EMPLOYEES_PATH, &[]).await?;
        model::parse_employees(&body).map_err(|reason| TalenoxError::BadResponse {
            what: what.into(),
            reason: one_line(&reason),
        })
    }

    /// Leave applications overlapping `from..=to`, in `status` when given, every page.
    pub async fn leave_applications(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        status: Option<LeaveStatus>,
    ) -> Result<Vec<LeaveApplication>, TalenoxError> {
        let what = "the leave applications";
        let mut applications = Vec::new();
        let mut last_seen: Option<i64> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![
                (model::OVERLAP_FROM, from.to_string()),
                (model::OVERLAP_TO, to.to_string()),
                (model::LIMIT, model::MAX_LIMIT.to_string()),
            ];
            if let Some(status) = &status {
                query.push((model::STATUS, status.as_str().to_owned()));
            }
            if let Some(id) = last_seen {
                query.push((model::LAST_SEEN_ID, id.to_string()));
            }
            let body = self
                .get(what, model::LEAVE_APPLICATIONS_PATH, &query)
                .await?;
            let page =
                model::parse_leave_page(&body).map_err(|reason| TalenoxError::BadResponse {
                    what: what.into(),
                    reason: one_line(&reason),
                })?;
            applications.extend(page.leave_applications);
            match page.next_last_seen_id {
                Some(next) if Some(next) != last_seen => last_seen = Some(next),
                Some(_) => {
                    return Err(TalenoxError::BadResponse {
                        what: what.into(),
                        reason: "the next page cursor did not move".into(),
                    })
                }
                None => return Ok(applications),
            }
        }
        Err(TalenoxError::TooManyPages {
            what: what.into(),
            pages: MAX_PAGES,
        })
    }

    /// GETs `path` with `query`; the body of a 2xx, waiting out 429s.
    async fn get(
        &self,
        what: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<u8>, TalenoxError> {
        let url = format!("{}{path}", self.settings.api_url);
        let mut tries = 0;
        loop {
            tries += 1;
            let request = self
                .http
                .get(&url)
                .query(query)
                .bearer_auth(self.token.expose())
                .header(ACCEPT, "application/json");
            match self.send_once(what, request).await? {
                Ok(answer) => return answer_body(what, answer),
                Err(wait) if wait <= RETRY_AFTER_CAP && tries < RATE_LIMIT_TRIES => {
                    tracing::warn!(
                        what,
                        wait_seconds = wait.as_secs(),
                        "Talenox rate limit (429); waiting Retry-After before sending again"
                    );
                    self.clock.sleep(wait).await;
                }
                Err(wait) => {
                    return Err(TalenoxError::RateLimited {
                        what: what.into(),
                        seconds: wait.as_secs(),
                        cap: RETRY_AFTER_CAP.as_secs(),
                        tries,
                    })
                }
            }
        }
    }

    /// Sends once: the answer, or (a 429) how long to wait.
    async fn send_once(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Result<Answer, Duration>, TalenoxError> {
        let counters = metrics::process();
        let response = request.send().await.map_err(|e| {
            counters.source_call(Source::Talenox, CallOutcome::TransportError);
            self.transport_error(what, &e)
        })?;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            counters.source_call(Source::Talenox, CallOutcome::RateLimited);
            return Ok(Err(retry_after(response.headers(), DEFAULT_RETRY_AFTER)));
        }
        let answer = read_answer(response).await.map_err(|e| {
            counters.source_call(Source::Talenox, CallOutcome::TransportError);
            self.transport_error(what, &e)
        })?;
        counters.source_call(Source::Talenox, CallOutcome::of_status(answer.status));
        Ok(Ok(answer))
    }

    /// A reqwest failure: a timeout, or the chain of causes (never the URL or the token).
    fn transport_error(&self, what: &str, e: &reqwest::Error) -> TalenoxError {
        if e.is_timeout() {
            return TalenoxError::Timeout {
                what: what.into(),
                seconds: self.settings.timeout.as_secs(),
            };
        }
        TalenoxError::Transport {
            what: what.into(),
            reason: crate::sources::http::transport_reason(e),
        }
    }
}

/// The body of a successful answer, or the error its status means.
fn answer_body(what: &str, answer: Answer) -> Result<Vec<u8>, TalenoxError> {
    let Answer { status, html, body } = answer;
    if status.is_success() && !html {
        return Ok(body);
    }
    if html {
        return Err(TalenoxError::HtmlPage {
            status: status.as_u16(),
            what: what.into(),
        });
    }
    let message = error_message(&body);
    Err(match status.as_u16() {
        401 => TalenoxError::Unauthorized {
            detail: if message == "no details" {
                String::new()
            } else {
                format!(": {message}")
            },
        },
        403 => TalenoxError::Forbidden { what: what.into() },
        500..=599 => TalenoxError::Server {
            status: status.as_u16(),
            what: what.into(),
            message,
        },
        code => TalenoxError::Status {
            status: code,
            what: what.into(),
            message,
        },
    })
}

/// What an error body says: its `error` or `message` field, or its text, in one line.
fn error_message(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = parsed.as_ref().and_then(|v| {
        ["error", "message", "errors"]
            .iter()
            .find_map(|key| v.get(key))
            .map(|value| match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            })
    });
    let text = field.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let text = one_line(&text);
    if text.is_empty() {
        "no details".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_read_by_field_or_text() {
        assert_eq!(
            error_message(br#"{"error":"Unauthorized"}"#),
            "Unauthorized"
        );
        assert_eq!(
            error_message(br#"{"message":"down\nfor now"}"#),
            "down for now"
        );
        assert_eq!(error_message(b"plain words"), "plain words");
        assert_eq!(error_message(b""), "no details");
    }

    #[test]
    fn a_401_names_the_fix_and_no_token() {
        let error = answer_body(
            "the employee list",
            Answer {
                status: StatusCode::UNAUTHORIZED,
                html: false,
                body: br#"{"error":"Unauthorized"}"#.to_vec(),
            },
        )
        .unwrap_err();
        let text = error.to_string();
        assert!(text.contains("HTTP 401: Unauthorized"), "{text}");
        assert!(text.contains("API Settings"), "{text}");
    }
}
