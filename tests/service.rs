//! `herald service install | uninstall | status` without a real systemd or launchd: a temp
//! home, and fake `systemctl` / `journalctl` / `launchctl` scripts that record their
//! arguments. Installing twice over an older binary leaves one unit pointing at the stable
//! copy of the newest binary, and restarts herald each time.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use herald::deploy::service::{
    self, launchd, systemd, Host, Invocation, Manager, Scope, ServiceError, ServiceUser,
};

/// A temp folder with a home, a deployment folder, fake manager programs and the file they
/// record their calls in.
struct Machine {
    tmp: tempfile::TempDir,
}

impl Machine {
    fn new() -> Machine {
        let machine = Machine {
            tmp: tempfile::tempdir().expect("tempdir"),
        };
        for dir in ["home", "fakes", "team bots/bots"] {
            fs::create_dir_all(machine.path(dir)).expect("mkdir");
        }
        machine
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.tmp.path().join(relative)
    }

    fn config(&self) -> PathBuf {
        self.path("team bots")
    }

    /// A fake program in `fakes/` that records `NAME ARGS` and then runs `body`.
    fn fake(&self, name: &str, body: &str) -> PathBuf {
        let path = self.path("fakes").join(name);
        let script = format!(
            "#!/bin/sh\necho \"{name} $*\" >> '{calls}'\n{body}\n",
            calls = self.path("calls").display()
        );
        fs::write(&path, script).expect("write fake");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    /// The calls the fakes recorded, one per line, the temp folder shown as `[TMP]`.
    fn calls(&self) -> String {
        self.redact(&fs::read_to_string(self.path("calls")).unwrap_or_default())
    }

    fn redact(&self, text: &str) -> String {
        let real = self.tmp.path().canonicalize().expect("canonical tmp");
        text.replace(&real.display().to_string(), "[TMP]")
            .replace(&self.tmp.path().display().to_string(), "[TMP]")
    }

    /// A fake systemctl that answers `show` as a running unit while the unit file exists,
    /// fails `restart` when `fail_restart`, and a journalctl printing ten lines.
    fn fake_systemd(&self, unit: &Path, fail_restart: bool) -> (PathBuf, PathBuf) {
        let restart = if fail_restart {
            "echo 'Job for herald.service failed because the control process exited with error code.' >&2; exit 1"
        } else {
            ":"
        };
        let systemctl = self.fake(
            "systemctl",
            &format!(
                r#"case "$*" in
  *" restart "*) {restart};;
  *" show "*)
    if [ -e '{unit}' ]; then
      printf 'LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\nFragmentPath=%s\nExecMainStartTimestamp=Fri 2026-11-20 10:30:00 +08\nNRestarts=0\n' '{unit}'
    else
      printf 'LoadState=not-found\nActiveState=inactive\nSubState=dead\n'
    fi;;
esac"#,
                unit = unit.display()
            ),
        );
        let journalctl = self.fake(
            "journalctl",
            r#"for i in 1 2 3 4 5 6 7 8 9 10; do printf 'Nov 20 10:30:%02d host herald[42]: line %d\n' $i $i; done"#,
        );
        (systemctl, journalctl)
    }

    fn host(&self, manager: Manager) -> Host {
        let home = self.path("home");
        Host {
            manager,
            scope: Scope::User,
            bin_dir: home.join(".local/bin"),
            unit_dir: match manager {
                Manager::Systemd => home.join(".config/systemd/user"),
                Manager::Launchd => home.join("Library/LaunchAgents"),
            },
            user: ServiceUser {
                name: "ana".into(),
                uid: 501,
                gid: 20,
            },
            systemctl: self.path("fakes/systemctl"),
            journalctl: self.path("fakes/journalctl"),
            launchctl: self.path("fakes/launchctl"),
        }
    }

    fn invocation(&self) -> Invocation {
        Invocation {
            config: self.config(),
            secrets: Some(self.path("secrets.json")),
            db: None,
            telegram_api_url: None,
        }
    }

    /// A "binary" in the temp folder holding `text`.
    fn binary(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        fs::write(&path, text).expect("write binary");
        path
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs `step` and returns what it said, one line each.
fn said<T>(step: impl FnOnce(&mut dyn FnMut(String)) -> T) -> (T, Vec<String>) {
    let mut lines = Vec::new();
    let result = step(&mut |line| lines.push(line));
    (result, lines)
}

#[test]
fn installing_twice_over_an_older_binary_leaves_one_unit_at_the_stable_path() {
    let machine = Machine::new();
    let host = machine.host(Manager::Systemd);
    machine.fake_systemd(&host.unit_file(), false);
    fs::create_dir_all(&host.bin_dir).expect("mkdir");
    fs::write(host.binary(), "old herald").expect("an older binary");

    for version in ["herald 1.1", "herald 1.2"] {
        let exe = machine.binary("target-herald", version);
        let (result, lines) = said(|say| service::install(&host, &machine.invocation(), &exe, say));
        result.expect("installs");
        assert_eq!(fs::read_to_string(host.binary()).expect("binary"), version);
        assert!(
            lines.contains(&format!("ran `systemctl --user restart {}`", systemd::UNIT)),
            "{lines:?}"
        );
    }
    assert_eq!(mode(&host.binary()), 0o755);
    assert_eq!(names(&host.bin_dir), ["herald"], "no temp file left");
    assert_eq!(names(&host.unit_dir), [systemd::UNIT]);
    assert_eq!(mode(&host.unit_file()), 0o644);
    let unit = fs::read_to_string(host.unit_file()).expect("unit");
    let stable = host.binary().display().to_string();
    let exec: Vec<&str> = unit.lines().filter(|l| l.starts_with("Exec")).collect();
    assert_eq!(exec.len(), 2, "{unit}");
    for line in exec {
        assert!(line.contains(&format!("={stable} ")), "{line}");
        assert!(!line.contains("target-herald"), "{line}");
    }
    assert_eq!(
        machine.calls(),
        "systemctl --user daemon-reload\n\
         systemctl --user enable herald.service\n\
         systemctl --user restart herald.service\n"
            .repeat(2)
    );
}

#[test]
fn a_refused_restart_names_the_command() {
    let machine = Machine::new();
    let host = machine.host(Manager::Systemd);
    machine.fake_systemd(&host.unit_file(), true);
    let exe = machine.binary("target-herald", "herald");
    let (result, _) = said(|say| service::install(&host, &machine.invocation(), &exe, say));
    let error = result.expect_err("restart fails");
    assert!(matches!(error, ServiceError::Failed { .. }), "{error:?}");
    assert_eq!(error.exit_code(), 1);
    let message = error.to_string();
    assert!(
        message.starts_with("`") && message.contains("systemctl --user restart herald.service`"),
        "{message}"
    );
    assert!(
        message.contains("Job for herald.service failed"),
        "{message}"
    );
    // The files were written before the manager refused: installing again retries.
    assert!(host.unit_file().exists());
}

#[test]
fn launchd_install_twice_then_status_then_uninstall() {
    let machine = Machine::new();
    let host = machine.host(Manager::Launchd);
    let loaded = machine.path("loaded");
    machine.fake(
        "launchctl",
        &format!(
            r#"case "$1" in
  bootstrap) touch '{loaded}';;
  bootout) [ -e '{loaded}' ] || {{ echo 'Boot-out failed: 3: No such process' >&2; exit 3; }}; rm '{loaded}';;
  print) [ -e '{loaded}' ] || {{ echo 'Could not find service "com.herald.bots" in domain for port' >&2; exit 113; }}
    printf 'gui/501/com.herald.bots = {{\n\tactive count = 1\n\tpath = /x.plist\n\tstate = running\n\n\tprogram = /x\n\tendpoints = {{\n\t\tstate = active\n\t}}\n\truns = 2\n\tpid = 4242\n\tlast exit code = (never exited)\n}}\n';;
esac"#,
            loaded = loaded.display()
        ),
    );
    for version in ["herald 1.1", "herald 1.2"] {
        let exe = machine.binary("target-herald", version);
        let (result, _) = said(|say| service::install(&host, &machine.invocation(), &exe, say));
        result.expect("installs");
        assert_eq!(fs::read_to_string(host.binary()).expect("binary"), version);
    }
    let plist_path = host.unit_file();
    assert_eq!(names(&host.unit_dir), [format!("{}.plist", launchd::LABEL)]);
    assert_eq!(mode(&plist_path), 0o644);
    let plist = plist::Value::from_file(&plist_path).expect("a plist");
    let program = plist
        .as_dictionary()
        .and_then(|d| d.get("ProgramArguments"))
        .and_then(plist::Value::as_array)
        .expect("ProgramArguments");
    assert_eq!(
        program[0].as_string(),
        Some(host.binary().to_str().expect("utf-8"))
    );
    let log = launchd::log_file(&machine.config());
    assert_eq!(mode(&log), 0o600);
    assert_eq!(mode(log.parent().expect("logs")), 0o700);
    assert_eq!(
        machine.calls(),
        "launchctl bootout gui/501/com.herald.bots\n\
         launchctl enable gui/501/com.herald.bots\n\
         launchctl bootstrap gui/501 [TMP]/home/Library/LaunchAgents/com.herald.bots.plist\n"
            .repeat(2)
    );

    fs::write(
        &log,
        (1..=12)
            .map(|i| format!("log line {i}\n"))
            .collect::<String>(),
    )
    .expect("log");
    let (running, lines) = said(|say| service::status(&host, say));
    assert!(running.expect("status"));
    insta::assert_snapshot!("launchd_status", machine.redact(&lines.join("\n")));

    let (result, lines) = said(|say| service::uninstall(&host, say));
    result.expect("uninstalls");
    insta::assert_snapshot!("launchd_uninstall", machine.redact(&lines.join("\n")));
    assert!(!plist_path.exists());
    assert!(
        host.binary().exists() && log.exists(),
        "binary and log kept"
    );
    let (running, lines) = said(|say| service::status(&host, say));
    assert!(!running.expect("status"));
    assert_eq!(
        machine.redact(&lines.join("\n")),
        "com.herald.bots is not installed (no plist at \
         [TMP]/home/Library/LaunchAgents/com.herald.bots.plist)"
    );
}

