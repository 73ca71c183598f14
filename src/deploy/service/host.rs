//! What the service commands share: the machine as they see it ([`Host`]), what the unit
//! runs ([`Invocation`]), their errors, and the file and process helpers both managers use.
//! Apart from [`super`], which picks the manager, so that neither manager's file imports
//! the other's dispatcher.

use std::ffi::CStr;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// The file name of the stable copy of the binary in [`Host::bin_dir`].
pub const BINARY_NAME: &str = "herald";

/// Which service manager runs herald.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    Systemd,
    Launchd,
}

/// The invoking user's own service (the default) or a system-wide one (`--system`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    User,
    System,
}

/// The account herald runs as: named in a system unit (`User=`, `UserName`); its uid picks
/// the launchd domain (`gui/<uid>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// The machine as the service commands see it.
#[derive(Debug, Clone)]
pub struct Host {
    pub manager: Manager,
    pub scope: Scope,
    /// Where the stable copy of the binary goes: `~/.local/bin` or `/usr/local/bin`.
    pub bin_dir: PathBuf,
    /// Where the unit or the plist goes.
    pub unit_dir: PathBuf,
    pub user: ServiceUser,
    /// The manager's programs: a name looked up in `PATH`, or a path.
    pub systemctl: PathBuf,
    pub journalctl: PathBuf,
    pub launchctl: PathBuf,
}

impl Host {
    /// This machine: systemd, or launchd on macOS; the user is the invoking one (with
    /// `--system` under sudo, the one who ran sudo).
    pub fn detect(scope: Scope) -> Result<Host, ServiceError> {
        let manager = if cfg!(target_os = "macos") {
            Manager::Launchd
        } else {
            Manager::Systemd
        };
        let home = || {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|home| home.is_absolute())
                .ok_or(ServiceError::NoHome)
        };
        let (bin_dir, unit_dir) = match (manager, scope) {
            (Manager::Systemd, Scope::User) => {
                let config = std::env::var_os("XDG_CONFIG_HOME")
                    .map(PathBuf::from)
                    .filter(|dir| dir.is_absolute())
                    .map_or_else(|| home().map(|home| home.join(".config")), Ok)?;
                (
                    home()?.join(".local/bin"),
                    config.join("systemd").join("user"),
                )
            }
            (Manager::Systemd, Scope::System) => (
                PathBuf::from("/usr/local/bin"),
                PathBuf::from("/etc/systemd/system"),
            ),
            (Manager::Launchd, Scope::User) => (
                home()?.join(".local/bin"),
                home()?.join("Library/LaunchAgents"),
            ),
            (Manager::Launchd, Scope::System) => (
                PathBuf::from("/usr/local/bin"),
                PathBuf::from("/Library/LaunchDaemons"),
            ),
        };
        Ok(Host {
            manager,
            scope,
            bin_dir,
            unit_dir,
            user: invoking_user(scope)?,
            systemctl: "systemctl".into(),
            journalctl: "journalctl".into(),
            launchctl: "launchctl".into(),
        })
    }

    /// The stable path of the binary the unit runs.
    pub fn binary(&self) -> PathBuf {
        self.bin_dir.join(BINARY_NAME)
    }
}

/// What the unit runs: `herald run` (and `herald check` before it) with these global options,
/// every path absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The deployment folder, canonical.
    pub config: PathBuf,
    pub secrets: Option<PathBuf>,
    pub db: Option<String>,
    /// Only when it is not Telegram's own.
    pub telegram_api_url: Option<String>,
}

impl Invocation {
    /// The global options of this `herald service install` (`--config`, `--secrets`, `--db`,
    /// `--telegram-api-url`), made absolute.
    pub fn new(
        config: &Path,
        secrets: Option<&Path>,
        db: Option<&str>,
        telegram_api_url: &str,
    ) -> Result<Invocation, ServiceError> {
        let config = config.canonicalize().map_err(|source| ServiceError::Io {
            action: "find the deployment folder (--config)",
            path: config.to_owned(),
            source,
        })?;
        if !config.join("bots").is_dir() {
            return Err(ServiceError::NotADeployment(config));
        }
        let absolute = |path: &Path| {
            std::path::absolute(path).map_err(|source| ServiceError::Io {
                action: "make absolute",
                path: path.to_owned(),
                source,
            })
        };
        let secrets = secrets.map(absolute).transpose()?;
        let db = db.map(absolute_db_url).transpose()?;
        let telegram_api_url = Some(telegram_api_url.to_owned())
            .filter(|url| url.as_str() != crate::telegram::DEFAULT_API_URL);
        Ok(Invocation {
            config,
            secrets,
            db,
            telegram_api_url,
        })
    }

