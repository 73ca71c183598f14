//! Loading a deployment: reads `bots/herald.toml`, `bots/roster.toml` and one
//! `bots/<identity>.toml` per identity, checks them against each other and builds a
//! [`Config`]. Every problem becomes a [`Finding`] (unknown keys included), so `herald run` and
//! `herald check` refuse the same things and report all of them at once. Token resolution is
//! separate ([`resolve_tokens`]) so the config can be checked without the secrets.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::finding::{scrub, tidy, without_values, Finding, TOKEN_SHAPE};
use super::model::{bot_file, DEPLOYMENT_FILE, ROSTER_FILE};
use super::model::{BotFile, DeploymentFile, RosterFile, XeroFile};
use super::secrets::{SecretError, SecretRef, SecretStore, Token};
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
/// written in plain text. Refuses two identities that resolve to the same token.
pub fn resolve_tokens(
    config: &Config,
    store: &SecretStore,
) -> Result<BTreeMap<&'static str, Token>, Vec<Finding>> {
    let (tokens, mut findings) = resolve_parts(&config.bots, store);
    findings.extend(scan_plaintext(&config.dir, &tokens, &store.files()));
    let findings = scrub_tokens(findings, &tokens);
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

    Ok(Parts {
        deployment,
        roster,
        bots,
        findings,
    })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or folder".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

fn read_text(dir: &Path, file: &str, findings: &mut Vec<Finding>) -> Option<String> {
    match fs::read(dir.join(file)) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Some(text),
            Err(_) => {
                findings.push(Finding::new(file, "-", "file is not valid UTF-8"));
                None
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let what = if file == DEPLOYMENT_FILE {
                "missing deployment file (console identity and secret providers)"
            } else if file == ROSTER_FILE {
                "missing roster file"
            } else {
                "missing file"
            };
            findings.push(Finding::new(file, "-", what));
            None
        }
        Err(e) => {
            findings.push(Finding::new(
                file,
                "-",
                format!("cannot read: {}", io_reason(&e)),
            ));
            None
        }
    }
}

/// `line N` for a byte offset into `text`.
fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let end = span.start.min(text.len());
            let line = text.as_bytes()[..end]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            format!("line {line}")
        }
        None => "-".to_owned(),
    }
}

/// Writes a serde_ignored path as `members[2].roles`.
fn dotted(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", dotted(parent)),
        Path::Map { parent, key } => {
            let parent = dotted(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => dotted(parent),
    }
}

/// Parses one TOML file; unknown keys and errors become findings.
fn parse_toml<T: DeserializeOwned>(
    file: &str,
    text: &str,
    findings: &mut Vec<Finding>,
) -> Option<T> {
    let de = match toml::Deserializer::parse(text) {
        Ok(de) => de,
        Err(e) => {
            findings.push(Finding::new(
                file,
                line_of(text, e.span()),
                format!("TOML syntax error: {}", without_values(e.message())),
            ));
            return None;
        }
    };
    let mut unknown = Vec::new();
    let parsed = serde_ignored::deserialize(de, |path| unknown.push(dotted(&path)));
    for key in unknown {
        findings.push(Finding::new(file, key, "unknown key"));
    }
    match parsed {
        Ok(value) => Some(value),
        Err(e) => {
            findings.push(Finding::new(
                file,
                line_of(text, e.span()),
                without_values(e.message()),
            ));
            None
        }
    }
}

fn check_deployment(d: &DeploymentFile, findings: &mut Vec<Finding>) {
    if !IDENTITY_NAMES.contains(&d.console.as_str()) {
        findings.push(Finding::new(
            DEPLOYMENT_FILE,
            "console",
            format!(
                "unknown console identity \"{}\"; expected one of {}",
                d.console,
                IDENTITY_NAMES.join(", ")
            ),
        ));
    }
    if d.commands_per_minute == 0 {
        findings.push(Finding::new(
            DEPLOYMENT_FILE,
            "commands_per_minute",
            "must be at least 1 (it limits each member's commands per bot and minute)",
        ));
    }
    for (name, provider) in &d.secret_providers {
        if provider.path.trim().is_empty() {
            findings.push(Finding::new(
                DEPLOYMENT_FILE,
                format!("secret_providers.{name}.path"),
                "path is empty",
            ));
        }
    }
    if let Some(xero) = &d.xero {
        check_xero(d, xero, findings);
    }
}

/// Shape problems of one secret reference at `field`, as (field, problem) pairs: an
/// undeclared provider (when the deployment file is known), a pointer that does not start with
/// `/` (`example` shows one), or an environment variable name that is not one.
fn secret_ref_problems(
    field: &str,
    r: &SecretRef,
    deployment: Option<&DeploymentFile>,
    example: &str,
) -> Vec<(String, String)> {
    let mut found = Vec::new();
    match r {
        SecretRef::File { provider, id } => {
            if let Some(d) = deployment {
                if !d.secret_providers.contains_key(provider) {
                    found.push((format!("{field}.provider"), undeclared_provider(provider)));
                }
            }
            if !id.starts_with('/') {
                found.push((
                    format!("{field}.id"),
                    format!("\"{id}\" is not a JSON pointer into the secrets file (it starts with /, e.g. {example})"),
                ));
            }
        }
        SecretRef::Env { id } => {
            let mut bytes = id.bytes();
            let ok = matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
                && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                found.push((
                    format!("{field}.id"),
                    format!("\"{id}\" is not an environment variable name (letters, digits and _)"),
                ));
            }
        }
    }
    found
}

