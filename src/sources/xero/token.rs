//! Xero's OAuth2 refresh flow, with the one rule that matters: Xero rotates the refresh token on
//! every use, so the new one is saved durably (through a [`RefreshTokenStore`]) before the new
//! access token is used or returned. A crash at any point leaves a usable refresh token on disk:
//! before the save, the previous one (Xero honours it for a 30-minute grace period); after it,
//! the new one.
//!
//! Access tokens live `expires_in` seconds (1800); one is cached in memory and renewed a
//! minute before it expires, by the [`Clock`]. One refresh at a time: callers queue on a tokio
//! mutex, and a caller that finds a fresh token after waiting uses it instead of refreshing.
//! The mutex is held only to read the cache and make the refresh request: a 429 from the
//! token endpoint (which rotates nothing) releases it before its `Retry-After` wait, so a
//! caller waiting out a rate limit never blocks another one.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::ACCEPT;
use serde::Deserialize;

use super::error::XeroError;
use super::http::{self, Answer, RateLimit, Sent};
use super::model::ErrorBody;
use crate::clock::Clock;
use crate::config::{SecretRef, SecretStore, Token};

/// Renew an access token this long before Xero would reject it.
const EARLY: chrono::Duration = chrono::Duration::seconds(60);

/// The Xero app's OAuth2 client credentials. `Debug` shows neither value.
#[derive(Clone)]
pub struct XeroCredentials {
    pub client_id: Token,
    pub client_secret: Token,
}

impl fmt::Debug for XeroCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("XeroCredentials(<redacted>)")
    }
}

/// Where the current refresh token is kept. `save` must return only once the token is durable:
/// the token it replaces stops working soon after.
pub trait RefreshTokenStore: Send + Sync {
    /// The refresh token to use next (the one saved last).
    fn load(&self) -> Result<Token, String>;
    /// Saves `token` durably, replacing the previous one. The reason on failure (no value).
    fn save(&self, token: &Token) -> Result<(), String>;
}

/// The production store: a `source = "file"` secret, written with [`SecretStore::store`].
pub struct SecretFileRefreshToken {
    secrets: Arc<SecretStore>,
    reference: SecretRef,
}

impl SecretFileRefreshToken {
    /// Refuses `source = "env"`: an environment variable cannot be written back.
    pub fn new(secrets: Arc<SecretStore>, reference: SecretRef) -> Result<Self, XeroError> {
        if let SecretRef::Env { .. } = reference {
            return Err(XeroError::Config(format!(
                "[xero].refresh_token ({reference}) must be a file secret (source = \"file\"): \
                 the refresh token rotates and herald writes it back"
            )));
        }
        Ok(SecretFileRefreshToken { secrets, reference })
    }

    /// The reference the token is saved at.
    pub fn reference(&self) -> &SecretRef {
        &self.reference
    }
}

impl RefreshTokenStore for SecretFileRefreshToken {
    fn load(&self) -> Result<Token, String> {
        self.secrets
            .resolve_secret(&self.reference)
            .map_err(|e| e.to_string())
    }

    fn save(&self, token: &Token) -> Result<(), String> {
        self.secrets
            .store(&self.reference, token)
            .map_err(|e| e.to_string())
    }
}

/// What the token endpoint is called in logs and errors.
const REFRESH: &str = "the token refresh";

/// How one refresh under the lock ended, when Xero did not refuse it.
enum Refreshed {
    /// A new access token (the rotated refresh token is saved).
    Token(Token),
    /// 429: nothing rotated; wait this out without the lock, then look again.
    RateLimited(RateLimit),
}

/// The token endpoint's answer to one request.
enum Requested {
    Body(Vec<u8>),
    RateLimited(RateLimit),
}

#[derive(Clone)]
struct AccessToken {
    token: Token,
    expires_at: DateTime<Utc>,
}

#[derive(Default)]
struct TokenState {
    /// The refresh token to use next; loaded from the store on first need.
    refresh: Option<Token>,
    access: Option<AccessToken>,
}

/// Hands out access tokens, refreshing (and saving the rotated refresh token) when needed.
pub struct TokenManager {
    http: reqwest::Client,
    token_url: String,
    credentials: XeroCredentials,
    store: Arc<dyn RefreshTokenStore>,
    clock: Clock,
    timeout: Duration,
    state: tokio::sync::Mutex<TokenState>,
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManager")
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

/// The token endpoint's answer. No `Debug`: it holds tokens.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
}