    /// The global options the unit passes to `herald check` and `herald run`.
    pub fn args(&self) -> Result<Vec<String>, ServiceError> {
        let mut args = vec!["--config".to_owned(), utf8(&self.config)?];
        if let Some(secrets) = &self.secrets {
            args.extend(["--secrets".to_owned(), utf8(secrets)?]);
        }
        if let Some(db) = &self.db {
            args.extend(["--db".to_owned(), db.clone()]);
        }
        if let Some(url) = &self.telegram_api_url {
            args.extend(["--telegram-api-url".to_owned(), url.clone()]);
        }
        Ok(args)
    }
}

/// A `sqlite:` URL naming a relative file, made absolute (the service does not run in this
/// folder); anything else as it is.
pub(super) fn absolute_db_url(url: &str) -> Result<String, ServiceError> {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Ok(url.to_owned());
    };
    let (file, query) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
    if file.is_empty() || file == ":memory:" || Path::new(file).is_absolute() {
        return Ok(url.to_owned());
    }
    let file = std::path::absolute(file).map_err(|source| ServiceError::Io {
        action: "make absolute",
        path: file.into(),
        source,
    })?;
    Ok(format!("sqlite://{}{query}", utf8(&file)?))
}

/// Why a service command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("HOME is not set to an absolute path; it says where ~/.local/bin and the unit go")]
    NoHome,
    #[error("cannot tell who the service should run as (uid {0} has no user name)")]
    NoUser(u32),
    #[error(
        "the user name {0:?} cannot be written into a unit (letters, digits, `.`, `_`, `-` only)"
    )]
    BadUserName(String),
    #[error("{0} has no bots/ folder: is --config the deployment folder?")]
    NotADeployment(PathBuf),
    #[error("{0} is not valid UTF-8, so the unit cannot name it")]
    NotUtf8(PathBuf),
    #[error("cannot render {template}: {source:#}")]
    Render {
        template: &'static str,
        source: minijinja::Error,
    },
    #[error("cannot run `{command}`: {source}")]
    Spawn { command: String, source: io::Error },
    #[error("`{command}` failed ({status}){}", stderr_suffix(.stderr))]
    Failed {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
}

pub(super) fn stderr_suffix(stderr: &str) -> String {
    match stderr.trim() {
        "" => String::new(),
        text => format!(": {text}"),
    }
}

impl ServiceError {
    /// 1 when the service manager refused a step (the files are written by then), 2 when the
    /// command could not run at all.
    pub fn exit_code(&self) -> u8 {
        match self {
            ServiceError::Failed { .. } => 1,
            _ => 2,
        }
    }
}

/// What `install` reports, line by line, as it goes.
pub type Say<'a> = &'a mut dyn FnMut(String);

/// Puts `exe` at [`Host::binary`] (0755) unless it already is that file: a temp file in the
/// same folder renamed over it, so a running herald keeps its old binary until it restarts.
pub(super) fn install_binary(
    host: &Host,
    exe: &Path,
    say: Say<'_>,
) -> Result<PathBuf, ServiceError> {
    let target = host.binary();
    create_dir(&host.bin_dir, 0o755, None)?;
    let same = match (exe.canonicalize(), target.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        say(format!(
            "{} is already the installed binary",
            target.display()
        ));
        return Ok(target);
    }
    let mut source = std::fs::File::open(exe).map_err(|source| ServiceError::Io {
        action: "read the running binary",
        path: exe.to_owned(),
        source,
    })?;
    replace_file(&target, 0o755, |file| {
        io::copy(&mut source, file).map(|_| ())
    })?;
    say(format!("copied {} to {}", exe.display(), target.display()));
    Ok(target)
}

/// Replaces `target` with what `write` puts in a temp file beside it, durably
/// ([`crate::durable::replace_file`]), with `mode`.
pub(super) fn replace_file(
    target: &Path,
    mode: u32,
    write: impl FnOnce(&mut std::fs::File) -> io::Result<()>,
) -> Result<(), ServiceError> {
    crate::durable::replace_file(target, mode, write).map_err(|e| ServiceError::Io {
        action: "replace",
        path: target.to_owned(),
        source: io::Error::new(e.source.kind(), format!("{}: {}", e.step, e.source)),
    })
}

