//! The macOS side of `herald service`: a launchd job (a LaunchAgent of the invoking user, or a
//! LaunchDaemon with `--system`) that keeps `herald run` alive from the stable binary and
//! writes its output to a private log file, and the `launchctl` calls that load, unload and
//! report it.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use minijinja::context;

use super::host::{
    create_dir, install_binary, remove_file, render, replace_file, run, utf8, Host, Invocation,
    Say, Scope, ServiceError,
};

/// The job's label (and the plist's file name, with `.plist`).
pub const LABEL: &str = "com.herald.bots";

const TEMPLATE: &str = include_str!("herald.plist.j2");

/// Where the job's stdout and stderr go: beside herald's database, in the deployment's
/// private `state/` folder.
pub fn log_file(config: &Path) -> PathBuf {
    config.join("state").join("logs").join("herald.log")
}

/// The plist of a job that runs `herald run` with the global options `args`, logging to
/// `log`; `user` is named only in a LaunchDaemon.
pub fn render_plist(
    scope: Scope,
    user: &str,
    herald: &Path,
    args: &[String],
    log: &Path,
) -> Result<String, ServiceError> {
    render(
        "herald.plist.j2",
        TEMPLATE,
        |env| env.add_filter("xml", xml),
        context! {
            label => LABEL,
            system => scope == Scope::System,
            user,
            herald => utf8(herald)?,
            args,
            log => utf8(log)?,
        },
    )
}

/// `text` as XML character data: `&`, `<`, `>` and quotes as entities, a carriage return as a
/// character reference (a parser would turn a raw one into a newline). XML 1.0 cannot hold
/// the other control characters at all.
pub fn xml_text(text: &str) -> Result<String, String> {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\r' => escaped.push_str("&#13;"),
            '\t' | '\n' => escaped.push(c),
            c if c.is_control() => {
                return Err(format!(
                    "{text:?} holds a control character a plist cannot hold"
                ))
            }
            c => escaped.push(c),
        }
    }
    Ok(escaped)
}

/// [`xml_text`] as the template's `xml` filter.
fn xml(text: &str) -> Result<String, minijinja::Error> {
    xml_text(text).map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e))
}

/// The launchd domain: the user's GUI session, or the system.
fn domain(host: &Host) -> String {
    match host.scope {
        Scope::User => format!("gui/{}", host.user.uid),
        Scope::System => "system".to_owned(),
    }
}

/// `launchctl ARGS`: its stdout, and the command as the operator would type it.
fn launchctl(host: &Host, args: &[&str]) -> Result<(String, String), ServiceError> {
    let out = run(&host.launchctl, args)?;
    Ok((out, format!("launchctl {}", args.join(" "))))
}

