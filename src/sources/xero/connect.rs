//! `herald xero connect`: turns a refresh token from Xero's OAuth2 code flow into a saved one.
//! The pasted token is used once (Xero rotates it), only its successor is saved, at
//! `[xero].refresh_token`; then the connections are read to confirm `[xero].tenant_id`.
//! Nothing here prints or returns a token.

use std::path::Path;
use std::sync::Arc;

use super::client::XeroClient;
use super::error::XeroError;
use super::model::Connection;
use crate::clock::Clock;
use crate::config::{SecretStore, Token};

/// What `connect` did.
#[derive(Debug, Clone)]
pub struct ConnectReport {
    /// Where the rotated refresh token was saved (`file:local:/xero/refresh_token`).
    pub saved_at: String,
    /// The configured tenant, as Xero lists it.
    pub tenant: Connection,
    /// Every connection of the token.
    pub connections: Vec<Connection>,
}

/// Why `connect` failed. Never holds a token.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The deployment does not load, or has no `[xero]`.
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Xero(#[from] XeroError),
    /// The token works and is saved, but not for the configured organisation.
    #[error(
        "the new refresh token is saved at {saved_at}, but tenant {tenant_id} ([xero].tenant_id \
         in bots/herald.toml) is not among its connections: {found}; set tenant_id to one of \
         these, or connect that organisation in Xero's consent screen and run this again"
    )]
    TenantNotConnected {
        saved_at: String,
        tenant_id: String,
        found: String,
    },
}

/// Connects the deployment in `config_dir` with `refresh_token` (see the module doc).
pub async fn connect(
    config_dir: &Path,
    secrets_override: Option<&Path>,
    refresh_token: Token,
    clock: Clock,
) -> Result<ConnectReport, ConnectError> {
    let config =
        crate::config::load(config_dir).map_err(|e| ConnectError::Config(e.to_string()))?;
    let Some(xero) = config.deployment.xero.clone() else {
        return Err(ConnectError::Config(
            "bots/herald.toml has no [xero] table; add one (a commented example is in the \
             shipped bots/herald.toml)"
                .into(),
        ));
    };
    let secrets = Arc::new(SecretStore::new(
        &config.deployment,
        config_dir,
        secrets_override,
    ));
    let client = XeroClient::from_config(&xero, secrets, clock)?.starting_from(refresh_token);
    client.refresh_now().await?;
    let saved_at = xero.refresh_token.to_string();
    tracing::info!(%saved_at, "Xero refresh token rotated and saved");
    let connections = client.connections().await?;
    let found = connections
        .iter()
        .find(|c| c.tenant_id.eq_ignore_ascii_case(&xero.tenant_id))
        .cloned();
    match found {
        Some(tenant) => Ok(ConnectReport {
            saved_at,
            tenant,
            connections,
        }),
        None => Err(ConnectError::TenantNotConnected {
            saved_at,
            tenant_id: xero.tenant_id.clone(),
            found: if connections.is_empty() {
                "none".to_owned()
            } else {
                connections
                    .iter()
                    .map(|c| format!("{} ({})", c.tenant_id, c.tenant_name))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        }),
    }
}