/// `[xero]` in `bots/herald.toml`: secret references, the tenant id, the URLs.
fn check_xero(d: &DeploymentFile, xero: &XeroFile, findings: &mut Vec<Finding>) {
    let mut problem =
        |field: String, text: String| findings.push(Finding::new(DEPLOYMENT_FILE, field, text));
    for (key, r) in [
        ("client_id", &xero.client_id),
        ("client_secret", &xero.client_secret),
        ("refresh_token", &xero.refresh_token),
    ] {
        for (field, text) in
            secret_ref_problems(&format!("xero.{key}"), r, Some(d), &format!("/xero/{key}"))
        {
            problem(field, text);
        }
    }
    if let SecretRef::Env { .. } = xero.refresh_token {
        problem(
            "xero.refresh_token".into(),
            "must be a file secret (source = \"file\"): Xero rotates the refresh token on every \
             use and herald writes the new one back, which it cannot do to an environment variable"
                .into(),
        );
    }
    if !is_guid(&xero.tenant_id) {
        problem(
            "xero.tenant_id".into(),
            format!(
                "\"{}\" is not a Xero tenant id (a GUID like 70784a63-d24b-46a9-a4db-0e70a274b056; \
                 `herald xero connect` lists the connected tenants)",
                xero.tenant_id
            ),
        );
    }
    for (key, value) in [
        ("api_url", &xero.api_url),
        ("identity_url", &xero.identity_url),
        ("connections_url", &xero.connections_url),
    ] {
        if let Some(text) = url_problem(value) {
            problem(format!("xero.{key}"), text);
        }
    }
    if !(1..=300).contains(&xero.timeout_seconds) {
        problem(
            "xero.timeout_seconds".into(),
            "must be 1 to 300 seconds".into(),
        );
    }
}

/// `8-4-4-4-12` hexadecimal digits.
pub(crate) fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Why `value` is not usable as a Xero URL: https, or http to this machine only (a fake Xero
/// in tests; credentials never travel in clear text over a network).
fn url_problem(value: &str) -> Option<String> {
    let Ok(url) = url::Url::parse(value) else {
        return Some(format!("\"{value}\" is not a URL"));
    };
    let local = match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => None,
        "http" if local => None,
        _ => Some(format!(
            "\"{value}\" must be an https URL (plain http only to localhost)"
        )),
    }
}

fn valid_username(name: &str) -> bool {
    let mut bytes = name.bytes();
    (5..=32).contains(&name.len())
        && matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.to_ascii_lowercase().ends_with("bot")
}

