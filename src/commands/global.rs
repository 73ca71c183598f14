//! What the global options mean to every command: the clock they ask for, the database they
//! name, and the deployment folder loaded for a command that only reads it (with the config's
//! problems as one message that points at `herald check`).

use std::path::Path;

use crate::cli::GlobalOptions;
use crate::clock::Clock;
use crate::config::{self, Config, ConfigError};

/// The clock `--clock-start` and `--clock-speed` ask for (the system clock without them).
pub fn clock(global: &GlobalOptions) -> Clock {
    match global.clock_start {
        Some(start) => Clock::accelerated(start, global.clock_speed),
        None if global.clock_speed != 1.0 => {
            let now = Clock::system().now();
            Clock::accelerated(now, global.clock_speed)
        }
        None => Clock::system(),
    }
}

/// `--db`, or the database in the config folder's `state/`.
pub fn db_url(global: &GlobalOptions) -> String {
    global
        .db
        .clone()
        .unwrap_or_else(|| crate::store::default_url(&global.config))
}

/// Warnings about the database's files being open to group or others (its folder too when it
/// is the deployment's own `state/`), one line each naming the path and the fix.
pub fn database_exposure(global: &GlobalOptions) -> Vec<String> {
    let url = db_url(global);
    let default = global.db.is_none() || url == crate::store::default_url(&global.config);
    crate::store::file_of(&url)
        .map(|file| crate::store::files::exposure_warnings(&file, default))
        .unwrap_or_default()
}

/// `Err` with the line to print when a running herald holds this deployment's database (or
/// that cannot be told): `command` is refused beside it, for `why`.
pub async fn refuse_beside_running_herald(
    global: &GlobalOptions,
    command: &str,
    why: &str,
) -> Result<(), String> {
    let settings = crate::store::lease::LeaseSettings::default();
    match crate::store::lease::running_holder(&db_url(global), &settings).await {
        Ok(None) => Ok(()),
        Ok(Some(holder)) => Err(format!(
            "{command}: refused: {holder} holds this deployment's database; {why}"
        )),
        Err(e) => Err(format!(
            "{command}: cannot tell whether herald is running: {e}"
        )),
    }
}

/// Loads the deployment in `dir`; its findings become one message, one finding a line.
pub fn load_config(dir: &Path) -> Result<Config, String> {
    config::load(dir).map_err(|e| match e {
        ConfigError::Findings(findings) => format!(
            "the configuration has problems (run `herald check`):\n{}",
            findings
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    #[test]
    fn clock_options_start_an_accelerated_clock() {
        let cli = Cli::try_parse_from([
            "herald",
            "--clock-start",
            "2026-11-23T03:00:00Z",
            "--clock-speed",
            "60",
            "check",
        ])
        .expect("parses");
        let start: DateTime<Utc> = "2026-11-23T03:00:00Z".parse().unwrap();
        let now = clock(&cli.global).now();
        // Even a slow machine takes well under a minute of real time here (= an hour at 60x).
        assert!(
            now >= start && now < start + chrono::Duration::hours(1),
            "{now}"
        );
    }

    #[test]
    fn without_clock_options_the_clock_is_the_system_clock() {
        let cli = Cli::try_parse_from(["herald", "check"]).expect("parses");
        assert!(format!("{:?}", clock(&cli.global)).starts_with("Clock(system"));
        assert!(db_url(&cli.global).ends_with("state/herald.db"));
    }
}