impl TokenManager {
    /// Refreshes at `{identity_url}/connect/token`. `timeout` is the client's request timeout
    /// (for error text).
    pub fn new(
        http: reqwest::Client,
        identity_url: &str,
        credentials: XeroCredentials,
        store: Arc<dyn RefreshTokenStore>,
        clock: Clock,
        timeout: Duration,
    ) -> TokenManager {
        TokenManager {
            http,
            token_url: format!("{}/connect/token", identity_url.trim_end_matches('/')),
            credentials,
            store,
            clock,
            timeout,
            state: tokio::sync::Mutex::new(TokenState::default()),
        }
    }

    /// Starts from `refresh_token` instead of the store's (`herald xero connect`: the pasted
    /// token is used once, and only its rotated successor is saved).
    pub fn starting_from(self, refresh_token: Token) -> TokenManager {
        TokenManager {
            state: tokio::sync::Mutex::new(TokenState {
                refresh: Some(refresh_token),
                access: None,
            }),
            ..self
        }
    }

    /// A valid access token: the cached one, or a new one (refreshing and saving first).
    pub async fn access_token(&self) -> Result<Token, XeroError> {
        loop {
            let limit = {
                let mut state = self.state.lock().await;
                if let Some(access) = state.access.as_ref().filter(|a| self.fresh(a)) {
                    return Ok(access.token.clone());
                }
                match self.refresh_locked(&mut state).await? {
                    Refreshed::Token(token) => return Ok(token),
                    Refreshed::RateLimited(limit) => limit,
                }
            };
            http::wait_out(&self.clock, REFRESH, &limit).await?;
        }
    }

    /// After Xero rejected `rejected` (401): a new access token, unless another caller has
    /// already replaced it while this one waited.
    pub async fn renew(&self, rejected: &Token) -> Result<Token, XeroError> {
        loop {
            let limit = {
                let mut state = self.state.lock().await;
                if let Some(access) = state
                    .access
                    .as_ref()
                    .filter(|a| &a.token != rejected && self.fresh(a))
                {
                    return Ok(access.token.clone());
                }
                state.access = None;
                match self.refresh_locked(&mut state).await? {
                    Refreshed::Token(token) => return Ok(token),
                    Refreshed::RateLimited(limit) => limit,
                }
            };
            http::wait_out(&self.clock, REFRESH, &limit).await?;
        }
    }

    /// Refreshes now, whatever the cache holds (rotating and saving the refresh token).
    pub async fn refresh(&self) -> Result<(), XeroError> {
        loop {
            let limit = {
                let mut state = self.state.lock().await;
                match self.refresh_locked(&mut state).await? {
                    Refreshed::Token(_) => return Ok(()),
                    Refreshed::RateLimited(limit) => limit,
                }
            };
            http::wait_out(&self.clock, REFRESH, &limit).await?;
        }
    }

    fn fresh(&self, access: &AccessToken) -> bool {
        self.clock.now() + EARLY < access.expires_at
    }

    /// One refresh, under the lock (`state` is its guard). A 429 rotates nothing and is
    /// returned for the caller to wait out once it has let go of the lock.
    async fn refresh_locked(&self, state: &mut TokenState) -> Result<Refreshed, XeroError> {
        let current = match &state.refresh {
            Some(token) => token.clone(),
            None => self
                .store
                .load()
                .map_err(|reason| XeroError::RefreshTokenUnavailable { reason })?,
        };
        let body = match self.request(&current).await? {
            Requested::Body(body) => body,
            Requested::RateLimited(limit) => return Ok(Refreshed::RateLimited(limit)),
        };
        // From here to the save there is no await point: a caller that gives up (a job
        // timeout) cannot drop the rotated token between Xero's answer and the disk.
        let answer: TokenResponse =
            serde_json::from_slice(&body).map_err(|_| XeroError::BadResponse {
                what: "the token refresh".into(),
                reason: "not a token answer (access_token missing or not JSON)".into(),
            })?;
        let Some(new_refresh) = answer.refresh_token.filter(|t| !t.is_empty()) else {
            return Err(XeroError::BadResponse {
                what: "the token refresh".into(),
                reason: "no refresh_token (was the offline_access scope granted?)".into(),
            });
        };
        let new_refresh = Token::new(new_refresh);
        // The previous refresh token is spent: keep the new one in memory whatever happens,
        // so a later call can still refresh (and try the save again).
        state.refresh = Some(new_refresh.clone());
        state.access = None;
        self.store
            .save(&new_refresh)
            .map_err(|reason| XeroError::RefreshTokenNotSaved { reason })?;
        let lifetime = answer.expires_in.filter(|s| *s > 0).unwrap_or(1800);
        let access = AccessToken {
            token: Token::new(answer.access_token),
            expires_at: self.clock.now() + chrono::Duration::seconds(lifetime),
        };
        state.access = Some(access.clone());
        tracing::info!(
            expires_in = lifetime,
            "Xero access token refreshed; the rotated refresh token is saved"
        );
        Ok(Refreshed::Token(access.token))
    }

