//! The checks that need the secrets themselves: every reference resolves through the
//! [`SecretStore`] (each identity to its own bot token, the `[xero]` secrets to anything
//! non-empty), no token is written in plain text in the deployment, and no finding ever
//! carries a resolved token.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use super::finding::{scrub, Finding, TOKEN_SHAPE};
use super::model::{bot_file, BotFile, DeploymentFile, TalenoxFile, XeroFile, DEPLOYMENT_FILE};
use super::secrets::{SecretError, SecretStore, Token};
use super::validate::undeclared_provider;
use crate::identity::IDENTITY_NAMES;

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

/// Secrets other than bot tokens (Xero's, Talenox's), resolved, with the field that names them
/// (`xero.client_secret`): the plain-text scan looks for them too.
pub(crate) type OtherSecrets = Vec<(String, Token)>;

/// Secrets shorter than this are not looked for in plain text (they would match by chance).
const SHORTEST_SCANNED: usize = 8;

/// Resolves the `[xero]` secrets (any non-empty value; they are not bot tokens) into `found`.
/// Problems with a whole secrets file are reported against its provider, as for bot tokens.
pub(crate) fn resolve_xero_parts(
    xero: &XeroFile,
    store: &SecretStore,
    found: &mut OtherSecrets,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (key, r) in [
        ("client_id", &xero.client_id),
        ("client_secret", &xero.client_secret),
        ("refresh_token", &xero.refresh_token),
    ] {
        match store.resolve_secret(r) {
            Ok(secret) => found.push((format!("xero.{key}"), secret)),
            Err(e) => findings.push(secret_finding(e, DEPLOYMENT_FILE, &format!("xero.{key}"))),
        }
    }
    findings
}

/// Resolves `[talenox].api_token` (any non-empty value) into `found`, reported like the
/// `[xero]` secrets.
pub(crate) fn resolve_talenox_parts(
    talenox: &TalenoxFile,
    store: &SecretStore,
    found: &mut OtherSecrets,
) -> Vec<Finding> {
    match store.resolve_secret(&talenox.api_token) {
        Ok(secret) => {
            found.push(("talenox.api_token".to_owned(), secret));
            Vec::new()
        }
        Err(e) => vec![secret_finding(e, DEPLOYMENT_FILE, "talenox.api_token")],
    }
}

/// Resolves `[gym]`'s `api_key` and `password` (in `bots/gymbooker.toml`) into `found`,
/// reported like the `[xero]` secrets.
pub(crate) fn resolve_gym_parts(
    gym: &super::model::GymFile,
    store: &SecretStore,
    found: &mut OtherSecrets,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (key, r) in [("api_key", &gym.api_key), ("password", &gym.password)] {
        match store.resolve_secret(r) {
            Ok(secret) => found.push((format!("gym.{key}"), secret)),
            Err(e) => findings.push(secret_finding(
                e,
                &super::model::bot_file("gymbooker"),
                &format!("gym.{key}"),
            )),
        }
    }
    findings
}

/// Every secret besides the bot tokens that `deployment` references and `store` resolves
/// (problems left to the clients that use them, which name them).
pub(crate) fn other_secrets(deployment: &DeploymentFile, store: &SecretStore) -> OtherSecrets {
    let mut found = OtherSecrets::new();
    if let Some(xero) = &deployment.xero {
        resolve_xero_parts(xero, store, &mut found);
    }
    if let Some(talenox) = &deployment.talenox {
        resolve_talenox_parts(talenox, store, &mut found);
    }
    found
}

/// Files larger than this are not config and are not scanned.
const SCAN_LIMIT: u64 = 16 * 1024 * 1024;

/// Looks for secrets written in plain text in the deployment: the config folder's own
/// files and everything under its `bots/` and `templates/` (other folders beside them, such
/// as `state/` or, in this repository, `src/`, are not deployment content). Anything with a
/// bot token's shape counts, and any of the resolved `tokens` and `others` (Xero's,
/// Talenox's) verbatim. Skips `.git`, cache folders (marked by `CACHEDIR.TAG`, like cargo's
/// `target/`) and the secrets files.
pub(crate) fn scan_plaintext(
    dir: &Path,
    tokens: &BTreeMap<&'static str, Token>,
    others: &[(String, Token)],
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
                let other = others
                    .iter()
                    .filter(|(_, s)| s.expose().len() >= SHORTEST_SCANNED)
                    .find(|(_, s)| line.contains(s.expose()))
                    .map(|(field, _)| field.as_str());
                let problem = match (owner, other) {
                    (Some(name), _) => format!(
                        "the bot token of {name} is written here in plain text; keep it only in \
                         the secrets file and refer to it with token = {{ source = ... }}"
                    ),
                    (None, Some(field)) => format!(
                        "the secret of {field} is written here in plain text; keep it only in \
                         the secrets file and refer to it with {{ source = ... }}"
                    ),
                    (None, None) if TOKEN_SHAPE.is_match(line) => {
                        "what looks like a Telegram bot token is written here in plain text; keep \
                         tokens only in the secrets file and refer to them with \
                         token = { source = ... }"
                            .to_owned()
                    }
                    (None, None) => continue,
                };
                findings.push(Finding::new(&rel, format!("line {}", n + 1), problem));
            }
        }
    }
    findings
}

/// Belt and braces: no finding may carry a resolved token or other secret, whatever produced
/// it.
pub(crate) fn scrub_tokens(
    findings: Vec<Finding>,
    tokens: &BTreeMap<&'static str, Token>,
    others: &[(String, Token)],
) -> Vec<Finding> {
    findings
        .into_iter()
        .map(|mut f| {
            for token in tokens.values().chain(others.iter().map(|(_, s)| s)) {
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
