//! One audit: the deployment loaded and its secrets resolved as `herald run` would, then
//! every probe ([`Prober`]) at once under one deadline ([`DEADLINE`]). Storing it and
//! comparing it with the previous one is [`store_and_compare`].

use std::sync::Arc;
use std::time::Duration;

use super::prober::{Prober, XeroProbe};
use super::{sources, Check, Report};
use crate::clock::Clock;
use crate::config::{self, ConfigError, SecretStore};
use crate::sources::talenox::TalenoxClient;
use crate::sources::xero::XeroClient;
use crate::store::audit::AuditEntry;
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
    let prober = Prober {
        config: Arc::new(config),
        tokens,
        client: TelegramClient::new(&settings.api_url)?,
        db_url: settings.db_url.clone(),
        xero,
        talenox,
        deadline: settings.deadline,
    };
    Ok(prober.run().await)
}

/// The snapshot this audit is compared with, as stored.
#[derive(Debug, Clone)]
pub struct Previous {
    pub at: chrono::DateTime<chrono::Utc>,
    pub report: Report,
}

/// Stores `report` as the newest snapshot (with an audit-log entry) and returns the one
/// before it (`None` for the first). Refused, saying why, when there is no database yet (an
/// audit does not create one) or its migrations are not this binary's (an audit does not
/// migrate under a running herald).
pub async fn store_and_compare(
    db_url: &str,
    report: &Report,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Previous>, String> {
    let current = report
        .checks
        .iter()
        .find(|c| c.capability == "database: migrations")
        .is_none_or(|c: &Check| c.verdict == super::Verdict::Ok);
    if !current {
        return Err("the database's migrations are not this binary's; not stored".into());
    }
    if !crate::store::file_of(db_url).is_some_and(|file| file.exists()) {
        return Err("there is no database yet (`herald run` creates it)".into());
    }
    let store = Store::open(db_url).await.map_err(|e| e.to_string())?;
    let checks = serde_json::to_string(&report.checks).map_err(|e| e.to_string())?;
    let summary = summary(report);
    let stored = async {
        let mut tx = store.begin_write().await?;
        let previous = crate::store::capability_snapshots::latest(&mut tx, None).await?;
        crate::store::capability_snapshots::insert(&mut tx, at, "audit", &checks).await?;
        let entry = AuditEntry::new("health", format!("audit: {summary}"));
        crate::store::audit::record(&mut tx, at, &entry).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(previous)
    }
    .await;
    store.close().await;
    let previous = stored.map_err(|e| e.to_string())?;
    Ok(previous.map(|p| Previous {
        at: p.at,
        report: Report {
            checks: serde_json::from_str(&p.checks).unwrap_or_default(),
        },
    }))
}

/// `N OK, N DEGRADED, N BROKEN`.
pub fn summary(report: &Report) -> String {
    let count = |v| report.checks.iter().filter(|c| c.verdict == v).count();
    format!(
        "{} OK, {} DEGRADED, {} BROKEN",
        count(super::Verdict::Ok),
        count(super::Verdict::Degraded),
        count(super::Verdict::Broken)
    )
}
