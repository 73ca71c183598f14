//! Secrets by reference. Config files only ever hold a [`SecretRef`] (where a token lives);
//! [`SecretStore`] is the one path that turns a reference into a [`Token`], for every command.
//! Secrets files are refused unless they are private to the running user, the way OpenSSH
//! treats private keys. A token value never appears in `Debug` output or in any error text.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::model::{DeploymentFile, SecretProvider};

/// A bot token. Deliberately has no `Display` and no `Serialize`; `Debug` is redacted.
/// Call [`Token::expose`] only at the point where the token is handed to Telegram.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Token(String);

impl Token {
    pub fn new(secret: String) -> Token {
        Token(secret)
    }

    /// The secret itself. Never log or format the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Where a secret lives, as written in config:
/// `token = { source = "file", provider = "local", id = "/telegram/claudia" }` (`id` is a JSON
/// pointer into the provider's JSON file) or `token = { source = "env", id = "HERALD_CLAUDIA_TOKEN" }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase", deny_unknown_fields)]
pub enum SecretRef {
    File { provider: String, id: String },
    Env { id: String },
}

/// Shows the reference, never a value: `file:local:/telegram/claudia`, `env:HERALD_CLAUDIA_TOKEN`.
impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::File { provider, id } => write!(f, "file:{provider}:{id}"),
            SecretRef::Env { id } => write!(f, "env:{id}"),
        }
    }
}

/// Why a reference could not be resolved. Names the reference and the file, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("{reference}: secret provider `{provider}` is not declared in bots/herald.toml")]
    UnknownProvider { reference: String, provider: String },
    #[error("secret provider `{provider}`: cannot expand `~` in {path}: HOME is not set")]
    NoHome { provider: String, path: String },
    #[error("secret provider `{provider}`: cannot read secrets file {path}: {reason}")]
    Unreadable {
        provider: String,
        path: String,
        reason: String,
    },
    #[error("secret provider `{provider}`: secrets file {path} is not a regular file")]
    NotAFile { provider: String, path: String },
    #[error(
        "secret provider `{provider}`: secrets file {path} is a symlink; point `path` at the real \
         file, or set allow_symlink = true in [secret_providers.{provider}]"
    )]
    Symlink { provider: String, path: String },
    #[error(
        "secret provider `{provider}`: secrets file {path} is owned by uid {owner}, not by the \
         running user (uid {euid}); fix: chown {euid} {path}"
    )]
    Owner {
        provider: String,
        path: String,
        owner: u32,
        euid: u32,
    },
    #[error(
        "secret provider `{provider}`: secrets file {path} is accessible by group or others \
         (mode {mode:03o}); fix: chmod 600 {path}"
    )]
    Permissions {
        provider: String,
        path: String,
        mode: u32,
    },
    #[error(
        "secret provider `{provider}`: secrets file {path} is not valid JSON ({kind} error at \
         line {line}, column {column})"
    )]
    BadJson {
        provider: String,
        path: String,
        kind: &'static str,
        line: usize,
        column: usize,
    },
    #[error("{reference}: secrets file {path} has no value at {pointer}")]
    MissingPointer {
        reference: String,
        path: String,
        pointer: String,
    },
    #[error("{reference}: the value at {pointer} in secrets file {path} is not a string")]
    NotAString {
        reference: String,
        path: String,
        pointer: String,
    },
    #[error("{reference}: the value at {pointer} in secrets file {path} is empty")]
    EmptyValue {
        reference: String,
        path: String,
        pointer: String,
    },
    #[error("{reference}: environment variable {var} is not set")]
    EnvMissing { reference: String, var: String },
    #[error("{reference}: environment variable {var} is empty")]
    EnvEmpty { reference: String, var: String },
    #[error("{reference}: environment variable {var} is not valid UTF-8")]
    EnvNotUnicode { reference: String, var: String },
    #[error(
        "{reference}: the secret in {origin} does not look like a bot token (digits, a colon, \
         then letters, digits, `_` or `-`)"
    )]
    NotAToken { reference: String, origin: String },
}

impl SecretError {
    /// The provider whose whole file is unusable, for errors that concern the file rather than
    /// one reference (so a caller can report them once, against the provider).
    pub fn provider(&self) -> Option<&str> {
        match self {
            SecretError::NoHome { provider, .. }
            | SecretError::Unreadable { provider, .. }
            | SecretError::NotAFile { provider, .. }
            | SecretError::Symlink { provider, .. }
            | SecretError::Owner { provider, .. }
            | SecretError::Permissions { provider, .. }
            | SecretError::BadJson { provider, .. } => Some(provider),
            _ => None,
        }
    }
}

