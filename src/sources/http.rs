//! What the HTTP sources (Xero, Talenox) share about one answer: its `Retry-After`, whether it
//! is an HTML page (a proxy or maintenance page where JSON was expected), its body, and a
//! transport failure as one line. Each source keeps its own error wording and retry policy.

use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;

use super::one_line;

/// A response that is not a 429: its status, whether it is an HTML page, its body.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub html: bool,
    pub body: Vec<u8>,
}

/// Reads `response` whole: an HTML page by its `Content-Type` or by a body starting with `<`.
pub(crate) async fn read_answer(response: reqwest::Response) -> Result<Answer, reqwest::Error> {
    let status = response.status();
    let html_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let body = response.bytes().await?.to_vec();
    let html = html_type || body.trim_ascii_start().starts_with(b"<");
    Ok(Answer { status, html, body })
}

/// `Retry-After` in seconds; `default` when absent or not a number.
pub(crate) fn retry_after(headers: &HeaderMap, default: Duration) -> Duration {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(default)
}

/// Why a request failed, from reqwest's chain of causes, in one line. Never the URL: it may
/// carry a query, and the caller names the call anyway.
pub(crate) fn transport_reason(e: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = cause.source();
    }
    let reason = if !causes.is_empty() {
        causes.join(": ")
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    one_line(&reason)
}
