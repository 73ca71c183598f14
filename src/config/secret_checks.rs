//! The checks that need the secrets themselves: every reference resolves through the
//! [`SecretStore`] (each identity to its own bot token, the `[xero]` secrets to anything
//! non-empty), no token is written in plain text in the deployment, and no finding ever
//! carries a resolved token.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use super::finding::{scrub, Finding, TOKEN_SHAPE};
use super::model::{bot_file, BotFile, TalenoxFile, XeroFile, DEPLOYMENT_FILE};
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

/// Resolves `[talenox].api_token` (any non-empty value), reported like the `[xero]` secrets.
pub(crate) fn resolve_talenox_parts(talenox: &TalenoxFile, store: &SecretStore) -> Vec<Finding> {
    match store.resolve_secret(&talenox.api_token) {
        Ok(_) => Vec::new(),
        Err(e) => vec![secret_finding(e, DEPLOYMENT_FILE, "talenox.api_token")],
    }
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
