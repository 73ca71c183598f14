//! Sources: the outside systems herald reads data from (and, for approvals, writes one thing
//! back to): who is on leave (the roster file, or Talenox), Talenox's employees and Xero. Each client
//! owns its transport, auth and error wording and hands jobs plain typed data behind a small
//! interface, so tests and the sandbox can swap in local fakes; jobs stay pure.

pub(crate) mod http;
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
