//! `herald pause` and `herald resume`: the kill switch, written to the database that a running
//! instance reads before every send (and a stopped one at start). Scopes: `all`, `bot NAME`,
//! `job NAME`. Exit code 0 when the switch is set, 2 when the scope or the database is wrong.

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};

use super::global;
use crate::cli::{GlobalOptions, PauseArgs};
use crate::identity::IDENTITY_NAMES;
use crate::store::pauses::{self, PauseScope, UnknownName};
use crate::store::{Store, StoreError};

/// Why the kill switch could not be set.
#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    /// The scope is malformed or names nothing that exists.
    #[error("{0}")]
    Usage(String),
    /// The configuration (read for a job name) has problems.
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// Runs `herald pause` (`pause` true) or `herald resume` (false) and prints the outcome.
pub async fn execute(global: &GlobalOptions, args: &PauseArgs, pause: bool) -> ExitCode {
    let name = if pause { "pause" } else { "resume" };
    let by = format!(
        "cli ({})",
        std::env::var("USER").unwrap_or_else(|_| "unknown user".to_owned())
    );
    let now = global::clock(global).now();
    let db_url = global::db_url(global);
    match set_pause(&global.config, &db_url, &args.scope, pause, &by, now).await {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("herald {name}: {e}");
            ExitCode::from(2)
        }
    }
}

/// Changes the kill switch in the database and returns the text to print: what changed and
/// what is paused now.
pub async fn set_pause(
    config_dir: &Path,
    db_url: &str,
    words: &[String],
    pause: bool,
    by: &str,
    now: DateTime<Utc>,
) -> Result<String, PauseError> {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let scope = PauseScope::parse_words(&words).map_err(PauseError::Usage)?;
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

/// Checks that `scope` names something that exists (the configuration is read only for a
/// job name).
fn validate_scope(config_dir: &Path, scope: &PauseScope) -> Result<(), PauseError> {
    let config = match scope {
        PauseScope::Job(_) => Some(global::load_config(config_dir).map_err(PauseError::Config)?),
        _ => None,
    };
    let jobs: Vec<&str> = config
        .iter()
        .flat_map(|c| c.bots.values())
        .flat_map(|b| b.jobs.iter().map(|j| j.name.as_str()))
        .collect();
    match scope.unknown_name(&jobs) {
        None => Ok(()),
        Some(UnknownName::Identity(name)) => Err(PauseError::Usage(format!(
            "no identity \"{name}\" (identities: {})",
            IDENTITY_NAMES.join(", ")
        ))),
        Some(UnknownName::Job(name)) => Err(PauseError::Usage(format!(
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
