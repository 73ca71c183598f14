//! Operator commands that act on a deployment from the shell: the kill switch (`herald pause`
//! / `herald resume`, written to the database that a running instance reads before every
//! send) and `herald schedule`, which prints upcoming slots. Each returns the text to print.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::config::{self, ConfigError};
use crate::identity::IDENTITY_NAMES;
use crate::jobs::JobSpec;
use crate::schedule::runner::local_and_utc;
use crate::store::pauses::{self, PauseScope, UnknownName};
use crate::store::{Store, StoreError};

/// Why an operator command could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

fn load_config(dir: &Path) -> Result<config::Config, ControlError> {
    config::load(dir).map_err(|e| match e {
        ConfigError::Findings(findings) => ControlError::Config(format!(
            "the configuration has problems (run `herald check`):\n{}",
            findings
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )),
        other => ControlError::Config(other.to_string()),
    })
}

/// Checks that `scope` names something that exists (the configuration is read only for a
/// job name).
fn validate_scope(config_dir: &Path, scope: &PauseScope) -> Result<(), ControlError> {
    let config = match scope {
        PauseScope::Job(_) => Some(load_config(config_dir)?),
        _ => None,
    };
    let jobs: Vec<&str> = config
        .iter()
        .flat_map(|c| c.bots.values())
        .flat_map(|b| b.jobs.iter().map(|j| j.name.as_str()))
        .collect();
    match scope.unknown_name(&jobs) {
        None => Ok(()),
        Some(UnknownName::Identity(name)) => Err(ControlError::Usage(format!(
            "no identity \"{name}\" (identities: {})",
            IDENTITY_NAMES.join(", ")
        ))),
        Some(UnknownName::Job(name)) => Err(ControlError::Usage(format!(
            "no job \"{name}\" in {}/bots (jobs: {})",
            config_dir.display(),
            if jobs.is_empty() {
                "none".to_owned()
            } else {
                jobs.join(", ")
            }
        ))),
    }
}

/// `herald pause` / `herald resume`: changes the kill switch in the database.
pub async fn set_pause(
    config_dir: &Path,
    db_url: &str,
    words: &[String],
    pause: bool,
    by: &str,
    now: DateTime<Utc>,
) -> Result<String, ControlError> {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let scope = PauseScope::parse_words(&words).map_err(ControlError::Usage)?;
    // Lifting a pause never needs the name to exist any more (a job may have been removed).
    if pause {
        validate_scope(config_dir, &scope)?;
    }
    let store = Store::open(db_url).await?;
    let mut tx = store.begin_write().await?;
    let changed = if pause {
        pauses::pause(&mut tx, &scope, by, now).await?
    } else {
        pauses::resume(&mut tx, &scope, by, now).await?
    };
    let state = pauses::current(&mut tx).await?;
    tx.commit().await?;
    store.close().await;
    let mut out = match (pause, changed) {
        (true, true) => format!(
            "paused {scope}: a running herald holds its next send; scheduled slots are skipped until `herald resume {scope}`"
        ),
        (true, false) => format!("{scope} was already paused"),
        (false, true) => format!("resumed {scope}"),
        (false, false) => format!("{scope} was not paused"),
    };
    if state.is_empty() {
        out.push_str("\nnothing is paused now");
    } else {
        let list: Vec<String> = state.pauses.iter().map(|p| p.scope.to_string()).collect();
        out.push_str(&format!("\npaused now: {}", list.join(", ")));
    }
    Ok(out)
}

/// `herald schedule --next N`: the next `n` slots of every job, local and UTC.
pub fn schedule(config_dir: &Path, n: usize, now: DateTime<Utc>) -> Result<String, ControlError> {
    let config = load_config(config_dir)?;
    let mut out = String::new();
    let mut count = 0;
    for (&bot, file) in &config.bots {
        for job in &file.jobs {
            let spec =
                JobSpec::from_file(bot, job, &config.roster).map_err(ControlError::Config)?;
            count += 1;
            let policy = match spec.misfire {
                config::model::Misfire::CatchUp => {
                    format!("catch_up within {} min", spec.grace.num_minutes())
                }
                config::model::Misfire::Skip => "skip".to_owned(),
            };
            out.push_str(&format!(
                "{} ({} -> #{}, \"{}\" {}, {})\n",
                spec.name,
                spec.bot,
                spec.thread,
                spec.cron.source(),
                spec.timezone.name(),
                policy
            ));
            let slots: Vec<_> = spec.cron.slots_after(spec.timezone, now).take(n).collect();
            if slots.is_empty() {
                out.push_str("  no upcoming slot\n");
            }
            for slot in slots {
                out.push_str(&format!("  {}\n", local_and_utc(&spec, slot)));
            }
        }
    }
    if count == 0 {
        out.push_str("no jobs are configured\n");
    }
    Ok(out.trim_end().to_owned())
}
