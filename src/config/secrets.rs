//! Secrets by reference. Config files only ever hold a [`SecretRef`] (where a token lives);
//! [`SecretStore`] is the one path that turns a reference into a [`Token`], for every command.
//! Secrets files are refused unless they are private to the running user, the way OpenSSH
//! treats private keys. A token value never appears in `Debug` output or in any error text.
//!
//! Most secrets are only read; a few rotate (Xero's OAuth2 refresh token changes on every use)
//! and are written back with [`SecretStore::store`]: atomically (temp file, fsync, rename,
//! fsync of the folder), so a crash leaves either the old file or the new one, never half.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::model::{DeploymentFile, SecretProvider};
pub use super::secret_ref::SecretRef;

/// A secret value: a bot token, or another credential (an OAuth2 client secret or refresh
/// token). Deliberately has no `Display` and no `Serialize`; `Debug` is redacted.
/// Call [`Token::expose`] only at the point where the secret is handed to its service.
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
    #[error(
        "{reference}: environment variable {var} cannot be written durably; keep a secret herald \
         must update (such as a rotating refresh token) in a secrets file (source = \"file\")"
    )]
    EnvNotWritable { reference: String, var: String },
    #[error(
        "{reference}: cannot set {pointer} in secrets file {path}: a value on the way is not a \
         JSON object"
    )]
    NotSettable {
        reference: String,
        path: String,
        pointer: String,
    },
    #[error("{reference}: refusing to store an empty value at {pointer}")]
    EmptyNewValue { reference: String, pointer: String },
    #[error("secret provider `{provider}`: cannot write secrets file {path}: {reason}")]
    Unwritable {
        provider: String,
        path: String,
        reason: String,
    },
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
            | SecretError::BadJson { provider, .. }
            | SecretError::Unwritable { provider, .. } => Some(provider),
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
    /// Serialises read-modify-write cycles of [`SecretStore::store`] within this process.
    writing: Mutex<()>,
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
            writing: Mutex::new(()),
        }
    }

    /// Resolves one reference to a Telegram bot token (refused unless it has a bot token's shape).
    pub fn resolve(&self, r: &SecretRef) -> Result<Token, SecretError> {
        let (value, origin) = self.lookup(r)?;
        check_token_shape(value, r.to_string(), origin)
    }

    /// Resolves one reference to any non-empty secret (an OAuth2 client id or secret, a refresh
    /// token): the same path as [`SecretStore::resolve`], without the bot-token shape check.
    pub fn resolve_secret(&self, r: &SecretRef) -> Result<Token, SecretError> {
        self.lookup(r).map(|(value, _)| Token(value))
    }

    /// The value a reference points at, and where it was found (for error text).
    fn lookup(&self, r: &SecretRef) -> Result<(String, String), SecretError> {
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
                Ok((value, format!("environment variable {id}")))
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
                Ok((value.to_owned(), format!("secrets file {shown} at {id}")))
            }
        }
    }

    /// Writes `value` at a `source = "file"` reference, durably: the secrets file is read
    /// afresh with the same ownership and permission checks as [`SecretStore::resolve`], the
    /// JSON pointer is set (missing objects on the way are created), the whole document goes
    /// to a temporary file (mode 600) in the same folder, which is fsynced and renamed over the
    /// original, then the folder is fsynced. A crash leaves the old file or the new one.
    /// The cache is updated, so later resolutions see the new value.
    ///
    /// `source = "env"` references are refused: an environment variable cannot be updated for
    /// the next start. Writes within one process are serialised; two processes writing the
    /// same file at once are not coordinated (the last rename wins).
    pub fn store(&self, r: &SecretRef, value: &Token) -> Result<(), SecretError> {
        let reference = r.to_string();
        let (provider, pointer) = match r {
            SecretRef::Env { id } => {
                return Err(SecretError::EnvNotWritable {
                    reference,
                    var: id.clone(),
                })
            }
            SecretRef::File { provider, id } => (provider, id),
        };
        if value.expose().is_empty() {
            return Err(SecretError::EmptyNewValue {
                reference,
                pointer: pointer.clone(),
            });
        }
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let (path, allow_symlink) = self.provider_path(provider, &reference)?;
        let shown = path.display().to_string();
        let mut doc = read_secrets_file(provider, &path, allow_symlink)?;
        if !set_pointer(
            &mut doc,
            pointer,
            serde_json::Value::String(value.expose().to_owned()),
        ) {
            return Err(SecretError::NotSettable {
                reference,
                path: shown,
                pointer: pointer.clone(),
            });
        }
        let unwritable = |reason: String| SecretError::Unwritable {
            provider: provider.clone(),
            path: shown.clone(),
            reason,
        };
        // An allowed symlink stays a symlink: the file it points at is replaced.
        let target = if allow_symlink {
            std::fs::canonicalize(&path).map_err(|e| unwritable(io_reason(&e)))?
        } else {
            path.clone()
        };
        let mut text = serde_json::to_string_pretty(&doc)
            .map_err(|e| unwritable(format!("cannot encode the document: {e}")))?;
        text.push('\n');
        write_atomically(&target, text.as_bytes()).map_err(unwritable)?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(provider.clone(), (path, Ok(Arc::new(doc))));
        Ok(())
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

/// Sets the value at JSON pointer `pointer` (RFC 6901), creating missing objects on the way.
/// False when the pointer is the root or passes through something that is not an object.
fn set_pointer(doc: &mut serde_json::Value, pointer: &str, value: serde_json::Value) -> bool {
    let Some(rest) = pointer.strip_prefix('/') else {
        return false;
    };
    let keys: Vec<String> = rest
        .split('/')
        .map(|k| k.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((last, parents)) = keys.split_last() else {
        return false;
    };
    let mut current = doc;
    for key in parents {
        let Some(object) = current.as_object_mut() else {
            return false;
        };
        current = object
            .entry(key.clone())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
    }
    match current.as_object_mut() {
        Some(object) => {
            object.insert(last.clone(), value);
            true
        }
        None => false,
    }
}

/// Replaces `target` with `bytes`, durably ([`crate::durable::replace_file`], mode 600). The
/// reason on failure.
fn write_atomically(target: &Path, bytes: &[u8]) -> Result<(), String> {
    crate::durable::replace_file(target, 0o600, |file| file.write_all(bytes))
        .map_err(|e| format!("cannot {}: {}", e.step, io_reason(&e.source)))
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
            secret_providers,
            ..Default::default()
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

    const REFRESH: &str = "rt-0123456789abcdef-secret";

    #[test]
    fn resolve_secret_takes_any_non_empty_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_secrets(dir.path(), 0o600);
        let store = SecretStore::new(&deployment("x", false), dir.path(), Some(&path));
        // Not a bot token: refused by resolve, fine for resolve_secret.
        let bad = file_ref("/telegram/bad");
        assert!(matches!(
            store.resolve(&bad),
            Err(SecretError::NotAToken { .. })
        ));
        assert_eq!(
            store.resolve_secret(&bad).expect("any secret").expose(),
            "not a token"
        );
        // The same checks otherwise.
        assert!(matches!(
            store.resolve_secret(&file_ref("/telegram/empty")),
            Err(SecretError::EmptyValue { .. })
        ));
        assert!(matches!(
            store.resolve_secret(&file_ref("/telegram/number")),
            Err(SecretError::NotAString { .. })
        ));
        let var = "HERALD_SECRETS_RS_TEST_ANY";
        std::env::set_var(var, "client-secret value");
        let any = store
            .resolve_secret(&SecretRef::Env { id: var.to_owned() })
            .expect("env");
        assert_eq!(any.expose(), "client-secret value");
    }

    #[test]
    fn store_writes_atomically_with_mode_600_and_updates_the_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_secrets(dir.path(), 0o600);
        let store = SecretStore::new(&deployment("secrets.json", false), dir.path(), None);
        // Resolve first, so the cache holds the old document.
        assert!(store.resolve(&file_ref("/telegram/claudia")).is_ok());
        let reference = file_ref("/xero/refresh_token");
        store
            .store(&reference, &Token::new(REFRESH.to_owned()))
            .expect("stored");

        let meta = std::fs::metadata(&path).expect("stat");
        assert_eq!(meta.mode() & 0o777, 0o600);
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        assert_eq!(
            doc.pointer("/xero/refresh_token").and_then(|v| v.as_str()),
            Some(REFRESH)
        );
        // Everything else is kept.
        assert_eq!(
            doc.pointer("/telegram/claudia").and_then(|v| v.as_str()),
            Some(SECRET)
        );
        assert_eq!(
            doc.pointer("/telegram/number").and_then(|v| v.as_i64()),
            Some(5)
        );
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["secrets.json".to_owned()]);
        // The cache sees the new value, and a fresh store reads it from disk.
        assert_eq!(
            store.resolve_secret(&reference).expect("cached").expose(),
            REFRESH
        );
        let fresh = SecretStore::new(&deployment("secrets.json", false), dir.path(), None);
        assert_eq!(
            fresh.resolve_secret(&reference).expect("disk").expose(),
            REFRESH
        );

        // Overwriting an existing value, with a pointer escape.
        let other = file_ref("/xero/a~1b");
        store
            .store(&other, &Token::new("v2".to_owned()))
            .expect("stored");
        store
            .store(&reference, &Token::new("rotated".to_owned()))
            .expect("stored again");
        let fresh = SecretStore::new(&deployment("secrets.json", false), dir.path(), None);
        assert_eq!(
            fresh.resolve_secret(&reference).expect("disk").expose(),
            "rotated"
        );
        assert_eq!(fresh.resolve_secret(&other).expect("disk").expose(), "v2");
    }

    #[test]
    fn store_applies_the_same_checks_and_refuses_env_refs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_secrets(dir.path(), 0o644);
        let store = SecretStore::new(&deployment("x", false), dir.path(), Some(&path));
        let value = Token::new(REFRESH.to_owned());
        let err = store
            .store(&file_ref("/xero/refresh_token"), &value)
            .expect_err("group-readable file refused");
        assert!(matches!(err, SecretError::Permissions { .. }), "{err}");
        // Nothing was written.
        assert!(!std::fs::read_to_string(&path)
            .expect("read")
            .contains(REFRESH));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let err = store
            .store(&file_ref("/telegram/claudia/deeper"), &value)
            .expect_err("a string on the way");
        assert!(matches!(err, SecretError::NotSettable { .. }), "{err}");
        let err = store.store(&file_ref(""), &value).expect_err("root");
        assert!(matches!(err, SecretError::NotSettable { .. }), "{err}");
        let err = store
            .store(&file_ref("/xero/x"), &Token::new(String::new()))
            .expect_err("empty");
        assert!(matches!(err, SecretError::EmptyNewValue { .. }), "{err}");

        let err = store
            .store(
                &SecretRef::Env {
                    id: "HERALD_X".to_owned(),
                },
                &value,
            )
            .expect_err("env refused");
        let text = err.to_string();
        assert!(text.contains("cannot be written durably"), "{text}");
        assert!(text.contains("source = \"file\""), "{text}");
        assert!(!err.to_string().contains(REFRESH));
        assert!(!format!("{err:?}").contains(REFRESH));

        let missing = SecretStore::new(&deployment("missing.json", false), dir.path(), None);
        let err = missing
            .store(&file_ref("/xero/x"), &value)
            .expect_err("no file");
        assert!(matches!(err, SecretError::Unreadable { .. }), "{err}");
    }

    #[test]
    fn store_through_an_allowed_symlink_replaces_the_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = write_secrets(dir.path(), 0o600);
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let store = SecretStore::new(&deployment("link.json", true), dir.path(), None);
        store
            .store(
                &file_ref("/xero/refresh_token"),
                &Token::new(REFRESH.to_owned()),
            )
            .expect("stored");
        assert!(std::fs::symlink_metadata(&link)
            .expect("stat")
            .file_type()
            .is_symlink());
        assert!(std::fs::read_to_string(&real)
            .expect("read")
            .contains(REFRESH));
        // Refused when the symlink is not allowed, like resolve.
        let store = SecretStore::new(&deployment("link.json", false), dir.path(), None);
        let err = store
            .store(
                &file_ref("/xero/refresh_token"),
                &Token::new("x".to_owned()),
            )
            .expect_err("symlink refused");
        assert!(matches!(err, SecretError::Symlink { .. }), "{err}");
    }

    #[test]
    fn store_failure_names_the_file_and_leaves_it_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("ro");
        std::fs::create_dir(&sub).expect("mkdir");
        let path = write_secrets(&sub, 0o600);
        let before = std::fs::read_to_string(&path).expect("read");
        // A read-only folder: the temporary file cannot be created (unless running as root,
        // which ignores folder permissions; then the write succeeds and there is nothing to see).
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o500)).expect("chmod");
        let store = SecretStore::new(&deployment("x", false), dir.path(), Some(&path));
        let result = store.store(
            &file_ref("/xero/refresh_token"),
            &Token::new(REFRESH.to_owned()),
        );
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        if let Err(err) = result {
            assert!(matches!(err, SecretError::Unwritable { .. }), "{err}");
            let text = err.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(!text.contains(REFRESH));
            assert_eq!(std::fs::read_to_string(&path).expect("read"), before);
        }
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
            SecretError::EnvNotWritable {
                reference: "env:X".into(),
                var: "X".into(),
            },
            SecretError::NotSettable {
                reference: "file:local:/a".into(),
                path: "/p".into(),
                pointer: "/a".into(),
            },
            SecretError::EmptyNewValue {
                reference: "file:local:/a".into(),
                pointer: "/a".into(),
            },
            SecretError::Unwritable {
                provider: "local".into(),
                path: "/p".into(),
                reason: "permission denied".into(),
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
