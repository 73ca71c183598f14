//! `herald audit [--json] [--diff]`: runs every probe ([`crate::health::audit`]), stores the
//! report as a snapshot and prints it, or only what changed since the previous one. Exit
//! code 0 all OK, 1 anything DEGRADED or BROKEN, 2 could not run.

use std::process::ExitCode;
use std::time::Duration;

use super::global;
use crate::cli::{AuditArgs, GlobalOptions};
use crate::health::audit::{audit, store_and_compare, AuditSettings, DEADLINE};

/// Runs `herald audit`.
pub async fn execute(global: &GlobalOptions, args: &AuditArgs) -> ExitCode {
    let clock = global::clock(global);
    let settings = AuditSettings {
        config_dir: global.config.clone(),
        secrets_override: global.secrets.clone(),
        db_url: global::db_url(global),
        api_url: global.telegram_api_url.clone(),
        clock: clock.clone(),
        deadline: args.deadline_ms.map_or(DEADLINE, Duration::from_millis),
        dm_operators: crate::jobs::kinds::operator_dm_senders,
        reads_group: crate::bots::reading_all_group_messages(),
    };
    let report = match audit(&settings).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("herald audit: {e}");
            return ExitCode::from(2);
        }
    };
    let at = clock.now();
    let previous = match store_and_compare(&settings.db_url, &report, at).await {
        Ok(previous) => previous,
        Err(e) => {
            eprintln!("herald audit: warning: the snapshot was not stored: {e}");
            None
        }
    };
    let changes = previous.as_ref().map(|p| report.changes_since(&p.report));
    if args.json {
        let mut object = serde_json::json!({
            "at": at.to_rfc3339(),
            "checks": report.checks,
        });
        if args.diff {
            object["changes"] = serde_json::json!(changes);
        }
        println!("{object}");
    } else if args.diff {
        match (&previous, &changes) {
            (Some(previous), Some(changes)) if changes.is_empty() => {
                println!("no change since {}", previous.at.to_rfc3339())
            }
            (Some(previous), Some(changes)) => {
                println!("since {}:", previous.at.to_rfc3339());
                changes.iter().for_each(|c| println!("{c}"));
            }
            _ => {
                println!("no earlier audit to compare with; this one:");
                report.checks.iter().for_each(|c| println!("{}", c.line()));
            }
        }
    } else {
        report.checks.iter().for_each(|c| println!("{}", c.line()));
        println!("{}", report.summary());
    }
    if report.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