fn valid_command(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn unknown_thread(thread: &str) -> String {
    format!("unknown thread \"{thread}\"; bots/roster.toml has no such thread")
}

/// The text of an undeclared provider, shared by the shape check and resolution so the two
/// findings coincide.
fn undeclared_provider(provider: &str) -> String {
    format!("secret provider \"{provider}\" is not declared in bots/herald.toml [secret_providers]")
}

fn check_bot(
    name: &str,
    bot: &BotFile,
    deployment: Option<&DeploymentFile>,
    threads: Option<&[&str]>,
    findings: &mut Vec<Finding>,
) {
    let file = bot_file(name);
    let mut problem = |field: String, text: String| findings.push(Finding::new(&file, field, text));

    let username = bot.username.trim();
    if username.is_empty() {
        problem("username".into(), "username is empty".into());
    } else if username.starts_with('@') {
        problem(
            "username".into(),
            format!(
                "write the username without the @: \"{}\"",
                username.trim_start_matches('@')
            ),
        );
    } else if !valid_username(&bot.username) {
        problem(
            "username".into(),
            format!(
                "\"{}\" is not a Telegram bot username (5-32 letters, digits or _, ending in \"bot\")",
                bot.username
            ),
        );
    }

    for (field, text) in secret_ref_problems(
        "token",
        &bot.token,
        deployment,
        &format!("/telegram/{name}"),
    ) {
        problem(field, text);
    }

    let mut listed: HashMap<&str, usize> = HashMap::new();
    for (i, thread) in bot.threads.iter().enumerate() {
        if threads.is_some_and(|known| !known.contains(&thread.as_str())) {
            problem(format!("threads[{i}]"), unknown_thread(thread));
        }
        if let Some(&j) = listed.get(thread.as_str()) {
            problem(
                format!("threads[{i}]"),
                format!("thread \"{thread}\" is listed twice (also threads[{j}])"),
            );
        } else {
            listed.insert(thread, i);
        }
    }

    let mut commands: HashMap<&str, usize> = HashMap::new();
    for (i, command) in bot.commands.iter().enumerate() {
        if !valid_command(&command.name) {
            problem(
                format!("commands[{i}].name"),
                format!(
                    "command name \"{}\" must be 1-32 characters of a-z, 0-9 and _ (no slash)",
                    command.name
                ),
            );
        }
        if let Some(&j) = commands.get(command.name.as_str()) {
            problem(
                format!("commands[{i}].name"),
                format!(
                    "duplicate command \"{}\" (also commands[{j}])",
                    command.name
                ),
            );
        } else {
            commands.insert(&command.name, i);
        }
        let length = command.description.chars().count();
        if !(1..=256).contains(&length) {
            problem(
                format!("commands[{i}].description"),
                format!("description must be 1-256 characters (it has {length})"),
            );
        }
        for (k, thread) in command.threads.iter().enumerate() {
            if threads.is_some_and(|known| !known.contains(&thread.as_str())) {
                problem(
                    format!("commands[{i}].threads[{k}]"),
                    unknown_thread(thread),
                );
            } else if !bot.threads.contains(thread) {
                problem(
                    format!("commands[{i}].threads[{k}]"),
                    format!("thread \"{thread}\" is not in this bot's threads"),
                );
            }
        }
    }

    if let Some(volts) = &bot.volts {
        if name != "clawrence" {
            problem(
                "volts".into(),
                "only clawrence answers /volts; move [volts] to bots/clawrence.toml".into(),
            );
        }
        if volts.max_per_grant == 0 {
            problem("volts.max_per_grant".into(), "must be at least 1".into());
        }
        if volts.daily_budget < volts.max_per_grant {
            problem(
                "volts.daily_budget".into(),
                format!(
                    "must be at least max_per_grant ({}), or no grant could ever be made in full",
                    volts.max_per_grant
                ),
            );
        }
    }

    if let Some(approvals) = &bot.approvals {
        if name != "claudia" {
            problem(
                "approvals".into(),
                "only claudia posts approval cards; move [approvals] to bots/claudia.toml".into(),
            );
        }
        if !bot.threads.contains(&approvals.thread) {
            problem(
                "approvals.thread".into(),
                format!(
                    "{name} may not post in \"{}\": add it to this file's threads",
                    approvals.thread
                ),
            );
        }
        if deployment.is_some_and(|d| d.xero.is_none()) {
            problem(
                "approvals".into(),
                "approval cards read Xero: add [xero] to bots/herald.toml (see Connecting Xero in the README)".into(),
            );
        }
        if approvals.poll_minutes == 0 || approvals.expire_days == 0 {
            problem(
                "approvals".into(),
                "poll_minutes and expire_days must be at least 1".into(),
            );
        }
    }

    for (i, job) in bot.jobs.iter().enumerate() {
        let field = |name: &str| format!("jobs[{i}].{name}");
        if job.name.is_empty()
            || !job
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            problem(
                field("name"),
                format!(
                    "job name \"{}\" must be lower-case letters, digits, - and _",
                    job.name
                ),
            );
        }
        if let Err(e) = job.cron.parse::<crate::schedule::cron::CronSchedule>() {
            problem(field("cron"), format!("\"{}\": {e}", job.cron));
        }
        if job.timezone.parse::<chrono_tz::Tz>().is_err() {
            problem(
                field("timezone"),
                format!(
                    "\"{}\" is not an IANA time zone name (like Asia/Singapore or Europe/London)",
                    job.timezone
                ),
            );
        }
        if threads.is_some_and(|known| !known.contains(&job.thread.as_str())) {
            problem(field("thread"), unknown_thread(&job.thread));
        } else if !bot.threads.contains(&job.thread) {
            problem(
                field("thread"),
                format!(
                    "{name} may not post in \"{}\": add it to this file's threads, or pick one of: {}",
                    job.thread,
                    bot.threads.join(", ")
                ),
            );
        }
        if !(1..=240).contains(&job.timeout_seconds) {
            problem(
                field("timeout_seconds"),
                "must be 1 to 240: a run still going five minutes after its time is reported as absent".into(),
            );
        }
        if job.max_messages == 0 {
            problem(field("max_messages"), "must be at least 1".into());
        }
        if job.kind == "ar_brief" && deployment.is_some_and(|d| d.xero.is_none()) {
            problem(
                field("kind"),
                "the AR brief reads Xero: add [xero] to bots/herald.toml (see Connecting Xero in the README)".into(),
            );
        }
        if job.clean_sweep.is_some() && job.kind != "laser_chase" {
            problem(
                field("clean_sweep"),
                format!(
                    "only jobs of kind laser_chase take clean_sweep (this one is {})",
                    job.kind
                ),
            );
        }
        if job.top.is_some() && job.kind != "volts_leaderboard" {
            problem(
                field("top"),
                format!(
                    "only jobs of kind volts_leaderboard take top (this one is {})",
                    job.kind
                ),
            );
        }
        if job.top == Some(0) {
            problem(field("top"), "must be at least 1".into());
        }
        if job.kind == "post" && job.template.is_none() {
            problem(
                field("template"),
                "a job of kind post needs a template (a file in templates/)".into(),
            );
        }
    }
}