type Cached = (PathBuf, Result<Arc<serde_json::Value>, SecretError>);

/// Resolves [`SecretRef`]s. Each provider's file is opened, checked and parsed once, then cached.
pub struct SecretStore {
    config_dir: PathBuf,
    providers: BTreeMap<String, SecretProvider>,
    override_path: Option<PathBuf>,
    cache: Mutex<HashMap<String, Cached>>,
}

/// Lists providers and paths only: the cache holds secrets.
impl fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretStore")
            .field("config_dir", &self.config_dir)
            .field("providers", &self.providers)
            .field("override_path", &self.override_path)
            .finish_non_exhaustive()
    }
}

impl SecretStore {
    /// `override_path` (the CLI's `--secrets FILE` / `HERALD_SECRETS`) replaces the path of
    /// every file provider; an override is never allowed to be a symlink.
    pub fn new(
        deployment: &DeploymentFile,
        config_dir: &Path,
        override_path: Option<&Path>,
    ) -> SecretStore {
        SecretStore {
            config_dir: config_dir.to_path_buf(),
            providers: deployment.secret_providers.clone(),
            override_path: override_path.map(Path::to_path_buf),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Resolves one reference to its token.
    pub fn resolve(&self, r: &SecretRef) -> Result<Token, SecretError> {
        let reference = r.to_string();
        match r {
            SecretRef::Env { id } => {
                let value = match std::env::var(id) {
                    Ok(v) => v,
                    Err(std::env::VarError::NotPresent) => {
                        return Err(SecretError::EnvMissing {
                            reference,
                            var: id.clone(),
                        })
                    }
                    Err(std::env::VarError::NotUnicode(_)) => {
                        return Err(SecretError::EnvNotUnicode {
                            reference,
                            var: id.clone(),
                        })
                    }
                };
                if value.is_empty() {
                    return Err(SecretError::EnvEmpty {
                        reference,
                        var: id.clone(),
                    });
                }
                check_token_shape(value, reference, format!("environment variable {id}"))
            }
            SecretRef::File { provider, id } => {
                let (path, doc) = self.provider_document(provider, &reference)?;
                let shown = path.display().to_string();
                let value = doc.pointer(id).ok_or_else(|| SecretError::MissingPointer {
                    reference: reference.clone(),
                    path: shown.clone(),
                    pointer: id.clone(),
                })?;
                let Some(value) = value.as_str() else {
                    return Err(SecretError::NotAString {
                        reference,
                        path: shown,
                        pointer: id.clone(),
                    });
                };
                if value.is_empty() {
                    return Err(SecretError::EmptyValue {
                        reference,
                        path: shown,
                        pointer: id.clone(),
                    });
                }
                let origin = format!("secrets file {shown} at {id}");
                check_token_shape(value.to_owned(), reference, origin)
            }
        }
    }

    /// The secrets files this store reads: every file provider's path (after the override),
    /// whether opened yet or not. Paths that cannot be worked out (no `$HOME`) are left out.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self
            .providers
            .keys()
            .filter_map(|name| self.provider_path(name, "").ok())
            .map(|(path, _)| path)
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }

    /// Where provider `name`'s file is, and whether it may be a symlink.
    fn provider_path(&self, name: &str, reference: &str) -> Result<(PathBuf, bool), SecretError> {
        let Some(provider) = self.providers.get(name) else {
            return Err(SecretError::UnknownProvider {
                reference: reference.to_owned(),
                provider: name.to_owned(),
            });
        };
        if let Some(path) = &self.override_path {
            return Ok((path.clone(), false));
        }
        let raw = provider.path.as_str();
        let path = if raw == "~" || raw.starts_with("~/") {
            let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) else {
                return Err(SecretError::NoHome {
                    provider: name.to_owned(),
                    path: raw.to_owned(),
                });
            };
            let rest = raw.trim_start_matches('~').trim_start_matches('/');
            let home = PathBuf::from(home);
            if rest.is_empty() {
                home
            } else {
                home.join(rest)
            }
        } else {
            let p = PathBuf::from(raw);
            if p.is_absolute() {
                p
            } else {
                self.config_dir.join(p)
            }
        };
        Ok((path, provider.allow_symlink))
    }

