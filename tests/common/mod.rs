//! Shared test harness: a copy of the shipped example deployment in a temp folder, a secrets
//! file with fake tokens, a simulator that knows the deployment, and ways to run herald
//! against it (in-process or as the real binary).
#![allow(dead_code)]

#[cfg(feature = "fault-injection")]
pub mod burst;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use herald::clock::Clock;
use herald::config::{self, Config};
use herald::fleet::{RunOptions, RunningFleet};
use herald::outbox::sender::SenderSettings;
use herald::schedule::runner::SchedulerSettings;
use herald_sim::{SentRecord, Simulator};

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// How long a harness wait may go on before it fails the test: a guard against a test that
/// would otherwise hang, generous enough for a loaded two-core machine, never a measure of
/// speed.
pub const PATIENCE: Duration = Duration::from_secs(60);

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

    /// The example roster's operator (Telegram user id).
    pub fn operator(&self) -> i64 {
        self.config()
            .roster
            .members_with_role(herald::roster::Role::Operator)
            .next()
            .expect("the example roster has an operator")
            .telegram_id
    }

    /// A roster member who is not an operator (Telegram user id).
    pub fn member(&self) -> i64 {
        self.config()
            .roster
            .members()
            .iter()
            .find(|m| !m.roles.contains(&herald::roster::Role::Operator))
            .expect("the example roster has a member who is not an operator")
            .telegram_id
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

    /// The example deployment with `[xero]` pointing at `fake` and its client credentials
    /// (and, if given, a refresh token) in the secrets file.
    pub fn with_xero(
        fake: &herald_sim::xero::FakeXero,
        tenant_id: &str,
        refresh_token: Option<&str>,
    ) -> Deployment {
        let deployment = Deployment::example();
        deployment.append("herald.toml", &fake.deployment_toml(tenant_id));
        herald_sim::xero::FakeXero::write_secrets(&deployment.secrets, refresh_token)
            .expect("secrets writable");
        deployment
    }

    /// A simulator that knows this deployment, edited by `edit` (a clock, privacy mode...).
    pub async fn simulator_with(&self, edit: impl FnOnce(&mut herald_sim::SimConfig)) -> Simulator {
        let config = self.config();
        let mut sim_config = herald::sandbox::sim_config(&config, &self.tokens);
        edit(&mut sim_config);
        Simulator::start(sim_config)
            .await
            .expect("simulator starts")
    }

    /// Replaces the first `from` with `to` in `bots/<file>` of this deployment.
    pub fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.path().join("bots").join(file);
        let text = std::fs::read_to_string(&path).expect("config file");
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("config file writable");
    }

    /// Appends `text` to `bots/<file>` of this deployment.
    pub fn append(&self, file: &str, text: &str) {
        use std::io::Write;
        let path = self.path().join("bots").join(file);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("config file exists");
        f.write_all(text.as_bytes()).expect("config file writable");
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
                alert_retry: Duration::from_millis(300),
                ..SenderSettings::default()
            },
            scheduler: SchedulerSettings {
                watchdog_every: Duration::from_millis(100),
                ..SchedulerSettings::default()
            },
            force: false,
            healthy_after: Duration::from_secs(60),
            desk: None,
            lease: herald::store::lease::LeaseSettings::default(),
            store_retry: herald::store::retry::RetryPolicy::default(),
            http: None,
        }
    }

    /// Starts `herald` as a child process with every log line (RUST_LOG=trace) captured in a
    /// file (a pipe nobody reads would fill up and block it).
    pub fn spawn_herald(&self, sim: &Simulator, args: &[&str]) -> Herald {
        self.spawn_command(self.herald(sim, args))
    }

    /// Starts a prepared `herald` command with its output captured in a file.
    pub fn spawn_command(&self, mut command: Command) -> Herald {
        let log = self.path().join(format!(
            "herald-{}.log",
            LOGS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let file = std::fs::File::create(&log).expect("log file");
        command
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        let child = command.spawn().expect("spawn herald");
        Herald { child, log }
    }

    /// `herald` with this deployment's options but no `--db`: the deployment's own
    /// `state/herald.db`, as `herald xero connect` and `herald check` find it.
    pub fn herald_on_default_db(&self, sim: &Simulator, args: &[&str]) -> Command {
        let mut command = herald();
        command
            .arg("--config")
            .arg(self.path())
            .arg("--telegram-api-url")
            .arg(sim.base_url())
            .arg("--secrets")
            .arg(&self.secrets)
            .args(args);
        command
    }

    /// `herald` with this deployment's options, pointed at `sim`.
    pub fn herald(&self, sim: &Simulator, args: &[&str]) -> Command {
        let mut command = herald();
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
            .stdin(Stdio::null());
        command
    }
}

/// The `herald` binary with none of its environment settings inherited from the caller.
pub fn herald() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    for var in [
        "HERALD_CONFIG",
        "HERALD_DB",
        "HERALD_SECRETS",
        "HERALD_TELEGRAM_API_URL",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    command
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

static LOGS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A running `herald` child and the file its stdout and stderr go to. Killed when dropped
/// still running (a test that failed half-way leaves no herald behind).
pub struct Herald {
    pub child: Child,
    pub log: PathBuf,
}

impl Drop for Herald {
    fn drop(&mut self) {
        if !self.exited() {
            // SAFETY: kill(2) on our own child's pid; a stopped child must run to die.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGCONT) };
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Output of a finished child: exit code and all of stdout + stderr.
pub struct Finished {
    pub code: Option<i32>,
    pub output: String,
}

impl Herald {
    /// Has it exited?
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    /// Everything it has written so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (without blocking the runtime) for the exit; its status and all its output.
    /// Fails, showing the output, if it has not exited within [`PATIENCE`].
    pub async fn exit(&mut self) -> (ExitStatus, String) {
        let mut status = None;
        let exited = try_wait_until(PATIENCE, || {
            status = self.child.try_wait().expect("try_wait");
            std::future::ready(status.is_some())
        })
        .await;
        match status {
            Some(status) if exited => (status, self.output()),
            _ => panic!(
                "herald did not exit within {PATIENCE:?}:\n{}",
                self.output()
            ),
        }
    }

    /// SIGTERM, then [`Herald::exit`].
    pub async fn stop(&mut self) -> (ExitStatus, String) {
        self.terminate();
        self.exit().await
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Sends SIGINT (Ctrl-C).
    pub fn interrupt(&self) {
        self.signal(libc::SIGINT);
    }

    /// Sends `signal`.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "signal {signal} failed");
    }

    /// Waits (without blocking the runtime) for the exit: its code and output. Fails (and
    /// kills it) if it has not exited within [`PATIENCE`].
    pub async fn wait(mut self) -> Finished {
        let (status, output) = self.exit().await;
        Finished {
            code: status.code(),
            output,
        }
    }
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

/// `user` DMs `bot` (its username) `text`; returns the first message sent from then on that
/// contains `needle`, failing the test after [`PATIENCE`].
pub async fn ask(sim: &Simulator, user: i64, bot: &str, text: &str, needle: &str) -> SentRecord {
    let before = sim.sent().len();
    sim.user_dms(user, bot, text);
    let found = |sent: &[SentRecord]| {
        sent.iter()
            .skip(before)
            .find(|s| s.text.contains(needle))
            .cloned()
    };
    match sim.wait_for(|sent| found(sent).is_some(), PATIENCE).await {
        Ok(sent) => found(&sent).expect("found"),
        Err(_) => panic!("no answer to {text:?} containing {needle:?} within {PATIENCE:?}"),
    }
}

/// Waits until the simulator has seen seven `getUpdates` more than `before` (all seven bots
/// polling: start-up is over); fails, showing the log at `log`, if that does not happen
/// within [`PATIENCE`].
pub async fn wait_until_polling(sim: &Simulator, before: usize, log: &Path) {
    if !try_wait_until(PATIENCE, || {
        std::future::ready(sim.calls("getUpdates") >= before + 7)
    })
    .await
    {
        panic!(
            "herald is not polling:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

/// Checks `done` every few milliseconds until it holds; false if it still does not after
/// `patience`. For conditions herald gives no signal for (a row's state in another
/// process's database, a child's exit): the limit is a guard against hanging, never a measure
/// of speed.
pub async fn try_wait_until<F, Fut>(patience: Duration, mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    try_find(patience, || {
        let done = done();
        async { done.await.then_some(()) }
    })
    .await
    .is_some()
}

/// [`try_wait_until`] for a condition that yields what it found: asks `look` every few
/// milliseconds until it gives something; `None` if it still has not after `patience`.
pub async fn try_find<T, F, Fut>(patience: Duration, mut look: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(found) = look().await {
            return Some(found);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// [`try_find`] with [`PATIENCE`], failing the test with `what` if `look` never gives anything.
pub async fn find<T, F, Fut>(what: &str, look: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match try_find(PATIENCE, look).await {
        Some(found) => found,
        None => panic!("waited {PATIENCE:?} in vain for {what}"),
    }
}

/// [`try_wait_until`] with [`PATIENCE`], failing the test with `what` if `done` never holds.
pub async fn wait_until<F, Fut>(what: &str, done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    if !try_wait_until(PATIENCE, done).await {
        panic!("waited {PATIENCE:?} in vain for {what}");
    }
}

/// Waits until the in-process `fleet` has finished reacting to everything that happened so
/// far, so that a test may then assert that something did *not* happen:
/// 1. every update the simulator holds for its bots has been handled: a poller confirms an
///    update (the offset of its next `getUpdates`) only after committing its handling;
/// 2. then every sender, the scheduler and its watchdog have looked at the database and found
///    nothing to do, with no work done by any of them since ([`herald::activity`]).
///
/// Fails, naming what is still busy, after [`PATIENCE`].
pub async fn settled(sim: &Simulator, fleet: &RunningFleet) {
    settled_within(sim, fleet, PATIENCE).await;
}

/// [`settled`] with a limit of its own (a drain of many thousand updates).
pub async fn settled_within(sim: &Simulator, fleet: &RunningFleet, patience: Duration) {
    let started = tokio::time::Instant::now();
    let handled = try_wait_until(patience, || {
        std::future::ready(
            fleet
                .verified()
                .iter()
                .all(|bot| sim.pending_updates(&bot.username) == 0),
        )
    })
    .await;
    if !handled {
        let waiting: Vec<(String, usize)> = fleet
            .verified()
            .iter()
            .map(|bot| (bot.username.clone(), sim.pending_updates(&bot.username)))
            .filter(|(_, n)| *n > 0)
            .collect();
        panic!("updates not handled within {patience:?}: {waiting:?}");
    }
    let rest = patience.saturating_sub(started.elapsed());
    if tokio::time::timeout(rest, fleet.activity().settled())
        .await
        .is_err()
    {
        panic!(
            "herald did not settle within {patience:?}; still busy: {:?}",
            fleet.activity().busy()
        );
    }
}

/// `user` taps button `index` of the first row of `card`'s keyboard (a card `bot` sent):
/// the tap's query id.
pub fn tap_card(sim: &Simulator, user: i64, bot: &str, card: &SentRecord, index: usize) -> String {
    let data = card.reply_markup.as_ref().expect("buttons")["inline_keyboard"][0][index]
        ["callback_data"]
        .as_str()
        .expect("callback data")
        .to_owned();
    sim.user_taps(user, bot, card.chat_id, card.message_id, &data)
}

/// The answer to tap `query`, once given (within [`PATIENCE`]).
pub async fn answer_of(sim: &Simulator, query: &str) -> String {
    sim.wait_for_callback_answer(query, PATIENCE)
        .await
        .unwrap_or_else(|| panic!("tap {query} was not answered"))
}

/// The rows of `sql` (one text column) in the running fleet's database.
pub async fn table(fleet: &RunningFleet, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sql)
        .fetch_all(fleet.store().reader())
        .await
        .expect("query")
}
