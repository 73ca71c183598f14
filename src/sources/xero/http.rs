//! One HTTP request to Xero and what its answer means, shared by the API calls
//! ([`super::client`]) and the OAuth2 token refresh ([`super::token`]): send once (a 429 comes
//! back as `Sent::RateLimited` for the caller to wait out where it holds no lock), wait out
//! `Retry-After` up to [`RETRY_AFTER_CAP`], and turn a failed status or transport error into a
//! [`XeroError`]. It used to live in `client.rs`, which made `client.rs` and `token.rs` import
//! each other.

use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode};

use super::error::XeroError;
use super::model::{self, ErrorBody};
use crate::clock::Clock;
use crate::sources::http::{read_answer, retry_after};
use crate::telemetry::metrics::{self, CallOutcome, Source};

/// Wait this long on a 429 without a readable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The longest `Retry-After` herald waits out; a longer one fails the call (and the run).
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

pub(crate) use crate::sources::http::Answer;

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
    let counters = metrics::process();
    let response = request.send().await.map_err(|e| {
        counters.source_call(Source::Xero, CallOutcome::TransportError);
        transport_error(what, &e, timeout)
    })?;
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        counters.source_call(Source::Xero, CallOutcome::RateLimited);
        let limit = RateLimit {
            wait: retry_after(response.headers(), DEFAULT_RETRY_AFTER),
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
    let answer = read_answer(response).await.map_err(|e| {
        counters.source_call(Source::Xero, CallOutcome::TransportError);
        transport_error(what, &e, timeout)
    })?;
    counters.source_call(Source::Xero, CallOutcome::of_status(answer.status));
    Ok(Sent::Answer(answer))
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
    XeroError::Transport {
        what: what.into(),
        reason: crate::sources::http::transport_reason(e),
    }
}