/// Usernames and secret references must differ between identities.
fn check_across_bots(bots: &BTreeMap<&'static str, BotFile>, findings: &mut Vec<Finding>) {
    let mut job_names: HashMap<&str, String> = HashMap::new();
    for &name in IDENTITY_NAMES {
        let Some(bot) = bots.get(name) else { continue };
        for (i, job) in bot.jobs.iter().enumerate() {
            let here = format!("{}: jobs[{i}]", bot_file(name));
            if let Some(other) = job_names.get(job.name.as_str()) {
                findings.push(Finding::new(
                    bot_file(name),
                    format!("jobs[{i}].name"),
                    format!(
                        "job name \"{}\" is also used at {other}; job names are unique across the deployment",
                        job.name
                    ),
                ));
            } else {
                job_names.insert(&job.name, here);
            }
        }
    }
    let mut usernames: HashMap<String, &str> = HashMap::new();
    let mut refs: HashMap<&SecretRef, &str> = HashMap::new();
    for &name in IDENTITY_NAMES {
        let Some(bot) = bots.get(name) else { continue };
        let username = bot.username.trim().trim_start_matches('@').to_lowercase();
        if !username.is_empty() {
            if let Some(other) = usernames.get(&username) {
                findings.push(Finding::new(
                    bot_file(name),
                    "username",
                    format!(
                        "username \"{}\" is also used by {other}; each identity is its own bot",
                        bot.username
                    ),
                ));
            } else {
                usernames.insert(username, name);
            }
        }
        if let Some(other) = refs.get(&bot.token) {
            findings.push(Finding::new(
                bot_file(name),
                "token",
                format!(
                    "{name} uses the same secret reference as {other} ({}); each identity needs its own token",
                    bot.token
                ),
            ));
        } else {
            refs.insert(&bot.token, name);
        }
    }
}

/// Resolves each bot's token; duplicates between identities and unresolvable references
/// become findings. Problems with a whole secrets file are reported once, against its provider.
pub(crate) fn resolve_parts(
    bots: &BTreeMap<&'static str, BotFile>,
    store: &SecretStore,
) -> (BTreeMap<&'static str, Token>, Vec<Finding>) {
    let mut tokens = BTreeMap::new();
    let mut findings = Vec::new();
    let mut seen: HashMap<Token, &'static str> = HashMap::new();
    for &name in IDENTITY_NAMES {
        let Some(bot) = bots.get(name) else { continue };
        match store.resolve(&bot.token) {
            Ok(token) => {
                if let Some(&other) = seen.get(&token) {
                    // Identical references are reported by the load checks already.
                    if bots.get(other).map(|b| &b.token) != Some(&bot.token) {
                        findings.push(Finding::new(
                            bot_file(name),
                            "token",
                            format!(
                                "{name} and {other} resolve to the same token ({} and {}); each identity needs its own bot",
                                bot.token,
                                bots.get(other).map(|b| b.token.to_string()).unwrap_or_default()
                            ),
                        ));
                    }
                } else {
                    seen.insert(token.clone(), name);
                }
                tokens.insert(name, token);
            }
            Err(e) => findings.push(secret_finding(e, &bot_file(name), "token")),
        }
    }
    (tokens, findings)
}

