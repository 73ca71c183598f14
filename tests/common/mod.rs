//! Shared test harness: a copy of the shipped example deployment in a temp folder, a secrets
//! file with fake tokens, a simulator that knows the deployment, and ways to run herald
//! against it (in-process or as the real binary).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use herald::clock::Clock;
use herald::config::{self, Config};
use herald::fleet::RunOptions;
use herald::outbox::sender::SenderSettings;
use herald::sim::Simulator;

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A deployment folder (copy of the shipped example) with its secrets and database paths.
pub struct Deployment {
    pub dir: tempfile::TempDir,
    pub tokens: BTreeMap<&'static str, String>,
    pub secrets: PathBuf,
}

impl Deployment {
    /// The shipped example with fake tokens written to a mode-600 secrets file.
    pub fn example() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(&Path::new(REPO).join("bots"), &dir.path().join("bots"));
        copy_dir(
            &Path::new(REPO).join("templates"),
            &dir.path().join("templates"),
        );
        let tokens = herald::sandbox::sandbox_tokens();
        let secrets = dir.path().join("secrets").join("secrets.json");
        std::fs::create_dir_all(secrets.parent().unwrap()).unwrap();
        let deployment = Self {
            dir,
            tokens,
            secrets,
        };
        deployment.write_secrets(&deployment.tokens.clone());
        deployment
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> Config {
        config::load(self.path()).expect("example config loads")
    }

    /// Rewrites the secrets file with `tokens` (mode 600).
    pub fn write_secrets(&self, tokens: &BTreeMap<&'static str, String>) {
        let _ = std::fs::remove_file(&self.secrets);
        herald::sandbox::write_secrets(&self.config(), tokens, &self.secrets)
            .expect("write secrets");
    }

    pub fn db_url(&self) -> String {
        format!("sqlite://{}", self.db_path().display())
    }

    pub fn db_path(&self) -> PathBuf {
        self.path().join("state").join("test.db")
    }

    /// A simulator that knows this deployment and the real tokens.
    pub async fn simulator(&self) -> Simulator {
        let config = self.config();
        Simulator::start(herald::sandbox::sim_config(&config, &self.tokens))
            .await
            .expect("simulator starts")
    }

    /// In-process run options against `sim`.
    pub fn run_options(&self, sim: &Simulator) -> RunOptions {
        RunOptions {
            config_dir: self.path().to_owned(),
            db_url: self.db_url(),
            api_url: sim.base_url(),
            secrets_override: Some(self.secrets.clone()),
            clock: Clock::system(),
            poll_seconds: 1,
            verify_timeout: Duration::from_secs(5),
            sender: SenderSettings {
                idle_poll: Duration::from_millis(50),
                ..SenderSettings::default()
            },
        }
    }

    /// `herald` as a child process with every log line captured (RUST_LOG=trace).
    pub fn herald(&self, sim: &Simulator, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
        command
            .arg("--config")
            .arg(self.path())
            .arg("--db")
            .arg(self.db_url())
            .arg("--telegram-api-url")
            .arg(sim.base_url())
            .arg("--secrets")
            .arg(&self.secrets)
            .args(args)
            .env("RUST_LOG", "trace")
            .env_remove("HERALD_CONFIG")
            .env_remove("HERALD_DB")
            .env_remove("HERALD_SECRETS")
            .env_remove("HERALD_TELEGRAM_API_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Output of a finished child: exit code and all of stdout + stderr.
pub struct Finished {
    pub code: Option<i32>,
    pub output: String,
}

/// Waits for `child` to exit within `timeout`, killing it otherwise.
pub fn wait_with_timeout(mut child: Child, timeout: Duration) -> Finished {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            return Finished {
                code: status.code(),
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
            };
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "herald did not exit within {timeout:?}:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGTERM to `child`.
pub fn terminate(child: &Child) {
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0, "SIGTERM failed");
}

/// Asserts no token (nor its secret part) appears in `text`.
pub fn assert_no_token(text: &str, tokens: &BTreeMap<&'static str, String>) {
    for (name, token) in tokens {
        assert!(
            !text.contains(token.as_str()),
            "{name}'s token leaked:\n{text}"
        );
        let secret = token.split(':').nth(1).unwrap_or(token);
        assert!(
            !text.contains(secret),
            "{name}'s token secret leaked:\n{text}"
        );
    }
}
