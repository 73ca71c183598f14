//! Sources: the outside systems herald reads data from (and, for approvals, writes one thing
//! back to): who is on leave (the roster file, or Talenox), Talenox's employees and Xero. Each client
//! owns its transport, auth and error wording and hands jobs plain typed data behind a small
//! interface, so tests and the sandbox can swap in local fakes; jobs stay pure.

pub mod leave;
pub mod talenox;
pub mod xero;

/// A remote system's message as one line for an operator's DM: whitespace folded, at most 300
/// characters.
pub(crate) fn one_line(text: &str) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.chars().count() > 300 {
        let cut: String = folded.chars().take(297).collect();
        format!("{cut}...")
    } else {
        folded
    }
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