/// The finding for a secret reference at `file`: `field` that did not resolve. An undeclared
/// provider is reported on `field.provider`; a problem with a whole secrets file against the
/// provider in `bots/herald.toml` (once, however many references use it).
fn secret_finding(e: SecretError, file: &str, field: &str) -> Finding {
    match (&e, e.provider()) {
        (SecretError::UnknownProvider { provider, .. }, _) => Finding::new(
            file,
            format!("{field}.provider"),
            undeclared_provider(provider),
        ),
        (_, Some(provider)) => {
            // The field already names the provider.
            let text = e.to_string();
            let prefix = format!("secret provider `{provider}`: ");
            Finding::new(
                DEPLOYMENT_FILE,
                format!("secret_providers.{provider}"),
                text.strip_prefix(&prefix).unwrap_or(&text),
            )
        }
        (_, None) => Finding::new(file, field, e.to_string()),
    }
}

/// Resolves the `[xero]` secrets (any non-empty value; they are not bot tokens). Problems with
/// a whole secrets file are reported against its provider, as for bot tokens.
pub(crate) fn resolve_xero_parts(xero: &XeroFile, store: &SecretStore) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (key, r) in [
        ("client_id", &xero.client_id),
        ("client_secret", &xero.client_secret),
        ("refresh_token", &xero.refresh_token),
    ] {
        if let Err(e) = store.resolve_secret(r) {
            findings.push(secret_finding(e, DEPLOYMENT_FILE, &format!("xero.{key}")));
        }
    }
    findings
}

/// Files larger than this are not config and are not scanned.
const SCAN_LIMIT: u64 = 16 * 1024 * 1024;

/// Looks for bot tokens written in plain text in the deployment: the config folder's own
/// files and everything under its `bots/` and `templates/` (other folders beside them, such
/// as `state/` or, in this repository, `src/`, are not deployment content). Anything with a
/// token's shape counts, and any of the resolved `tokens` verbatim. Skips `.git`, cache
/// folders (marked by `CACHEDIR.TAG`, like cargo's `target/`) and the secrets files.
pub(crate) fn scan_plaintext(
    dir: &Path,
    tokens: &BTreeMap<&'static str, Token>,
    secrets_files: &[PathBuf],
) -> Vec<Finding> {
    let skip: Vec<PathBuf> = secrets_files
        .iter()
        .filter_map(|p| fs::canonicalize(p).ok())
        .collect();
    let mut findings = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let Ok(link) = fs::symlink_metadata(&path) else {
                continue;
            };
            if link.is_dir() {
                let deployment_content = folder != dir
                    || entry.file_name() == "bots"
                    || entry.file_name() == "templates";
                if deployment_content
                    && entry.file_name() != ".git"
                    && !path.join("CACHEDIR.TAG").exists()
                {
                    stack.push(path);
                }
                continue;
            }
            // Follows a symlinked file (never a symlinked folder).
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() || meta.len() > SCAN_LIMIT {
                continue;
            }
            if fs::canonicalize(&path).is_ok_and(|c| skip.contains(&c)) {
                continue;
            }
            let Ok(bytes) = fs::read(&path) else { continue };
            let text = String::from_utf8_lossy(&bytes);
            let rel = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            for (n, line) in text.lines().enumerate() {
                let owner = tokens
                    .iter()
                    .find(|(_, t)| line.contains(t.expose()))
                    .map(|(name, _)| *name);
                let problem = match owner {
                    Some(name) => format!(
                        "the bot token of {name} is written here in plain text; keep it only in \
                         the secrets file and refer to it with token = {{ source = ... }}"
                    ),
                    None if TOKEN_SHAPE.is_match(line) => {
                        "what looks like a Telegram bot token is written here in plain text; keep \
                         tokens only in the secrets file and refer to them with \
                         token = { source = ... }"
                            .to_owned()
                    }
                    None => continue,
                };
                findings.push(Finding::new(&rel, format!("line {}", n + 1), problem));
            }
        }
    }
    findings
}

/// Belt and braces: no finding may carry a resolved token, whatever produced it.
pub(crate) fn scrub_tokens(
    findings: Vec<Finding>,
    tokens: &BTreeMap<&'static str, Token>,
) -> Vec<Finding> {
    findings
        .into_iter()
        .map(|mut f| {
            for token in tokens.values() {
                if !token.expose().is_empty() {
                    f.field = f.field.replace(token.expose(), "<redacted>");
                    f.problem = f.problem.replace(token.expose(), "<redacted>");
                }
            }
            f.problem = scrub(&f.problem);
            f
        })
        .collect()
}
