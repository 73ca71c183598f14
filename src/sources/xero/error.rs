//! [`XeroError`]: why a Xero call failed, one line fit to DM an operator. Its own module so
//! that the request layer, the token refresh and the client share it without importing
//! `mod.rs`, which re-exports them.

/// Why a Xero call failed. `Display` is one line naming the cause (and the fix when there is
/// one); no variant holds a token, a refresh token or the client secret.
#[derive(Debug, thiserror::Error)]
pub enum XeroError {
    /// The refresh token was refused (`invalid_grant`): expired (60 days unused), revoked, or
    /// already used. Only a new authorisation helps.
    #[error(
        "Xero refused the refresh token (invalid_grant: expired, revoked or already used), so \
         herald can no longer reach Xero; reconnect: get a new refresh token through Xero's \
         OAuth2 flow and pipe it into `herald xero connect` (README: Connecting Xero)"
    )]
    ReconnectNeeded,
    /// Xero rotated the refresh token but the new one could not be written.
    #[error(
        "Xero issued a new refresh token but herald could not save it ({reason}); nothing was \
         sent to Xero with the new access token. Fix the secrets file and retry within 30 \
         minutes (Xero's grace period for the previous token), or reconnect with `herald xero \
         connect`"
    )]
    RefreshTokenNotSaved { reason: String },
    /// The refresh token could not be read (missing, unreadable secrets file).
    #[error("cannot read the Xero refresh token: {reason}")]
    RefreshTokenUnavailable { reason: String },
    /// The token endpoint refused the client (`invalid_client`, `unauthorized_client`, ...).
    #[error(
        "Xero refused the token refresh: {error} (HTTP {status}); check client_id and \
         client_secret of [xero] in bots/herald.toml"
    )]
    TokenRefused { status: u16, error: String },
    /// A 401 again right after a refresh.
    #[error("Xero rejected a freshly refreshed access token (HTTP 401: {detail})")]
    Unauthorized { detail: String },
    /// 403: usually a tenant the token is not connected to, or a missing scope.
    #[error(
        "Xero refused access (HTTP 403: {detail}); check that tenant {tenant_id} is connected \
         (`herald xero connect` lists them) and the app has the accounting scopes"
    )]
    Forbidden { detail: String, tenant_id: String },
    /// 400 with Xero's validation messages.
    #[error("Xero rejected the request: {}", .messages.join("; "))]
    Validation { messages: Vec<String> },
    /// 404.
    #[error("Xero has no {what} (HTTP 404)")]
    NotFound { what: String },
    /// A 5xx with a JSON body (Xero's message) or a plain one.
    #[error("Xero failed with HTTP {status}: {message}")]
    Server { status: u16, message: String },
    /// An HTML page where JSON was expected (a proxy or maintenance page).
    #[error("Xero returned an HTML error page (status {status})")]
    HtmlPage { status: u16 },
    /// Any other unexpected status.
    #[error("Xero answered HTTP {status} to {what}: {message}")]
    Status {
        status: u16,
        what: String,
        message: String,
    },
    /// A 429 whose `Retry-After` is longer than herald waits (a daily limit, say).
    #[error(
        "Xero asked to wait {seconds} s, more than the {cap} s cap ({what}, rate limit: \
         {problem}); herald does not wait that long, the next run or retry tries again"
    )]
    RetryAfterTooLong {
        seconds: u64,
        cap: u64,
        what: String,
        problem: String,
    },
    /// No answer within the request timeout.
    #[error("Xero did not answer {what} within {seconds} s")]
    Timeout { what: String, seconds: u64 },
    /// Connection refused, DNS, TLS, reset...
    #[error("cannot reach Xero for {what}: {reason}")]
    Transport { what: String, reason: String },
    /// A 2xx whose body is not what the API documents.
    #[error("Xero's answer to {what} is not what herald expects: {reason}")]
    BadResponse { what: String, reason: String },
    /// Paging that never ends (a safety stop).
    #[error("Xero kept returning invoice pages; stopped after {pages}")]
    TooManyPages { pages: u32 },
    /// A caller passed something Xero cannot be asked (a bug in the caller).
    #[error("invalid Xero request: {0}")]
    Invalid(String),
    /// `[xero]` is missing or its secrets cannot be resolved.
    #[error("Xero is not configured: {0}")]
    Config(String),
}

impl XeroError {
    /// True when only the operator can fix it by reconnecting Xero.
    pub fn needs_reconnect(&self) -> bool {
        matches!(self, XeroError::ReconnectNeeded)
    }
}