    fn provider_document(
        &self,
        name: &str,
        reference: &str,
    ) -> Result<(PathBuf, Arc<serde_json::Value>), SecretError> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((path, doc)) = cache.get(name) {
            return doc.clone().map(|d| (path.clone(), d));
        }
        let (path, allow_symlink) = self.provider_path(name, reference)?;
        let doc = read_secrets_file(name, &path, allow_symlink).map(Arc::new);
        cache.insert(name.to_owned(), (path.clone(), doc.clone()));
        doc.map(|d| (path, d))
    }
}

fn check_token_shape(
    value: String,
    reference: String,
    origin: String,
) -> Result<Token, SecretError> {
    let shaped = match value.split_once(':') {
        Some((id, secret)) => {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && !secret.is_empty()
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        }
        None => false,
    };
    if shaped {
        Ok(Token(value))
    } else {
        Err(SecretError::NotAToken { reference, origin })
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

/// Opens, checks and parses one secrets file.
fn read_secrets_file(
    provider: &str,
    path: &Path,
    allow_symlink: bool,
) -> Result<serde_json::Value, SecretError> {
    let shown = path.display().to_string();
    let unreadable = |e: &std::io::Error| SecretError::Unreadable {
        provider: provider.to_owned(),
        path: shown.clone(),
        reason: io_reason(e),
    };
    let link = std::fs::symlink_metadata(path).map_err(|e| unreadable(&e))?;
    if link.file_type().is_symlink() && !allow_symlink {
        return Err(SecretError::Symlink {
            provider: provider.to_owned(),
            path: shown,
        });
    }
    let mut options = OpenOptions::new();
    options.read(true);
    if !allow_symlink {
        // Closes the window between the check above and the open.
        options.custom_flags(libc::O_NOFOLLOW);
    }
    let mut file = options.open(path).map_err(|e| unreadable(&e))?;
    // Checks the file actually opened (the target, when a symlink is allowed).
    let meta = file.metadata().map_err(|e| unreadable(&e))?;
    if !meta.is_file() {
        return Err(SecretError::NotAFile {
            provider: provider.to_owned(),
            path: shown,
        });
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if meta.uid() != euid {
        return Err(SecretError::Owner {
            provider: provider.to_owned(),
            path: shown,
            owner: meta.uid(),
            euid,
        });
    }
    if meta.mode() & 0o077 != 0 {
        return Err(SecretError::Permissions {
            provider: provider.to_owned(),
            path: shown,
            mode: meta.mode() & 0o777,
        });
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| unreadable(&e))?;
    serde_json::from_str(&text).map_err(|e| SecretError::BadJson {
        provider: provider.to_owned(),
        path: shown,
        kind: match e.classify() {
            serde_json::error::Category::Io => "read",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "unexpected end of file",
        },
        line: e.line(),
        column: e.column(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    // 36 characters after the colon: token-shaped for herald's scanner, but not the exact
    // 35-character shape the repository's commit hook looks for.
    const SECRET: &str = "123456789:AAsecretsecretsecretsecretsecret_-xy";

    fn deployment(path: &str, allow_symlink: bool) -> DeploymentFile {
        let mut secret_providers = BTreeMap::new();
        secret_providers.insert(
            "local".to_owned(),
            SecretProvider {
                path: path.to_owned(),
                allow_symlink,
            },
        );
        DeploymentFile {
            console: "lawrence".to_owned(),
            secret_providers,
            audit_retention_days: 90,
            commands_per_minute: 10,
        }
    }

    fn file_ref(id: &str) -> SecretRef {
        SecretRef::File {
            provider: "local".to_owned(),
            id: id.to_owned(),
        }
    }

    fn write_secrets(dir: &Path, mode: u32) -> PathBuf {
        let path = dir.join("secrets.json");
        let doc = serde_json::json!({
            "telegram": { "claudia": SECRET, "empty": "", "number": 5, "bad": "not a token" }
        });
        std::fs::write(&path, doc.to_string()).expect("write secrets");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    fn assert_clean(text: &str) {
        assert!(!text.contains(SECRET), "token leaked: {text}");
        assert!(!text.contains("AAsecret"), "token leaked: {text}");
    }

    #[test]
    fn token_debug_is_redacted() {
        let token = Token::new(SECRET.to_owned());
        let shown = format!("{token:?} {:?} {:#?}", Some(&token), vec![token.clone()]);
        assert_clean(&shown);
        assert!(shown.contains("Token(<redacted>)"));
        assert_eq!(token.expose(), SECRET);
    }

    #[test]
    fn secret_ref_display_shows_the_reference() {
        assert_eq!(
            file_ref("/telegram/claudia").to_string(),
            "file:local:/telegram/claudia"
        );
        let env = SecretRef::Env {
            id: "HERALD_CLAUDIA_TOKEN".to_owned(),
        };
        assert_eq!(env.to_string(), "env:HERALD_CLAUDIA_TOKEN");
    }

    #[test]
    fn secret_ref_parses_from_toml() {
        #[derive(Deserialize)]
        struct W {
            token: SecretRef,
        }
        let w: W = toml::from_str(
            r#"token = { source = "file", provider = "local", id = "/telegram/claudia" }"#,
        )
        .expect("file ref");
        assert_eq!(w.token, file_ref("/telegram/claudia"));
        let w: W = toml::from_str(r#"token = { source = "env", id = "X" }"#).expect("env ref");
        assert_eq!(w.token, SecretRef::Env { id: "X".to_owned() });
        assert!(toml::from_str::<W>(r#"token = { source = "env", id = "X", extra = 1 }"#).is_err());
    }

    #[test]
    fn resolves_from_a_private_file_and_caches_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_secrets(dir.path(), 0o600);
        // Relative paths are relative to the config folder.
        let store = SecretStore::new(&deployment("secrets.json", false), dir.path(), None);
        let token = store
            .resolve(&file_ref("/telegram/claudia"))
            .expect("resolves");
        assert_eq!(token.expose(), SECRET);
        // Cached: a second resolution works even after the file is gone.
        std::fs::remove_file(dir.path().join("secrets.json")).expect("rm");
        assert!(store.resolve(&file_ref("/telegram/claudia")).is_ok());
        assert_eq!(store.files(), vec![dir.path().join("secrets.json")]);
        assert_clean(&format!("{store:?}"));
    }

    #[test]
    fn override_replaces_every_provider_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_secrets(dir.path(), 0o600);
        let store = SecretStore::new(
            &deployment("/nonexistent/secrets.json", false),
            Path::new("/nonexistent"),
            Some(&path),
        );
        assert!(store.resolve(&file_ref("/telegram/claudia")).is_ok());
    }

    #[test]
    fn refuses_group_or_world_readable_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_secrets(dir.path(), 0o640);
        let store = SecretStore::new(&deployment("x", false), dir.path(), Some(&path));
        let err = store
            .resolve(&file_ref("/telegram/claudia"))
            .expect_err("refused");
        let text = err.to_string();
        assert!(matches!(err, SecretError::Permissions { mode: 0o640, .. }));
        assert!(
            text.contains(&format!("chmod 600 {}", path.display())),
            "{text}"
        );
        assert_eq!(err.provider(), Some("local"));
        assert_clean(&text);
    }

    #[test]
    fn refuses_symlinks_unless_allowed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = write_secrets(dir.path(), 0o600);
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let store = SecretStore::new(&deployment("link.json", false), dir.path(), None);
        let err = store
            .resolve(&file_ref("/telegram/claudia"))
            .expect_err("refused");
        assert!(matches!(err, SecretError::Symlink { .. }), "{err}");
        assert!(err.to_string().contains("allow_symlink = true"));

        let store = SecretStore::new(&deployment("link.json", true), dir.path(), None);
        assert!(store.resolve(&file_ref("/telegram/claudia")).is_ok());

        // An allowed symlink still has its target checked.
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let store = SecretStore::new(&deployment("link.json", true), dir.path(), None);
        let err = store
            .resolve(&file_ref("/telegram/claudia"))
            .expect_err("refused");
        assert!(matches!(err, SecretError::Permissions { .. }), "{err}");
    }

    #[test]
    fn bad_values_name_the_reference_not_the_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_secrets(dir.path(), 0o600);
        let store = SecretStore::new(&deployment("x", false), dir.path(), Some(&path));
        for (id, expect) in [
            ("/telegram/nobody", "has no value at /telegram/nobody"),
            ("/telegram/number", "is not a string"),
            ("/telegram/empty", "is empty"),
            ("/telegram/bad", "does not look like a bot token"),
        ] {
            let err = store.resolve(&file_ref(id)).expect_err(id);
            let text = err.to_string();
            assert!(text.starts_with(&format!("file:local:{id}: ")), "{text}");
            assert!(text.contains(expect), "{text}");
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(!text.contains("not a token"), "{text}");
            assert_eq!(err.provider(), None);
        }
        let err = store
            .resolve(&SecretRef::File {
                provider: "vault".to_owned(),
                id: "/x".to_owned(),
            })
            .expect_err("unknown provider");
        assert!(matches!(err, SecretError::UnknownProvider { .. }));
    }

    #[test]
    fn missing_file_and_bad_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SecretStore::new(&deployment("missing.json", false), dir.path(), None);
        let err = store.resolve(&file_ref("/a")).expect_err("missing");
        assert!(err.to_string().contains("no such file"), "{err}");

        let path = dir.path().join("bad.json");
        std::fs::write(&path, format!("{{\"a\": \"{SECRET}\"")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let store = SecretStore::new(&deployment("bad.json", false), dir.path(), None);
        let err = store.resolve(&file_ref("/a")).expect_err("bad json");
        assert!(matches!(err, SecretError::BadJson { .. }), "{err}");
        assert_clean(&err.to_string());
    }

    #[test]
    fn env_refs() {
        let store = SecretStore::new(&deployment("x", false), Path::new("/"), None);
        let var = "HERALD_SECRETS_RS_TEST_TOKEN";
        std::env::set_var(var, SECRET);
        let token = store
            .resolve(&SecretRef::Env { id: var.to_owned() })
            .expect("env");
        assert_eq!(token.expose(), SECRET);
        let err = store
            .resolve(&SecretRef::Env {
                id: "HERALD_SECRETS_RS_TEST_UNSET".to_owned(),
            })
            .expect_err("unset");
        assert_eq!(
            err.to_string(),
            "env:HERALD_SECRETS_RS_TEST_UNSET: environment variable HERALD_SECRETS_RS_TEST_UNSET is not set"
        );
    }

    #[test]
    fn no_error_text_contains_the_token() {
        let errors = vec![
            SecretError::UnknownProvider {
                reference: "file:vault:/a".into(),
                provider: "vault".into(),
            },
            SecretError::NoHome {
                provider: "local".into(),
                path: "~/s.json".into(),
            },
            SecretError::Unreadable {
                provider: "local".into(),
                path: "/p".into(),
                reason: "no such file".into(),
            },
            SecretError::NotAFile {
                provider: "local".into(),
                path: "/p".into(),
            },
            SecretError::Symlink {
                provider: "local".into(),
                path: "/p".into(),
            },
            SecretError::Owner {
                provider: "local".into(),
                path: "/p".into(),
                owner: 0,
                euid: 1000,
            },
            SecretError::Permissions {
                provider: "local".into(),
                path: "/p".into(),
                mode: 0o644,
            },
            SecretError::BadJson {
                provider: "local".into(),
                path: "/p".into(),
                kind: "syntax",
                line: 1,
                column: 3,
            },
            SecretError::MissingPointer {
                reference: "file:local:/a".into(),
                path: "/p".into(),
                pointer: "/a".into(),
            },
            SecretError::NotAString {
                reference: "file:local:/a".into(),
                path: "/p".into(),
                pointer: "/a".into(),
            },
            SecretError::EmptyValue {
                reference: "file:local:/a".into(),
                path: "/p".into(),
                pointer: "/a".into(),
            },
            SecretError::EnvMissing {
                reference: "env:X".into(),
                var: "X".into(),
            },
            SecretError::EnvEmpty {
                reference: "env:X".into(),
                var: "X".into(),
            },
            SecretError::EnvNotUnicode {
                reference: "env:X".into(),
                var: "X".into(),
            },
            SecretError::NotAToken {
                reference: "env:X".into(),
                origin: "environment variable X".into(),
            },
        ];
        for e in errors {
            assert_clean(&e.to_string());
            assert_clean(&format!("{e:?}"));
            assert!(!e.to_string().contains('\n'));
        }
        // And errors produced by real resolution of a file that holds the token.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_secrets(dir.path(), 0o600);
        let store = SecretStore::new(&deployment("x", false), dir.path(), Some(&path));
        for id in ["/telegram", "/telegram/claudia/x", "", "/telegram/bad"] {
            if let Err(e) = store.resolve(&file_ref(id)) {
                assert_clean(&e.to_string());
                assert_clean(&format!("{e:?}"));
            }
        }
    }
}
