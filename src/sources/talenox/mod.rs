//! Talenox, the team's HR system: employees (birthdays, anniversaries, leavers, work passes)
//! and leave applications, for the team pulse and the laser-chase's leave.
//!
//! - [`model`]: the wire format, every path and field name in one file (ASSUMED ones marked).
//! - [`client`]: [`TalenoxClient`], the two reads with paging, 429 waits and a timeout.
//! - [`error`]: [`TalenoxError`], one line fit to DM an operator, never holding the token.
//! - [`leave`]: [`TalenoxLeave`], the laser-chase's leave from Talenox, with a fallback
//!   snapshot for when Talenox is down.

pub mod client;
pub mod error;
pub mod leave;
pub mod model;

pub use client::{TalenoxClient, TalenoxSettings};
pub use error::TalenoxError;
pub use leave::TalenoxLeave;
pub use model::{Employee, LeaveApplication, LeaveStatus, WorkPass};
