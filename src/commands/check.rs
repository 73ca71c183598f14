//! `herald check`: audits a config folder without starting anything. Runs the same loading and
//! validation as `herald run` ([`crate::config::load()`]), resolves every token through the one
//! secret path (unless told to skip it, for CI without secrets; the `[xero]` secrets too), and
//! scans the folder for tokens written in plain text. Then the checks that need more than the
//! config, which is why this lives in the command layer and not in `config`: every job's
//! spec against the templates ([`crate::jobs::check_jobs`]) and every template rendered
//! against sample data. Reports every problem, sorted, one line each. Exit code 0 clean,
//! 1 findings, 2 could not run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::{CheckArgs, GlobalOptions};
use crate::config::finding::{tidy, Finding};
use crate::config::load::{load_parts, ConfigError};
use crate::config::model::DeploymentFile;
use crate::config::secret_checks::{
    resolve_gym_parts, resolve_parts, resolve_talenox_parts, resolve_xero_parts, scan_plaintext,
    scrub_tokens,
};
use crate::config::{SecretRef, SecretStore};

/// Runs `herald check` and prints one line per finding (or `DIR: ok`).
pub fn execute(global: &GlobalOptions, args: &CheckArgs) -> ExitCode {
    let options = CheckOptions {
        secrets_override: global.secrets.clone(),
        skip_secrets: args.skip_secrets,
    };
    let result = check(&global.config, &options);
    for warning in super::global::database_exposure(global) {
        eprintln!("herald check: warning: {warning}");
    }
    match &result {
        Ok(findings) if findings.is_empty() => println!("{}: ok", global.config.display()),
        Ok(findings) => findings.iter().for_each(|f| println!("{f}")),
        Err(e) => eprintln!("herald check: {e}"),
    }
    ExitCode::from(exit_code(&result) as u8)
}

/// How to run the check.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Replaces the path of every file secret provider (`--secrets FILE` / `HERALD_SECRETS`).
    pub secrets_override: Option<PathBuf>,
    /// Do not resolve secrets (CI without secrets); references are still shape-checked.
    pub skip_secrets: bool,
}

/// The check could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot check {dir}: {reason}")]
    CannotRun { dir: String, reason: String },
}

/// Checks the deployment in `dir`. `Ok` holds the findings, sorted by file then field and
/// deduplicated; empty means clean.
pub fn check(dir: &Path, opts: &CheckOptions) -> Result<Vec<Finding>, CheckError> {
    let parts = load_parts(dir).map_err(|e| match e {
        ConfigError::Unreadable { dir, reason } => CheckError::CannotRun { dir, reason },
        ConfigError::Findings(found) => CheckError::CannotRun {
            dir: dir.display().to_string(),
            reason: format!("{} unexpected problem(s)", found.len()),
        },
    })?;
    let mut findings = parts.findings;
    findings.extend(crate::bots::check_job_settings(
        &parts.bots,
        parts.deployment.as_ref(),
    ));
    let mut tokens = Default::default();
    let mut others = Vec::new();
    // The secrets files themselves are not scanned for tokens, even when not resolving.
    let mut secrets_files = match &parts.deployment {
        Some(deployment) => {
            SecretStore::new(deployment, dir, opts.secrets_override.as_deref()).files()
        }
        None => Vec::new(),
    };
    if !opts.skip_secrets {
        let override_path = opts.secrets_override.as_deref();
        let (store, bots) = match &parts.deployment {
            Some(deployment) => (
                SecretStore::new(deployment, dir, override_path),
                parts.bots.clone(),
            ),
            // Without a readable deployment file only environment references can resolve;
            // the deployment file's own finding explains the rest.
            None => (
                SecretStore::new(&no_providers(), dir, override_path),
                parts
                    .bots
                    .iter()
                    .filter(|(_, b)| matches!(b.token, SecretRef::Env { .. }))
                    .map(|(name, b)| (*name, b.clone()))
                    .collect(),
            ),
        };
        let (resolved, problems) = resolve_parts(&bots, &store);
        findings.extend(problems);
        if let Some(xero) = parts.deployment.as_ref().and_then(|d| d.xero.as_ref()) {
            findings.extend(resolve_xero_parts(xero, &store, &mut others));
        }
        if let Some(talenox) = parts.deployment.as_ref().and_then(|d| d.talenox.as_ref()) {
            findings.extend(resolve_talenox_parts(talenox, &store, &mut others));
        }
        if let Some(gym) = parts.bots.get("gymbooker").and_then(|b| b.gym.as_ref()) {
            findings.extend(resolve_gym_parts(gym, &store, &mut others));
        }
        tokens = resolved;
        secrets_files.extend(store.files());
    }
    findings.extend(scan_plaintext(dir, &tokens, &others, &secrets_files));
    findings.extend(check_templates(dir));
    Ok(tidy(scrub_tokens(findings, &tokens, &others)))
}

/// Loads the templates and renders every one against sample data, checking that Telegram
/// would take the output: every job's with the job's own sample data, once the configuration
/// itself loads cleanly (a job's template can only be rendered once its spec parses; until
/// then the configuration findings say why), and every other one with the samples of
/// [`crate::templates::check_rendered`].
fn check_templates(dir: &Path) -> Vec<Finding> {
    let templates = match crate::templates::Templates::load(&dir.join("templates")) {
        Ok(templates) => templates,
        Err(e) => return vec![Finding::new("templates/", "-", e.to_string())],
    };
    let config = crate::config::load(dir).ok();
    let mut findings = match &config {
        Some(config) => crate::bots::check_jobs(config, &templates),
        None => Vec::new(),
    };
    let job_templates: BTreeSet<String> = config
        .iter()
        .flat_map(|c| c.bots.values())
        .flat_map(|bot| bot.jobs.iter())
        .filter_map(|job| job.template.clone())
        .collect();
    let team = config
        .as_ref()
        .map_or("Team", |c| c.roster.team_name())
        .to_owned();
    // The jobs' sample slot: Monday 23 November 2026, 09:00 in the team's zone.
    let zone = config
        .as_ref()
        .map_or(chrono_tz::UTC, |c| c.roster.timezone());
    let monday = chrono::TimeZone::with_ymd_and_hms(&zone, 2026, 11, 23, 9, 0, 0)
        .single()
        .unwrap_or_else(|| chrono::DateTime::UNIX_EPOCH.with_timezone(&zone));
    let post_sample = crate::jobs::post::context(&team, "sample-post", "general", monday);
    findings.extend(crate::templates::check_rendered(
        &templates,
        &job_templates,
        post_sample,
    ));
    findings
}

fn no_providers() -> DeploymentFile {
    DeploymentFile {
        console: String::new(),
        ..Default::default()
    }
}

/// The process exit code for a check: 0 clean, 1 findings, 2 could not run.
pub fn exit_code(result: &Result<Vec<Finding>, CheckError>) -> i32 {
    match result {
        Ok(findings) if findings.is_empty() => 0,
        Ok(_) => 1,
        Err(_) => 2,
    }
}