/// Creates `dir` and its missing parents (`mode` under the caller's umask; herald's is 077);
/// with `owner`, also hands each folder it created to that uid and gid.
pub(super) fn create_dir(
    dir: &Path,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), ServiceError> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
    for folder in missing.into_iter().rev() {
        let io_error = |action, source| ServiceError::Io {
            action,
            path: folder.to_owned(),
            source,
        };
        match std::fs::DirBuilder::new().mode(mode).create(folder) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error("create the folder", e)),
        }
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(folder, Some(uid), Some(gid))
                .map_err(|e| io_error("hand over the folder", e))?;
        }
    }
    Ok(())
}

/// Removes `path`; whether it was there.
pub(super) fn remove_file(path: &Path) -> Result<bool, ServiceError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(ServiceError::Io {
            action: "remove",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Runs `program args`; its stdout, or an error naming the command and quoting its stderr.
pub(super) fn run(program: &Path, args: &[&str]) -> Result<String, ServiceError> {
    let command = std::iter::once(program.to_string_lossy())
        .chain(args.iter().map(|arg| (*arg).into()))
        .collect::<Vec<_>>()
        .join(" ");
    let output = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| ServiceError::Spawn {
            command: command.clone(),
            source,
        })?;
    if !output.status.success() {
        return Err(ServiceError::Failed {
            command,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `path` as text, for a unit or a plist.
pub(super) fn utf8(path: &Path) -> Result<String, ServiceError> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| ServiceError::NotUtf8(path.to_owned()))
}

/// The template environment: strict about undefined values, no automatic escaping (each
/// value goes through the filter for its format), the trailing newline kept.
pub(super) fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_keep_trailing_newline(true);
    env
}

/// Renders `source` (named `template` in errors) with `context`.
pub(super) fn render(
    template: &'static str,
    source: &'static str,
    filters: impl FnOnce(&mut minijinja::Environment<'static>),
    context: minijinja::Value,
) -> Result<String, ServiceError> {
    let mut env = environment();
    filters(&mut env);
    env.render_str(source, context)
        .map_err(|source| ServiceError::Render { template, source })
}

/// The user the service runs as: with `--system` under sudo the one who ran sudo, otherwise
/// the invoking user.
pub(super) fn invoking_user(scope: Scope) -> Result<ServiceUser, ServiceError> {
    // SAFETY: getuid and getgid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let sudo = || {
        let var = |name| std::env::var(name).ok();
        let name = var("SUDO_USER")?;
        let uid = var("SUDO_UID")?.parse().ok()?;
        let gid = var("SUDO_GID")?.parse().ok()?;
        Some(ServiceUser { name, uid, gid })
    };
    let user = match (scope, uid) {
        (Scope::System, 0) => sudo(),
        _ => None,
    };
    let user = match user {
        Some(user) => user,
        None => ServiceUser {
            // Only a system unit names the user; a user's own unit can do without a name
            // (an account without one happens in containers).
            name: match (user_name(uid), scope) {
                (Some(name), _) => name,
                (None, Scope::User) => uid.to_string(),
                (None, Scope::System) => return Err(ServiceError::NoUser(uid)),
            },
            uid,
            gid,
        },
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if user.name.is_empty() || user.name.starts_with('-') || !user.name.chars().all(plain) {
        return Err(ServiceError::BadUserName(user.name));
    }
    Ok(user)
}

/// The name of `uid` in the user database.
pub(super) fn user_name(uid: u32) -> Option<String> {
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain data that getpwuid_r fills; its strings point into `buffer`,
    // which outlives every use of them below; `found` is null or points at `entry`.
    unsafe {
        let mut entry: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        );
        if rc != 0 || found.is_null() || entry.pw_name.is_null() {
            return None;
        }
        Some(CStr::from_ptr(entry.pw_name).to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_sqlite_urls_become_absolute() {
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(
            absolute_db_url("sqlite://state/h.db?mode=rwc").expect("absolute"),
            format!("sqlite://{}/state/h.db?mode=rwc", cwd.display())
        );
        assert_eq!(
            absolute_db_url("sqlite:h.db").expect("absolute"),
            format!("sqlite://{}/h.db", cwd.display())
        );
        for kept in ["sqlite:///srv/h.db", "sqlite::memory:", "postgres://db/h"] {
            assert_eq!(absolute_db_url(kept).expect("kept"), kept);
        }
    }

    #[test]
    fn the_invoking_user_has_a_name() {
        let user = invoking_user(Scope::User).expect("a user");
        // SAFETY: getuid cannot fail.
        assert_eq!(user.uid, unsafe { libc::getuid() });
        assert!(!user.name.is_empty());
    }
}
