//! Xero, for the finance bot: read invoices (the AR brief), read one invoice and authorise a
//! draft (approval cards), list connections (`herald xero connect`).
//!
//! - [`model`]: invoices and connections parsed from Xero's wire format (exact money, dates).
//! - [`token`]: the OAuth2 refresh flow. Xero rotates the refresh token on every use; the new
//!   one is saved durably ([`RefreshTokenStore`]) before the access token is used or returned.
//! - [`client`]: [`XeroClient`], the API calls with Xero's failure modes handled: a 401 refreshes
//!   once and retries once, a 429 waits `Retry-After` (at most a minute, never holding the
//!   token lock), everything else is a [`XeroError`].
//! - [`http`]: one request and its answer (429 waits, status and transport errors), shared by
//!   `client` and `token`.
//! - [`connect`]: `herald xero connect`, which turns a first refresh token into a saved one.
//!
//! Every [`XeroError`] is one line fit to DM an operator and never holds a token or secret.

pub mod client;
pub mod connect;
pub mod error;
pub mod http;
pub mod model;
pub mod token;

pub use client::{XeroClient, XeroSettings};
pub use error::XeroError;
pub use model::{Connection, Invoice, InvoiceKind, InvoiceStatus, LineItem};
pub use token::{RefreshTokenStore, SecretFileRefreshToken, TokenManager, XeroCredentials};

/// What the operator runs to (re)connect Xero; named in every error that needs it.
pub const CONNECT_COMMAND: &str = "herald xero connect";
