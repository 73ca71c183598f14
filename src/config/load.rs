//! Loading a deployment: reads `bots/herald.toml`, `bots/roster.toml` and one
//! `bots/<identity>.toml` per identity (`parse.rs`), validates each file (`validate.rs`) and
//! the identity files against each other (`cross_checks.rs`), and builds a [`Config`]. Every
//! problem becomes a [`Finding`] (unknown keys included), so `herald run` and `herald check`
//! refuse the same things and report all of them at once. Token resolution is separate
//! ([`resolve_tokens`], through `secret_checks.rs`) so the config can be checked without the
//! secrets.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::cross_checks::check_across_bots;
use super::finding::{tidy, Finding};
use super::model::{bot_file, BotFile, DeploymentFile, RosterFile, DEPLOYMENT_FILE, ROSTER_FILE};
use super::parse::{io_reason, parse_toml, read_text};
use super::secret_checks::{other_secrets, resolve_parts, scan_plaintext, scrub_tokens};
use super::secrets::{SecretStore, Token};
use super::validate::{check_bot, check_deployment, check_gym};
use crate::identity::IDENTITY_NAMES;
use crate::roster::Roster;

/// A validated deployment (tokens not yet resolved).
#[derive(Debug, Clone)]
pub struct Config {
    /// The config folder (`--config DIR`).
    pub dir: PathBuf,
    pub deployment: DeploymentFile,
    pub roster: Roster,
    /// One entry per identity, keyed by its name from `IDENTITY_NAMES`.
    pub bots: BTreeMap<&'static str, BotFile>,
}

impl Config {
    /// The file of identity `name`.
    pub fn bot(&self, name: &str) -> Option<&BotFile> {
        self.bots.get(name)
    }

    /// The console identity's name (validated to be one of `IDENTITY_NAMES`).
    pub fn console(&self) -> &str {
        &self.deployment.console
    }

    /// Whether identity `name` may post in roster thread `thread`.
    pub fn may_post(&self, name: &str, thread: &str) -> bool {
        self.bot(name)
            .is_some_and(|b| b.threads.iter().any(|t| t == thread))
    }
}

/// Why a deployment could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The folder could not be read at all.
    #[error("cannot read config folder {dir}: {reason}")]
    Unreadable { dir: String, reason: String },
    /// The folder was read and something in it is wrong.
    #[error("{}", summary(.0))]
    Findings(Vec<Finding>),
}

fn summary(findings: &[Finding]) -> String {
    let mut text = format!("{} problem(s) in the config:", findings.len());
    for f in findings {
        text.push_str("\n  ");
        text.push_str(&f.to_string());
    }
    text
}

/// Reads and validates a deployment, everything except secret resolution.
pub fn load(dir: &Path) -> Result<Config, ConfigError> {
    let parts = load_parts(dir)?;
    if !parts.findings.is_empty() {
        return Err(ConfigError::Findings(tidy(parts.findings)));
    }
    match (parts.deployment, parts.roster) {
        (Some(deployment), Some(roster)) if parts.bots.len() == IDENTITY_NAMES.len() => {
            Ok(Config {
                dir: dir.to_path_buf(),
                deployment,
                roster,
                bots: parts.bots,
            })
        }
        // Unreachable in practice: every missing part leaves a finding.
        _ => Err(ConfigError::Findings(vec![Finding::new(
            "bots",
            "-",
            "the deployment is incomplete",
        )])),
    }
}

/// Resolves every identity's token through `store`, and audits the config folder for tokens
/// and other referenced secrets (Xero's, Talenox's) written in plain text. Refuses two
/// identities that resolve to the same token.
pub fn resolve_tokens(
    config: &Config,
    store: &SecretStore,
) -> Result<BTreeMap<&'static str, Token>, Vec<Finding>> {
    let (tokens, mut findings) = resolve_parts(&config.bots, store);
    let others = other_secrets(&config.deployment, store);
    findings.extend(scan_plaintext(
        &config.dir,
        &tokens,
        &others,
        &store.files(),
    ));
    let findings = scrub_tokens(findings, &tokens, &others);
    if findings.is_empty() {
        Ok(tokens)
    } else {
        Err(tidy(findings))
    }
}

