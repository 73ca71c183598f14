//! [`TalenoxError`]: why a Talenox call failed, one line fit to DM an operator. It never holds
//! the API token.

/// Why a Talenox call failed.
#[derive(Debug, thiserror::Error)]
pub enum TalenoxError {
    /// 401: the API token is wrong, revoked or expired.
    #[error(
        "Talenox refused the API token (HTTP 401{detail}); create a new one in Talenox → API \
         Settings and put it where [talenox].api_token points"
    )]
    Unauthorized { detail: String },
    /// 403: the token may not read this.
    #[error("Talenox refused access to {what} (HTTP 403); check the API token's permissions")]
    Forbidden { what: String },
    /// 429 more often than herald retries, or with a wait over the cap.
    #[error(
        "Talenox rate-limited {what} (HTTP 429, Retry-After {seconds} s); herald waits at most \
         {cap} s and {tries} times, the next run tries again"
    )]
    RateLimited {
        what: String,
        seconds: u64,
        cap: u64,
        tries: u32,
    },
    /// A 5xx.
    #[error("Talenox failed with HTTP {status} on {what}: {message}")]
    Server {
        status: u16,
        what: String,
        message: String,
    },
    /// An HTML page where JSON was expected (a proxy or maintenance page).
    #[error("Talenox returned an HTML page (HTTP {status}) for {what}")]
    HtmlPage { status: u16, what: String },
    /// Any other unexpected status.
    #[error("Talenox answered HTTP {status} to {what}: {message}")]
    Status {
        status: u16,
        what: String,
        message: String,
    },
    /// No answer within the request timeout.
    #[error("Talenox did not answer {what} within {seconds} s")]
    Timeout { what: String, seconds: u64 },
    /// Connection refused, DNS, TLS, reset...
    #[error("cannot reach Talenox for {what}: {reason}")]
    Transport { what: String, reason: String },
    /// A 2xx whose body is not what herald expects.
    #[error("Talenox's answer to {what} is not what herald expects: {reason}")]
    BadResponse { what: String, reason: String },
    /// Paging that never ends (a safety stop).
    #[error("Talenox kept returning {what} pages; stopped after {pages}")]
    TooManyPages { what: String, pages: u32 },
    /// `[talenox]` cannot be used (its token cannot be resolved, say).
    #[error("Talenox is not configured: {0}")]
    Config(String),
}
