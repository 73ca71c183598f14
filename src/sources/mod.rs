//! Outside sources of truth that jobs and approvals read: who is on leave (the roster file
//! now, Talenox later) and, for finance, Xero. Each is behind a small interface so tests and
//! the sandbox can swap in local fakes.

pub mod leave;
