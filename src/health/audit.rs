//! One audit: the deployment loaded and its secrets resolved as `herald run` would, then
//! every probe ([`Prober`]) at once under one deadline ([`DEADLINE`]). Storing it and
//! comparing it with the previous one is [`store_and_compare`].

use std::sync::Arc;
use std::time::Duration;

use super::prober::{Prober, XeroProbe};
use super::{sources, Check, Report, Snapshot};
use crate::clock::Clock;
use crate::config::{self, Config, ConfigError, SecretStore};
use crate::sources::talenox::TalenoxClient;
use crate::sources::xero::XeroClient;
use crate::store::Store;
use crate::telegram::TelegramClient;

/// How long every probe together may take.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// What an audit needs.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub config_dir: std::path::PathBuf,
    pub secrets_override: Option<std::path::PathBuf>,
    pub db_url: String,
    pub api_url: String,
    pub clock: Clock,
    pub deadline: Duration,
    /// Besides the console, the identities whose jobs DM the operators, from the loaded
    /// configuration (`crate::jobs::kinds::operator_dm_senders`, which knows the job kinds).
    pub dm_operators: fn(&Config) -> Vec<&'static str>,
    /// The identities that must read every group message (`crate::bots`, which knows them).
    pub reads_group: Vec<&'static str>,
}

/// Why an audit could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the configuration has problems (run `herald check`):\n{0}")]
    Config(String),
    #[error("{0}")]
    Client(#[from] crate::telegram::ClientBuildError),
    #[error("cannot tell whether herald is running: {0}")]
    Lease(String),
}

/// Runs every probe and returns the report.
pub async fn audit(settings: &AuditSettings) -> Result<Report, AuditError> {
    let lines = |findings: Vec<crate::config::finding::Finding>| {
        findings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let config = config::load(&settings.config_dir).map_err(|e| match e {
        ConfigError::Findings(findings) => AuditError::Config(lines(findings)),
        other => AuditError::Config(other.to_string()),
    })?;
    let secrets = Arc::new(SecretStore::new(
        &config.deployment,
        &config.dir,
        settings.secrets_override.as_deref(),
    ));
    let tokens =
        config::resolve_tokens(&config, &secrets).map_err(|f| AuditError::Config(lines(f)))?;
    let holder = crate::store::lease::running_holder(
        &settings.db_url,
        &crate::store::lease::LeaseSettings::default(),
    )
    .await
    .map_err(|e| AuditError::Lease(e.to_string()))?;
    let xero = match (&config.deployment.xero, holder) {
        (None, _) => XeroProbe::None,
        (Some(_), Some(holder)) => XeroProbe::Instead(sources::xero_left_to_the_running_herald(
            &holder.to_string(),
        )),
        (Some(file), None) => {
            match XeroClient::from_config(file, secrets.clone(), settings.clock.clone()) {
                Ok(client) => XeroProbe::Client(Arc::new(client)),
                Err(e) => XeroProbe::Instead(sources::unbuildable("xero: refresh", e.to_string())),
            }
        }
    };
    let talenox = config.deployment.talenox.as_ref().map(|file| {
        TalenoxClient::from_config(file, &secrets, settings.clock.clone())
            .map(Arc::new)
            .map_err(|e| sources::unbuildable("talenox: read", e.to_string()))
    });
    let dm_operators = (settings.dm_operators)(&config);
    let prober = Prober {
        config: Arc::new(config),
        tokens,
        client: TelegramClient::new(&settings.api_url)?,
        db_url: settings.db_url.clone(),
        xero,
        talenox,
        deadline: settings.deadline,
        dm_operators,
        reads_group: settings.reads_group.clone(),
    };
    Ok(prober.run().await)
}

/// Stores `report` as the newest audit snapshot and returns the snapshot before it (of any
/// source; `None` for the first). Refused, saying why, when there is no database yet (an
/// audit does not create one) or its migrations are not this binary's (an audit does not
/// migrate under a running herald).
pub async fn store_and_compare(
    db_url: &str,
    report: &Report,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Snapshot>, String> {
    if !crate::store::file_of(db_url).is_some_and(|file| file.exists()) {
        return Err("there is no database yet (`herald run` creates it)".into());
    }
    // Opening it migrates: only when the probe saw this binary's migrations (not when it
    // could not read them, which leaves no such line).
    let current = report
        .checks
        .iter()
        .find(|c| c.capability == "database: migrations")
        .is_some_and(|c: &Check| c.verdict == super::Verdict::Ok);
    if !current {
        return Err("the database's migrations were not seen to be this binary's".into());
    }
    let store = Store::open(db_url).await.map_err(|e| e.to_string())?;
    let stored = super::record(&store, report, at, "audit", None).await;
    store.close().await;
    stored.map_err(|e| e.to_string())
}
