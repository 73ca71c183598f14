//! The systemd side of `herald service`: a `Type=notify` unit (the invoking user's, or a
//! system unit with `--system`) that runs `herald check` then `herald run` from the stable
//! binary, and the `systemctl` / `journalctl` calls that install, remove and report it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use minijinja::context;

use super::host::{
    create_dir, install_binary, remove_file, render, replace_file, run, utf8, Host, Invocation,
    Say, Scope, ServiceError,
};

/// The unit's name.
pub const UNIT: &str = "herald.service";

const TEMPLATE: &str = include_str!("herald.service.j2");

/// The unit that runs `herald` with the global options `args`; `user` is named only in a
/// system unit.
pub fn render_unit(
    scope: Scope,
    user: &str,
    herald: &Path,
    args: &[String],
) -> Result<String, ServiceError> {
    render(
        "herald.service.j2",
        TEMPLATE,
        |env| env.add_filter("systemd_arg", systemd_arg),
        context! {
            system => scope == Scope::System,
            user,
            herald => utf8(herald)?,
            args,
        },
    )
}

/// One word of an `Exec*=` command line (systemd.service(5), "Command lines"): `%` and `$`
/// doubled (specifiers and variables are expanded inside quotes too), and double-quoted with
/// C escapes when it holds whitespace, quotes, backslashes or control characters, or is
/// empty or `;` (which would end the command).
pub fn quote_arg(word: &str) -> Result<String, String> {
    if word.contains('\0') {
        return Err(format!("{word:?} holds a NUL character"));
    }
    let word = word.replace('%', "%%").replace('$', "$$");
    let special = |c: char| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\');
    if !word.is_empty() && word != ";" && !word.contains(special) {
        return Ok(word);
    }
    let mut quoted = String::from('"');
    for c in word.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    Ok(quoted)
}

/// [`quote_arg`] as the template's `systemd_arg` filter.
fn systemd_arg(word: &str) -> Result<String, minijinja::Error> {
    quote_arg(word).map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e))
}

/// `systemctl [--user] ARGS`: its stdout, and the command as the operator would type it.
fn systemctl(host: &Host, args: &[&str]) -> Result<(String, String), ServiceError> {
    let mut all = Vec::with_capacity(args.len() + 1);
    if host.scope == Scope::User {
        all.push("--user");
    }
    all.extend_from_slice(args);
    let out = run(&host.systemctl, &all)?;
    Ok((out, format!("systemctl {}", all.join(" "))))
}

pub(super) fn install(
    host: &Host,
    invocation: &Invocation,
    exe: &Path,
    say: Say<'_>,
) -> Result<(), ServiceError> {
    let unit = render_unit(
        host.scope,
        &host.user.name,
        &host.binary(),
        &invocation.args()?,
    )?;
    install_binary(host, exe, &mut *say)?;
    create_dir(&host.unit_dir, 0o755, None)?;
    let path = host.unit_file();
    replace_file(&path, 0o644, |file| file.write_all(unit.as_bytes()))?;
    say(format!("wrote {}", path.display()));
    for args in [
        &["daemon-reload"][..],
        &["enable", UNIT],
        &["restart", UNIT],
    ] {
        let (_, command) = systemctl(host, args)?;
        say(format!("ran `{command}`"));
    }
    if host.scope == Scope::User {
        say(
            "herald runs while you have a session; to keep it running after logout and start \
             it at boot: loginctl enable-linger"
                .to_owned(),
        );
    }
    say("see how it is doing: herald service status".to_owned());
    Ok(())
}

pub(super) fn uninstall(host: &Host, say: Say<'_>) -> Result<(), ServiceError> {
    let path = host.unit_file();
    if !path.exists() {
        say(format!(
            "no unit at {}: nothing to uninstall{}",
            path.display(),
            match host.scope {
                Scope::User => " (a system unit is removed with --system)",
                Scope::System => "",
            }
        ));
        return Ok(());
    }
    let (_, command) = systemctl(host, &["disable", "--now", UNIT])?;
    say(format!("stopped and disabled herald (`{command}`)"));
    remove_file(&path)?;
    say(format!("removed {}", path.display()));
    let (_, command) = systemctl(host, &["daemon-reload"])?;
    say(format!("ran `{command}`"));
    say(format!(
        "kept the binary {} and the deployment folder (its database and backups); remove \
         them yourself if you no longer need them",
        host.binary().display()
    ));
    Ok(())
}

