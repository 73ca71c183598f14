//! `herald config backups | diff | restore`: the configurations that booted healthy
//! ([`crate::deploy::config_backup`]). A restore is validated with `herald check` (without
//! resolving secrets, which a backup never holds) before anything is written.

use std::process::ExitCode;

use super::global;
use crate::cli::{ConfigArgs, ConfigCommand, GlobalOptions};
use crate::commands::check::{check, CheckOptions};
use crate::deploy::config_backup::{self, BackupError};

/// Runs `herald config SUBCOMMAND`.
pub fn execute(global: &GlobalOptions, args: &ConfigArgs) -> ExitCode {
    let dir = &global.config;
    let result = match &args.command {
        ConfigCommand::Backups => backups(dir),
        ConfigCommand::Diff { against } => diff(dir, against),
        ConfigCommand::Restore { stamp } => restore(global, stamp),
    };
    result.unwrap_or_else(|e| {
        eprintln!("herald config: {e}");
        ExitCode::from(2)
    })
}

/// `last-good` is the newest backup; anything else names one.
fn stamp_of(name: &str) -> Option<&str> {
    (name != "last-good").then_some(name)
}

fn backups(dir: &std::path::Path) -> Result<ExitCode, BackupError> {
    let all = config_backup::list(dir)?;
    if all.is_empty() {
        println!(
            "no saved configuration yet in {} (herald run saves one after a healthy boot)",
            config_backup::backups_dir(dir).display()
        );
    }
    for (i, backup) in all.iter().enumerate() {
        let last = if i + 1 == all.len() {
            "  last-good"
        } else {
            ""
        };
        println!("{}{last}", backup.stamp);
    }
    Ok(ExitCode::SUCCESS)
}

fn diff(dir: &std::path::Path, against: &str) -> Result<ExitCode, BackupError> {
    let backup = config_backup::find(dir, stamp_of(against))?;
    let diff = config_backup::diff(dir, &backup)?;
    if diff.is_empty() {
        println!("no changes since {}", backup.stamp);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{diff}");
    Ok(ExitCode::from(1))
}

fn restore(global: &GlobalOptions, stamp: &str) -> Result<ExitCode, BackupError> {
    let dir = &global.config;
    let backup = config_backup::find(dir, stamp_of(stamp))?;
    let options = CheckOptions {
        secrets_override: None,
        skip_secrets: true,
    };
    let validate = |scratch: &std::path::Path| match check(scratch, &options) {
        Ok(findings) if findings.is_empty() => Ok(()),
        Ok(findings) => Err(findings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")),
        Err(e) => Err(e.to_string()),
    };
    let restored = config_backup::restore(dir, &backup, global::clock(global).now(), validate)?;
    println!(
        "restored {} ({} files) into {}; the files it replaced are in {}. Restart herald to \
         use it.",
        backup.stamp,
        restored.written,
        dir.display(),
        restored.previous.display()
    );
    Ok(ExitCode::SUCCESS)
}