/// Unloads the job if it is loaded (which stops herald); whether it was.
fn bootout(host: &Host) -> Result<Option<String>, ServiceError> {
    match launchctl(host, &["bootout", &format!("{}/{LABEL}", domain(host))]) {
        Ok((_, command)) => Ok(Some(command)),
        // Not loaded (launchctl's only complaint here that leaves nothing to undo).
        Err(ServiceError::Failed { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) fn install(
    host: &Host,
    invocation: &Invocation,
    exe: &Path,
    say: Say<'_>,
) -> Result<(), ServiceError> {
    let log = log_file(&invocation.config);
    let plist = render_plist(
        host.scope,
        &host.user.name,
        &host.binary(),
        &invocation.args()?,
        &log,
    )?;
    install_binary(host, exe, &mut *say)?;
    prepare_log(host, &log)?;
    say(format!("herald logs to {} (mode 600)", log.display()));
    create_dir(&host.unit_dir, 0o755, None)?;
    let path = host.unit_file();
    replace_file(&path, 0o644, |file| file.write_all(plist.as_bytes()))?;
    say(format!("wrote {}", path.display()));
    if let Some(command) = bootout(host)? {
        say(format!("stopped the running herald (`{command}`)"));
    }
    let target = format!("{}/{LABEL}", domain(host));
    let (_, command) = launchctl(host, &["enable", &target])?;
    say(format!("ran `{command}`"));
    let (_, command) = launchctl(host, &["bootstrap", &domain(host), &utf8(&path)?])?;
    say(format!("started herald (`{command}`)"));
    say("see how it is doing: herald service status".to_owned());
    Ok(())
}

/// Creates the log folder (0700) and file (0600) before launchd opens it; for a
/// LaunchDaemon, hands what it created to the user herald runs as.
fn prepare_log(host: &Host, log: &Path) -> Result<(), ServiceError> {
    let owner = (host.scope == Scope::System).then_some((host.user.uid, host.user.gid));
    if let Some(folder) = log.parent() {
        create_dir(folder, 0o700, owner)?;
    }
    let io_error = |action, source| ServiceError::Io {
        action,
        path: log.to_owned(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(log)
        .map_err(|e| io_error("create the log file", e))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| io_error("make private the log file", e))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(log, Some(uid), Some(gid))
            .map_err(|e| io_error("hand over the log file", e))?;
    }
    Ok(())
}

pub(super) fn uninstall(host: &Host, say: Say<'_>) -> Result<(), ServiceError> {
    let path = host.unit_file();
    let Some(plist) = read_plist(&path)? else {
        say(format!(
            "no plist at {}: nothing to uninstall{}",
            path.display(),
            match host.scope {
                Scope::User => " (a LaunchDaemon is removed with --system)",
                Scope::System => "",
            }
        ));
        return Ok(());
    };
    match bootout(host)? {
        Some(command) => say(format!("stopped and unloaded herald (`{command}`)")),
        None => say(format!("{LABEL} was not loaded")),
    }
    remove_file(&path)?;
    say(format!("removed {}", path.display()));
    let log = plist_string(&plist, "StandardOutPath")
        .map(|log| format!(", the log {log}"))
        .unwrap_or_default();
    say(format!(
        "kept the binary {}{log} and the deployment folder; remove them yourself if you no \
         longer need them",
        host.binary().display()
    ));
    Ok(())
}

pub(super) fn status(host: &Host, say: Say<'_>) -> Result<bool, ServiceError> {
    let path = host.unit_file();
    let Some(plist) = read_plist(&path)? else {
        say(format!(
            "{LABEL} is not installed (no plist at {})",
            path.display()
        ));
        return Ok(false);
    };
    let target = format!("{}/{LABEL}", domain(host));
    let running = match launchctl(host, &["print", &target]) {
        Ok((out, _)) => {
            say(format!("{target} ({}):", path.display()));
            // The job's own top-level fields, one tab in; nested blocks are indented deeper.
            let mut state = "";
            for line in out.lines().filter(|line| !line.starts_with("\t\t")) {
                let field = line.trim();
                let key = field.split(" = ").next().unwrap_or_default();
                if matches!(key, "state" | "pid" | "runs" | "last exit code") {
                    say(format!("  {field}"));
                }
                if key == "state" {
                    state = field.trim_start_matches("state = ");
                }
            }
            state == "running"
        }
        Err(ServiceError::Failed { stderr, .. }) => {
            say(format!(
                "{target} is installed ({}) but not loaded: {}",
                path.display(),
                stderr.trim()
            ));
            false
        }
        Err(e) => return Err(e),
    };
    say("last start: launchd does not record it; herald logs each start below".to_owned());
    match plist_string(&plist, "StandardOutPath") {
        Some(log) => {
            say(format!("last 10 lines of {log}:"));
            match tail(Path::new(&log), 10) {
                Ok(lines) => lines.iter().for_each(|line| say(format!("  {line}"))),
                Err(e) => say(format!("  (cannot read it: {e})")),
            }
        }
        None => say(format!("{} names no log file", path.display())),
    }
    Ok(running)
}

/// The plist at `path`, or None when there is none.
fn read_plist(path: &Path) -> Result<Option<String>, ServiceError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ServiceError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        }),
    }
}

/// The `<string>` after `<key>KEY</key>` in a plist this module wrote, unescaped.
fn plist_string(plist: &str, key: &str) -> Option<String> {
    let after_key = plist.split_once(&format!("<key>{key}</key>"))?.1;
    let value = after_key.trim_start().strip_prefix("<string>")?;
    let value = value.split_once("</string>")?.0;
    Some(
        value
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&#13;", "\r")
            .replace("&amp;", "&"),
    )
}

