//! `herald schedule --next N`: the next slots of every job, in the job's zone and in UTC.
//! Exit code 0, or 2 when the configuration cannot be loaded.

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};

use super::global;
use crate::cli::{GlobalOptions, ScheduleArgs};
use crate::config::model::Misfire;
use crate::jobs::JobSpec;
use crate::schedule::runner::local_and_utc;

/// Why the slots could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The configuration cannot be loaded, or a job in it cannot be scheduled.
    #[error("{0}")]
    Config(String),
}

/// Runs `herald schedule` and prints the slots.
pub fn execute(global: &GlobalOptions, args: &ScheduleArgs) -> ExitCode {
    let now = global::clock(global).now();
    match schedule(&global.config, args.next as usize, now) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("herald schedule: {e}");
            ExitCode::from(2)
        }
    }
}

/// The next `n` slots after `now` of every job in `config_dir`, local and UTC, as text.
pub fn schedule(config_dir: &Path, n: usize, now: DateTime<Utc>) -> Result<String, ScheduleError> {
    let config = global::load_config(config_dir).map_err(ScheduleError::Config)?;
    let mut out = String::new();
    let mut count = 0;
    for (&bot, file) in &config.bots {
        for job in &file.jobs {
            let spec =
                JobSpec::from_file(bot, job, &config.roster).map_err(ScheduleError::Config)?;
            count += 1;
            let policy = match spec.misfire {
                Misfire::CatchUp => {
                    format!("catch_up within {} min", spec.grace.num_minutes())
                }
                Misfire::Skip => "skip".to_owned(),
            };
            out.push_str(&format!(
                "{} ({} -> {}, \"{}\" {}, {})\n",
                spec.name,
                spec.bot,
                crate::jobs::morning_brief::destination(&spec),
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
