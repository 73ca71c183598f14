//! Sources: the outside systems herald reads data from (and, for approvals, writes one thing
//! back to): who is on leave (the roster file now, an HR system later) and Xero. Each client
//! owns its transport, auth and error wording and hands jobs plain typed data behind a small
//! interface, so tests and the sandbox can swap in local fakes; jobs stay pure.

pub mod leave;
pub mod xero;