/// The last `n` lines of the file at `path` (reading at most its last 64 KiB).
fn tail(path: &Path, n: usize) -> std::io::Result<Vec<String>> {
    const WINDOW: u64 = 64 * 1024;
    let mut file = std::fs::File::open(path)?;
    let length = file.metadata()?.len();
    let start = length.saturating_sub(WINDOW);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // cut mid-line
    }
    let skip = lines.len().saturating_sub(n);
    Ok(lines[skip..]
        .iter()
        .map(|line| (*line).to_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(config: &str) -> Vec<String> {
        [
            "--config",
            config,
            "--secrets",
            "/Users/ana/.config/herald/secrets.json",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    #[test]
    fn user_plist() {
        let plist = render_plist(
            Scope::User,
            "ana",
            Path::new("/Users/ana/.local/bin/herald"),
            &args("/Users/ana/herald"),
            &log_file(Path::new("/Users/ana/herald")),
        )
        .expect("renders");
        insta::assert_snapshot!(plist);
    }

    /// The plist parses back (with the `plist` crate) into the keys launchd reads, every
    /// awkward character of the paths intact.
    #[test]
    fn plist_parses_back_with_its_values_intact() {
        let config = "/Users/ana/R&D <team> \"bots\" 'x' 100% $HOME\r\ttab";
        let herald = "/Users/ana/.local/bin/herald";
        for scope in [Scope::User, Scope::System] {
            let log = log_file(Path::new(config));
            let text = render_plist(scope, "ana", Path::new(herald), &args(config), &log)
                .expect("renders");
            if scope == Scope::System {
                insta::assert_snapshot!("system_plist_with_awkward_paths", text);
            }
            let value = plist::Value::from_reader_xml(text.as_bytes()).expect("valid plist");
            let dict = value.as_dictionary().expect("a dict");
            let string = |key: &str| dict.get(key).and_then(plist::Value::as_string);
            assert_eq!(string("Label"), Some(LABEL));
            let program: Vec<&str> = dict
                .get("ProgramArguments")
                .and_then(plist::Value::as_array)
                .expect("ProgramArguments")
                .iter()
                .map(|v| v.as_string().expect("a string"))
                .collect();
            let options = args(config);
            let mut expected = vec![herald, "run"];
            expected.extend(options.iter().map(String::as_str));
            assert_eq!(program, expected);
            assert_eq!(
                dict.get("RunAtLoad").and_then(plist::Value::as_boolean),
                Some(true)
            );
            let keep_alive = dict
                .get("KeepAlive")
                .and_then(plist::Value::as_dictionary)
                .expect("KeepAlive");
            assert_eq!(
                keep_alive
                    .get("SuccessfulExit")
                    .and_then(plist::Value::as_boolean),
                Some(false)
            );
            let integer = |key: &str| {
                dict.get(key)
                    .and_then(plist::Value::as_signed_integer)
                    .expect(key)
            };
            assert_eq!(integer("ThrottleInterval"), 10);
            assert_eq!(integer("Umask"), 0o077);
            let log = log.to_str().expect("utf-8");
            assert_eq!(string("StandardOutPath"), Some(log));
            assert_eq!(string("StandardErrorPath"), Some(log));
            assert_eq!(plist_string(&text, "StandardOutPath").as_deref(), Some(log));
            let user = match scope {
                Scope::User => None,
                Scope::System => Some("ana"),
            };
            assert_eq!(string("UserName"), user);
        }
    }

    #[test]
    fn control_characters_are_refused() {
        assert!(xml_text("a\u{1}b").is_err());
        assert_eq!(xml_text("a&b\r").expect("escapes"), "a&amp;b&#13;");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("herald.log");
        let text: String = (1..=200_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).expect("write");
        let lines = tail(&path, 3).expect("tail");
        assert_eq!(lines, ["line 199998", "line 199999", "line 200000"]);
    }
}
