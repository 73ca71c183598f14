//! `herald service install | uninstall | status`: keeps a deployment running under the
//! machine's service manager, a systemd unit on Linux ([`systemd`]) or a launchd job on macOS
//! ([`launchd`]), both pointing at a stable copy of the binary (never a build or toolchain
//! folder), so that installing again after an upgrade swaps the binary and restarts herald.
//!
//! Everything the commands touch on the machine (the folders, the user, the manager's own
//! programs) comes from a [`Host`], so tests run them against a temp home and fake
//! `systemctl` / `journalctl` / `launchctl` scripts. The unit and the plist are rendered from
//! templates beside this file; each value is escaped for its format by a filter.

pub mod launchd;
pub mod systemd;

mod host;

use std::path::{Path, PathBuf};

pub use host::{Host, Invocation, Manager, Say, Scope, ServiceError, ServiceUser, BINARY_NAME};

impl Host {
    /// The unit file or plist.
    pub fn unit_file(&self) -> PathBuf {
        match self.manager {
            Manager::Systemd => self.unit_dir.join(systemd::UNIT),
            Manager::Launchd => self.unit_dir.join(format!("{}.plist", launchd::LABEL)),
        }
    }
}

/// Copies `exe` to the stable path, writes the unit (or plist) and has the manager (re)start
/// herald. Installing again replaces the binary and the unit and restarts herald.
pub fn install(
    host: &Host,
    invocation: &Invocation,
    exe: &Path,
    say: Say<'_>,
) -> Result<(), ServiceError> {
    match host.manager {
        Manager::Systemd => systemd::install(host, invocation, exe, say),
        Manager::Launchd => launchd::install(host, invocation, exe, say),
    }
}

/// Stops herald, disables it and removes the unit (or plist); keeps the binary, the
/// deployment folder and the logs.
pub fn uninstall(host: &Host, say: Say<'_>) -> Result<(), ServiceError> {
    match host.manager {
        Manager::Systemd => systemd::uninstall(host, say),
        Manager::Launchd => launchd::uninstall(host, say),
    }
}

/// Prints the unit's state, its last start and the last 10 log lines; whether herald runs.
pub fn status(host: &Host, say: Say<'_>) -> Result<bool, ServiceError> {
    match host.manager {
        Manager::Systemd => systemd::status(host, say),
        Manager::Launchd => launchd::status(host, say),
    }
}