pub(super) fn status(host: &Host, say: Say<'_>) -> Result<bool, ServiceError> {
    const PROPERTIES: &str =
        "LoadState,ActiveState,SubState,UnitFileState,FragmentPath,ExecMainStartTimestamp,NRestarts";
    let (out, _) = systemctl(host, &["show", "-p", PROPERTIES, UNIT])?;
    let properties: BTreeMap<&str, &str> = out
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect();
    let get = |key| properties.get(key).copied().unwrap_or_default();
    if matches!(get("LoadState"), "" | "not-found") {
        say(format!(
            "{UNIT} is not installed (no unit at {})",
            host.unit_file().display()
        ));
        return Ok(false);
    }
    let scope = match host.scope {
        Scope::User => "user",
        Scope::System => "system",
    };
    say(format!(
        "{UNIT} ({scope} unit {}): {} ({}), {}",
        get("FragmentPath"),
        get("ActiveState"),
        get("SubState"),
        get("UnitFileState")
    ));
    say(format!(
        "last start: {}",
        match get("ExecMainStartTimestamp") {
            "" | "n/a" => "never",
            at => at,
        }
    ));
    if let Some(restarts) = properties.get("NRestarts") {
        say(format!("automatic restarts: {restarts}"));
    }
    say("last 10 log lines:".to_owned());
    let mut args = vec!["-u", UNIT, "-n", "10", "--no-pager"];
    if host.scope == Scope::User {
        args.insert(0, "--user");
    }
    match run(&host.journalctl, &args) {
        Ok(journal) => journal.lines().for_each(|line| say(format!("  {line}"))),
        Err(e) => say(format!("  (cannot read the journal: {e})")),
    }
    Ok(get("ActiveState") == "active")
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::process::Command;

    use super::*;

    fn args(config: &str) -> Vec<String> {
        [
            "--config",
            config,
            "--secrets",
            "/home/ana/.config/herald/secrets.json",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    #[test]
    fn words_are_quoted_only_when_needed() {
        let q = |word| quote_arg(word).expect("quotable");
        assert_eq!(q("/srv/herald"), "/srv/herald");
        assert_eq!(q("/srv/my herald"), "\"/srv/my herald\"");
        assert_eq!(q("/srv/100%"), "/srv/100%%");
        assert_eq!(q("/srv/$HOME"), "/srv/$$HOME");
        assert_eq!(q(r#"a"b\c'd"#), r#""a\"b\\c'd""#);
        assert_eq!(q("tab\there\nline"), r#""tab\there\nline""#);
        assert_eq!(q("bell\u{7}"), r#""bell\u0007""#);
        assert_eq!(q(""), "\"\"");
        assert_eq!(q(";"), "\";\"");
        assert!(quote_arg("nul\0").is_err());
    }

    #[test]
    fn user_unit() {
        let unit = render_unit(
            Scope::User,
            "ana",
            Path::new("/home/ana/.local/bin/herald"),
            &args("/home/ana/herald"),
        )
        .expect("renders");
        insta::assert_snapshot!(unit);
    }

    #[test]
    fn system_unit_with_awkward_paths() {
        let mut args = args("/srv/team bots/100% \"live\" $HOME\\x");
        args.extend([
            "--db".into(),
            "sqlite:///srv/team bots/state/herald.db".into(),
        ]);
        let unit = render_unit(
            Scope::System,
            "herald",
            Path::new("/usr/local/bin/herald"),
            &args,
        )
        .expect("renders");
        insta::assert_snapshot!(unit);
    }

    /// `systemd-analyze verify` on both units, pointed at a real executable in a folder whose
    /// name needs quoting. Skipped (with the reason printed) where systemd-analyze is absent.
    #[test]
    fn units_pass_systemd_analyze_verify() {
        let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
            .into_iter()
            .map(PathBuf::from)
            .find(|path| path.exists());
        let Some(analyze) = analyze else {
            eprintln!("skipped: systemd-analyze is not installed");
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin dir %x");
        std::fs::create_dir(&bin).expect("mkdir");
        let herald = bin.join("herald");
        std::fs::write(&herald, "#!/bin/sh\nexit 0\n").expect("write");
        std::fs::set_permissions(&herald, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let config = dir.path().join("team \"bots\" $X").display().to_string();
        // A user manager needs a runtime folder; a private one in the temp dir will do.
        let runtime = dir.path().join("runtime");
        std::fs::create_dir(&runtime).expect("mkdir");
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        for scope in [Scope::User, Scope::System] {
            let unit = render_unit(scope, "herald", &herald, &args(&config)).expect("renders");
            let units = dir.path().join(format!("{scope:?}"));
            std::fs::create_dir(&units).expect("mkdir");
            let path = units.join(UNIT);
            std::fs::write(&path, &unit).expect("write");
            let mut command = Command::new(&analyze);
            command.arg("verify").env("XDG_RUNTIME_DIR", &runtime);
            if scope == Scope::User {
                command.arg("--user");
            }
            let output = command.arg(&path).output().expect("runs systemd-analyze");
            let stderr = String::from_utf8_lossy(&output.stderr);
            if !output.status.success() && stderr.contains("Failed to initialize manager") {
                eprintln!(
                    "skipped {scope:?}: systemd-analyze cannot start a manager here: {stderr}"
                );
                continue;
            }
            // verify exits 0 on warnings it only logs ("Unknown key ..., ignoring"): none may
            // name the unit.
            let about_unit: Vec<&str> = stderr.lines().filter(|l| l.contains(UNIT)).collect();
            assert!(
                output.status.success() && about_unit.is_empty(),
                "{scope:?}: {}\n{stderr}\n{unit}",
                output.status
            );
        }
    }
}