    /// POSTs the refresh; the 200 body, a 429 to wait out, or the error it means.
    async fn request(&self, refresh_token: &Token) -> Result<Requested, XeroError> {
        let what = REFRESH;
        let request = self
            .http
            .post(&self.token_url)
            .basic_auth(
                self.credentials.client_id.expose(),
                Some(self.credentials.client_secret.expose()),
            )
            .header(ACCEPT, "application/json")
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
            ]);
        let Answer { status, html, body } =
            match http::send_once(what, self.timeout, request).await? {
                Sent::Answer(answer) => answer,
                Sent::RateLimited(limit) => return Ok(Requested::RateLimited(limit)),
            };
        if status.is_success() && !html {
            return Ok(Requested::Body(body));
        }
        if html {
            return Err(XeroError::HtmlPage {
                status: status.as_u16(),
            });
        }
        let parsed = ErrorBody::parse(&body);
        if let Some(code) = parsed.as_ref().and_then(|b| b.oauth_error()) {
            if code == "invalid_grant" {
                tracing::error!("Xero refused the refresh token (invalid_grant); reconnect needed");
                return Err(XeroError::ReconnectNeeded);
            }
            if status.is_client_error() {
                return Err(XeroError::TokenRefused {
                    status: status.as_u16(),
                    error: super::model::one_line(code),
                });
            }
        }
        Err(http::status_error(status, &body, what, ""))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use herald_sim::xero::{FakeXero, FakeXeroConfig, XeroFault, XeroRoute};

    struct Memory(Mutex<Token>);

    impl RefreshTokenStore for Memory {
        fn load(&self) -> Result<Token, String> {
            Ok(self.0.lock().unwrap_or_else(|p| p.into_inner()).clone())
        }

        fn save(&self, token: &Token) -> Result<(), String> {
            *self.0.lock().unwrap_or_else(|p| p.into_inner()) = token.clone();
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_refresh_waiting_out_a_429_holds_no_lock_and_blocks_no_other_caller() {
        let defaults = FakeXeroConfig::default();
        let fake = FakeXero::start(defaults.clone()).await.expect("fake xero");
        let clock = Clock::manual("2026-11-20T02:00:00Z".parse().expect("instant"));
        let tokens = Arc::new(TokenManager::new(
            reqwest::Client::new(),
            &fake.identity_url(),
            XeroCredentials {
                client_id: Token::new(defaults.client_id.clone()),
                client_secret: Token::new(defaults.client_secret.clone()),
            },
            Arc::new(Memory(Mutex::new(Token::new(fake.refresh_token())))),
            clock.clone(),
            Duration::from_secs(10),
        ));
        fake.fail_next(
            XeroRoute::Token,
            XeroFault::RateLimited { retry_after: 30 },
            1,
        );

        // The first caller's refresh is rate limited: it waits 30 s (of the manual clock).
        let first = tokio::spawn({
            let tokens = Arc::clone(&tokens);
            async move { tokens.access_token().await }
        });
        clock.until_sleeping(1).await;
        assert!(
            tokens.state.try_lock().is_ok(),
            "the token lock is free while the first caller waits"
        );

        // A second caller is served meanwhile, by its own refresh; the clock has not moved.
        let second = tokens.access_token().await.expect("served during the wait");
        assert_eq!(fake.refreshes(), 1);
        assert_eq!(clock.sleepers(), 1, "the first caller still waits");

        // Once its wait is over, the first caller finds the fresh token: no second refresh.
        clock.advance(chrono::Duration::seconds(30));
        let first = first.await.expect("joins").expect("a token after the wait");
        assert_eq!(first.expose(), second.expose());
        assert_eq!(fake.refreshes(), 1);
        assert_eq!(fake.count(XeroRoute::Token), 2, "the 429 and one refresh");
    }
}