/// The built binary, as an operator runs it: HOME and PATH point at the temp machine, so
/// `systemctl` and `journalctl` are the fakes.
#[cfg(target_os = "linux")]
#[test]
fn the_herald_binary_installs_reports_and_uninstalls() {
    let machine = Machine::new();
    let unit_path = machine.path("home/.config/systemd/user/herald.service");
    let (_, _) = machine.fake_systemd(&unit_path, false);
    let stable = machine.path("home/.local/bin/herald");
    fs::create_dir_all(stable.parent().expect("bin")).expect("mkdir");
    fs::write(&stable, "#!/bin/sh\necho an older herald\n").expect("an older binary");
    let path = format!("{}:/usr/bin:/bin", machine.path("fakes").display());
    let herald = |args: &[&str]| {
        let mut command = common::herald();
        command
            .current_dir(machine.tmp.path())
            .env("HOME", machine.path("home"))
            .env("PATH", &path)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("SUDO_USER")
            .args(["--config", "team bots", "--secrets", "secrets.json"])
            .args(["--db", "sqlite://state/herald.db"])
            .args(args);
        let output = command.output().expect("herald runs");
        (
            output.status.code(),
            machine.redact(&String::from_utf8_lossy(&output.stdout)),
            machine.redact(&String::from_utf8_lossy(&output.stderr)),
        )
    };
    let exe = Path::new(env!("CARGO_BIN_EXE_herald"));
    let redact_exe = |text: &str| text.replace(&exe.display().to_string(), "[EXE]");

    let mut outputs = Vec::new();
    for _ in 0..2 {
        let (code, stdout, stderr) = herald(&["service", "install"]);
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        outputs.push(redact_exe(&stdout));
    }
    assert_eq!(outputs[0], outputs[1], "installing again does the same");
    insta::assert_snapshot!("install", outputs[1]);
    assert_eq!(
        fs::read(&stable).expect("stable binary"),
        fs::read(exe).expect("built binary")
    );
    assert_eq!(mode(&stable), 0o755);
    assert_eq!(
        names(unit_path.parent().expect("unit dir")),
        ["herald.service"]
    );
    insta::assert_snapshot!(
        "installed_unit",
        machine.redact(&fs::read_to_string(&unit_path).expect("unit"))
    );

    let (code, stdout, _) = herald(&["service", "status"]);
    assert_eq!(code, Some(0));
    insta::assert_snapshot!("status", stdout);

    let (code, stdout, _) = herald(&["service", "uninstall"]);
    assert_eq!(code, Some(0));
    insta::assert_snapshot!("uninstall", stdout);
    assert!(!unit_path.exists());
    assert!(stable.exists(), "the binary is kept");

    let (code, stdout, _) = herald(&["service", "status"]);
    assert_eq!((code, stdout.trim()), (Some(1), "herald.service is not installed (no unit at [TMP]/home/.config/systemd/user/herald.service)"));
    let (code, stdout, _) = herald(&["service", "uninstall"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("nothing to uninstall"), "{stdout}");
    assert_eq!(
        machine.calls(),
        "systemctl --user daemon-reload\n\
         systemctl --user enable herald.service\n\
         systemctl --user restart herald.service\n"
            .repeat(2)
            + "systemctl --user show -p LoadState,ActiveState,SubState,UnitFileState,FragmentPath,ExecMainStartTimestamp,NRestarts herald.service\n\
               journalctl --user -u herald.service -n 10 --no-pager\n\
               systemctl --user disable --now herald.service\n\
               systemctl --user daemon-reload\n\
               systemctl --user show -p LoadState,ActiveState,SubState,UnitFileState,FragmentPath,ExecMainStartTimestamp,NRestarts herald.service\n"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn install_refuses_a_folder_that_is_not_a_deployment() {
    let machine = Machine::new();
    let output = common::herald()
        .env("HOME", machine.path("home"))
        .env("PATH", machine.path("fakes"))
        .args(["--config"])
        .arg(machine.path("home"))
        .args(["service", "install"])
        .output()
        .expect("herald runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = machine.redact(&String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        stderr.trim(),
        "herald service install: [TMP]/home has no bots/ folder: is --config the deployment folder?"
    );
    assert!(!machine.path("home/.local/bin/herald").exists());
}