/// What could be read of a deployment, with every problem found on the way.
pub(crate) struct Parts {
    pub(crate) deployment: Option<DeploymentFile>,
    pub(crate) roster: Option<Roster>,
    pub(crate) bots: BTreeMap<&'static str, BotFile>,
    pub(crate) findings: Vec<Finding>,
}

/// Reads everything that can be read; only an unreadable folder is an error.
pub(crate) fn load_parts(dir: &Path) -> Result<Parts, ConfigError> {
    let unreadable = |reason: String| ConfigError::Unreadable {
        dir: dir.display().to_string(),
        reason,
    };
    let meta = fs::metadata(dir).map_err(|e| unreadable(io_reason(&e)))?;
    if !meta.is_dir() {
        return Err(unreadable("not a folder".into()));
    }
    let bots_dir = dir.join("bots");
    let entries =
        fs::read_dir(&bots_dir).map_err(|e| unreadable(format!("bots/: {}", io_reason(&e))))?;

    let mut findings = Vec::new();

    // Every bots/*.toml must be herald, roster or an identity.
    let mut stems = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| unreadable(format!("bots/: {}", io_reason(&e))))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".toml") {
            stems.push(stem.to_owned());
        }
    }
    stems.sort();
    for stem in &stems {
        if stem != "herald" && stem != "roster" && !IDENTITY_NAMES.contains(&stem.as_str()) {
            findings.push(Finding::new(
                format!("bots/{stem}.toml"),
                "-",
                format!(
                    "unknown file: \"{stem}\" is not an identity ({}), herald or roster",
                    IDENTITY_NAMES.join(", ")
                ),
            ));
        }
    }

    let deployment: Option<DeploymentFile> = match read_text(dir, DEPLOYMENT_FILE, &mut findings) {
        Some(text) => parse_toml(DEPLOYMENT_FILE, &text, &mut findings),
        None => None,
    };
    let roster_file: Option<RosterFile> = match read_text(dir, ROSTER_FILE, &mut findings) {
        Some(text) => parse_toml(ROSTER_FILE, &text, &mut findings),
        None => None,
    };
    let mut bots = BTreeMap::new();
    for &name in IDENTITY_NAMES {
        let file = bot_file(name);
        if !dir.join(&file).exists() {
            findings.push(Finding::new(
                &file,
                "-",
                format!("missing identity file for {name}"),
            ));
            continue;
        }
        if let Some(text) = read_text(dir, &file, &mut findings) {
            if let Some(bot) = parse_toml::<BotFile>(&file, &text, &mut findings) {
                bots.insert(name, bot);
            }
        }
    }

    let roster = match &roster_file {
        Some(file) => match Roster::from_file(file) {
            Ok(roster) => Some(roster),
            Err(problems) => {
                findings.extend(problems);
                None
            }
        },
        None => None,
    };

    if let Some(d) = &deployment {
        check_deployment(d, &mut findings);
    }
    // Thread references are checked against the roster file even when the roster has other
    // problems, so one mistake does not hide another.
    let thread_names: Option<Vec<&str>> = roster_file
        .as_ref()
        .map(|r| r.threads.iter().map(|t| t.name.as_str()).collect());
    for (&name, bot) in &bots {
        check_bot(
            name,
            bot,
            deployment.as_ref(),
            thread_names.as_deref(),
            &mut findings,
        );
    }
    check_across_bots(&bots, &mut findings);
    for (&name, bot) in &bots {
        check_gym(name, bot, roster.as_ref(), &mut findings);
    }

    Ok(Parts {
        deployment,
        roster,
        bots,
        findings,
    })
}
