//! Start-up and the running fleet. Order matters: configuration, secrets and templates are
//! validated first (no side effect on failure), then every token is verified with `getMe`
//! (a swapped, dead or silent token stops the start, naming the identity), and only then is
//! the database opened, under its lease (one `herald run` per database: a second one is
//! refused before it changes anything), and a poller and a sender launched per identity.
//!
//! The fleet stops on its own when a task fails, when the lease is lost (another instance
//! took the database over: exit 1, one line naming it, nothing more written), or when the
//! store gives up on the database (a persistent failure: one line and, where possible, a
//! last DM to the operators sent directly, since the outbox lives in that database).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::secrets::{SecretStore, Token};
use crate::config::{self, Config, Finding};
use crate::identity::{visit_all, IdentityVisitor, Poster, VerifiedBot};
use crate::inbound::common::handler_tree;
use crate::inbound::poller::{PollError, Poller};
use crate::inbound::{base_dependencies, Behaviour, BotContext, CommandRouting};
use crate::jobs::JobSpec;
use crate::outbox::alerts::ConsoleChannel;
use crate::outbox::sender::{Sender, SenderError, SenderSettings};
use crate::roster::Roster;
use crate::schedule::runner::{
    BoundJob, JobRunner, RunContext, Scheduler, SchedulerError, SchedulerSettings,
};
use crate::sources::leave::{LeaveSource, RosterLeave};
use crate::store::audit::{self, AuditEntry};
use crate::store::lease::{LeaseLost, LeaseSettings};
use crate::store::retry::{PersistentFailure, RetryPolicy};
use crate::store::{Store, StoreError};
use crate::telegram::{CallError, TelegramClient};
use crate::templates::{TemplateError, Templates};

/// Everything `herald run` (and the sandbox) needs to start.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config_dir: PathBuf,
    pub db_url: String,
    pub api_url: String,
    pub secrets_override: Option<PathBuf>,
    pub clock: Clock,
    /// Long-poll timeout passed to `getUpdates`.
    pub poll_seconds: u64,
    /// How long each `getMe` may take at start.
    pub verify_timeout: Duration,
    pub sender: SenderSettings,
    pub scheduler: SchedulerSettings,
    /// Start normally even after repeated unhealthy boots (`herald run --force`).
    pub force: bool,
    /// How long a boot must run without a fatal error to count as healthy.
    pub healthy_after: Duration,
    /// Pacing of the approval desk; `None` takes it from `[approvals]` (tests go faster).
    pub desk: Option<crate::approvals::DeskSettings>,
    /// The database lease: TTL and renewal (shorter only in tests).
    pub lease: LeaseSettings,
    /// How long transient database failures are waited out (shorter only in tests).
    pub store_retry: RetryPolicy,
}

/// Why the start was refused. Every variant's text names the file or identity at fault.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration has problems:\n{}", lines(.0))]
    Config(Vec<Finding>),
    #[error("cannot read the configuration: {0}")]
    ConfigUnreadable(String),
    #[error("{0}")]
    Templates(#[from] TemplateError),
    #[error("identity verification failed:\n{}", .0.join("\n"))]
    Verify(Vec<String>),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Client(#[from] crate::telegram::ClientBuildError),
    #[error("database error at start: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Scheduler(#[from] SchedulerError),
}

/// Why a running fleet stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Poll(#[from] PollError),
    #[error(transparent)]
    Sender(#[from] SenderError),
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    #[error(transparent)]
    Approvals(#[from] crate::approvals::DeskError),
    #[error("a task of herald panicked: {0}")]
    Panicked(String),
    #[error("{0}")]
    LeaseLost(Box<LeaseLost>),
    #[error("the database lease could not be renewed: {0}")]
    Lease(sqlx::Error),
    #[error("{0}")]
    StoreFailed(Box<PersistentFailure>),
}

fn lines(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A started fleet: pollers and senders running until [`RunningFleet::stop`] or a fatal error.
pub struct RunningFleet {
    store: Store,
    clock: Clock,
    shutdown: CancellationToken,
    tasks: JoinSet<Result<(), RunError>>,
    verified: Vec<VerifiedSummary>,
    /// This boot's row in `boots` (crash-loop guard).
    boot_id: i64,
    /// The database lease, given back at a clean stop.
    lease: crate::store::lease::Lease,
    /// How to reach the operators when the database itself has failed.
    last_words: Option<LastWords>,
    /// How far the senders, the scheduler and its watchdog have got.
    activity: crate::activity::Activity,
}

/// A direct DM to the operators through the console bot, for the one case the outbox
/// cannot carry: the database holding it has failed for good. Sent once, never retried.
struct LastWords {
    client: TelegramClient,
    token: Token,
    operators: Vec<i64>,
}

impl LastWords {
    async fn send(&self, failure: &PersistentFailure) {
        let text = crate::console_texts::render(
            "herald_stopped.html",
            minijinja::context! { cause => failure.to_string() },
        );
        for &operator in &self.operators {
            let body = serde_json::json!({
                "chat_id": operator,
                "text": text,
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": true},
            });
            match self
                .client
                .call(&self.token, "sendMessage", &body, Duration::from_secs(5))
                .await
            {
                Ok(_) => tracing::info!(operator, "told the operator herald stopped"),
                Err(e) => {
                    tracing::error!(operator, error = %e, "could not tell the operator herald stopped")
                }
            }
        }
    }
}

/// What start-up learned about one bot (for printing and the sandbox).
#[derive(Debug, Clone)]
pub struct VerifiedSummary {
    pub identity: &'static str,
    pub username: String,
    pub can_read_all_group_messages: bool,
}

/// Validates configuration, verifies every identity and launches the fleet.
pub async fn start(options: &RunOptions) -> Result<RunningFleet, StartError> {
    let config = config::load(&options.config_dir).map_err(|e| match e {
        config::ConfigError::Findings(findings) => StartError::Config(findings),
        other => StartError::ConfigUnreadable(other.to_string()),
    })?;
    let secrets = SecretStore::new(
        &config.deployment,
        &config.dir,
        options.secrets_override.as_deref(),
    );
    let tokens = config::resolve_tokens(&config, &secrets).map_err(StartError::Config)?;
    let templates = Arc::new(Templates::load(&config.dir.join("templates"))?);
    let secrets = Arc::new(secrets);
    let xero = match &config.deployment.xero {
        Some(file) => Some(Arc::new(
            crate::sources::xero::XeroClient::from_config(
                file,
                secrets.clone(),
                options.clock.clone(),
            )
            .map_err(|e| StartError::ConfigUnreadable(format!("bots/herald.toml: [xero]: {e}")))?,
        )),
        None => None,
    };
    let job_findings = crate::jobs::check_jobs(&config, &templates);
    if !job_findings.is_empty() {
        return Err(StartError::Config(job_findings));
    }
    let client = TelegramClient::new(&options.api_url)?;

    let roster = Arc::new(config.roster.clone());
    let shared = Shared {
        leave: Arc::new(RosterLeave::new(roster.clone())),
        xero,
        roster,
        routing: Arc::new(CommandRouting::from_config(&config)),
        templates,
        config: Arc::new(config),
        tokens,
        client,
        options: options.clone(),
    };

    let mut verify = Verify {
        shared: &shared,
        pending: Vec::new(),
    };
    visit_all(&mut verify);
    let results = futures::future::join_all(verify.pending).await;
    let mut failures = Vec::new();
    let mut launchers = Vec::new();
    for result in results {
        match result {
            Ok(launcher) => launchers.push(launcher),
            Err(reason) => failures.push(reason),
        }
    }
    if !failures.is_empty() {
        return Err(StartError::Verify(failures));
    }

    let (store, lease) =
        Store::open_leased(&options.db_url, &options.lease, options.store_retry.clone()).await?;
    // Renewed from now on, even while the rest of start-up runs; if start-up fails, the
    // task set is dropped and the lease lapses (or is taken at once on this host).
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    {
        let (lease, stop) = (lease.clone(), shutdown.clone());
        tasks.spawn(async move { lease.keep(&stop).await.map_err(RunError::Lease) });
    }
    let clock = options.clock.clone();
    let started_at = clock.now();
    let console = ConsoleChannel::new(shared.config.console(), shared.roster.clone());
    let detail = format!(
        "config {}, {} identities verified",
        shared.config.dir.display(),
        launchers.len()
    );
    let (boot_id, crash_loop) = store
        .retry("recording this boot", || {
            record_boot(&store, &console, options.force, started_at, &detail)
        })
        .await?;
    let diagnose = !crash_loop.is_empty();
    let recovered = store
        .retry("recovering interrupted sends", || {
            crate::outbox::recover_interrupted_sends(&store, clock.now(), &console)
        })
        .await?;
    if recovered > 0 {
        tracing::error!(
            recovered,
            "sends interrupted by the last stop are now ambiguous; the operator was told"
        );
    }

    let last_words = shared
        .tokens
        .get(shared.config.console())
        .map(|token| LastWords {
            client: shared.client.clone(),
            token: token.clone(),
            operators: console.operator_ids(),
        });
    let mut fleet = RunningFleet {
        store: store.clone(),
        clock: clock.clone(),
        shutdown,
        tasks,
        verified: Vec::new(),
        boot_id,
        lease,
        last_words,
        activity: crate::activity::Activity::new(),
    };
    let mut specs = Vec::new();
    for (&bot, file) in &shared.config.bots {
        for job in &file.jobs {
            let spec = JobSpec::from_file(bot, job, &shared.roster)
                .map_err(|e| StartError::ConfigUnreadable(format!("bots/{bot}.toml: {e}")))?;
            specs.push(Arc::new(spec));
        }
    }
    let launch = Launch {
        shared: &shared,
        store: store.clone(),
        console: console.clone(),
        wake: Arc::new(Notify::new()),
        jobs: std::sync::Mutex::new(Vec::new()),
        specs: Arc::new(specs),
        started_at,
        diagnose,
    };
    for launcher in launchers {
        let summary = launcher(&launch, &mut fleet).await?;
        tracing::info!(bot = summary.identity, username = %summary.username, "verified and running");
        fleet.verified.push(summary);
    }
    if diagnose {
        return Ok(fleet);
    }
    let healthy_after = options.healthy_after;
    let (healthy_store, healthy_clock, stop) =
        (store.clone(), clock.clone(), fleet.shutdown.clone());
    fleet.tasks.spawn(async move {
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(healthy_after) => {
                let healthy = healthy_store.retry("recording that this boot is healthy", || async {
                    let mut tx = healthy_store.begin_write().await?;
                    crate::store::boots::mark_healthy(&mut tx, boot_id, healthy_clock.now()).await?;
                    tx.commit().await
                }).await;
                if let Err(e) = healthy {
                    tracing::error!(error = %e, "could not record that this boot is healthy");
                }
            }
        }
        Ok(())
    });
    let retention_days = shared.config.deployment.audit_retention_days;
    let jobs = launch.jobs.into_inner().unwrap_or_default();
    let scheduler = Scheduler::new(jobs, store, clock, console, options.scheduler.clone())
        .with_audit_retention(retention_days)
        .reporting_to(&fleet.activity);
    scheduler.prepare().await?;
    let watchdog = scheduler.watchdog().reporting_to(&fleet.activity);
    let stop = fleet.shutdown.clone();
    fleet
        .tasks
        .spawn(async move { scheduler.run(stop).await.map_err(RunError::from) });
    let stop = fleet.shutdown.clone();
    fleet
        .tasks
        .spawn(async move { watchdog.run(stop).await.map_err(RunError::from) });
    Ok(fleet)
}

/// One unit of work at start: the crash-loop look, this boot's row, its audit entry and, in
/// diagnose mode, the operator's DM. Returns the boot's id and the unhealthy boots found.
async fn record_boot(
    store: &Store,
    console: &ConsoleChannel,
    force: bool,
    started_at: chrono::DateTime<chrono::Utc>,
    detail: &str,
) -> Result<(i64, Vec<crate::store::boots::UnhealthyBoot>), sqlx::Error> {
    let mut tx = store.begin_write().await?;
    let crash_loop = if force {
        Vec::new()
    } else {
        crate::store::boots::crash_loop(&mut tx, started_at).await?
    };
    let diagnose = !crash_loop.is_empty();
    let boot_id = crate::store::boots::record_start(&mut tx, started_at, diagnose).await?;
    audit::record(
        &mut tx,
        started_at,
        &AuditEntry::new(
            "boot",
            match (diagnose, force) {
                (true, _) => "started in diagnose mode",
                (false, true) => "started (--force)",
                (false, false) => "started",
            },
        )
        .detail(detail),
    )
    .await?;
    if diagnose {
        tracing::error!("the last boots never became healthy: starting in diagnose mode");
        let mut html = format!(
            "🩺 <b>herald started in diagnose mode</b>: the last {} boots (within {} minutes) never became healthy. No jobs run and no bot posts; /status and /log work here.\nLast errors:",
            crash_loop.len(),
            crate::store::boots::WINDOW_MINUTES
        );
        for boot in &crash_loop {
            html.push_str(&format!(
                "\n• {}: {}",
                html_escape::encode_text(&boot.started_at),
                html_escape::encode_text(
                    boot.outcome
                        .as_deref()
                        .unwrap_or("ended without a clean stop (killed or crashed)")
                )
            ));
        }
        html.push_str("\nFix the cause, then restart with <code>herald run --force</code>.");
        if let Err(e) = console.alert(&mut tx, &html, None, started_at).await {
            tracing::error!(error = %e, "the diagnose-mode DM could not be queued");
        }
    }
    tx.commit().await?;
    Ok((boot_id, crash_loop))
}

impl RunningFleet {
    pub fn verified(&self) -> &[VerifiedSummary] {
        &self.verified
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// How far the senders, the scheduler and its watchdog have got: lets a caller wait until
    /// herald has finished reacting ([`crate::activity::Activity::settled`]).
    pub fn activity(&self) -> &crate::activity::Activity {
        &self.activity
    }

    /// Waits until `stop` is cancelled (then shuts down cleanly) or a task fails (then
    /// stops the others and returns its error). Losing the lease or a persistent database
    /// failure stops it too, and is the error reported whatever the tasks said.
    pub async fn run_until(mut self, stop: CancellationToken) -> Result<(), RunError> {
        let mut first_error = None;
        let lease_lost = self.store.lease_lost_signal();
        let store_failed = self.store.failed_signal();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = lease_lost.cancelled() => break,
                _ = store_failed.cancelled() => break,
                joined = self.tasks.join_next() => match joined {
                    None => break,
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(e))) => { first_error = Some(e); break; }
                    Some(Err(e)) => { first_error = Some(RunError::Panicked(e.to_string())); break; }
                },
            }
        }
        self.shutdown.cancel();
        // A unit of work waiting out the database gives up now rather than hold up the stop.
        self.store.stop_retrying();
        if first_error.is_some() && self.store.lease_lost().is_none() {
            // A task failed (a 409 from Telegram, say): was it because another instance
            // took the database over? Then that is the one thing to say.
            if let Err(e) = self.store.check_lease().await {
                tracing::debug!(error = %e, "the lease check at stop failed");
            }
        }
        while let Some(joined) = self.tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                // The lease is reported once, below.
                Ok(Err(e)) if self.store.lease_lost().is_some() => {
                    tracing::debug!(error = %e, "task stopped: lease lost")
                }
                Ok(Err(e)) => tracing::error!(error = %e, "task failed during shutdown"),
                Err(e) => tracing::error!(error = %e, "task panicked during shutdown"),
            }
        }
        if let Some(lost) = self.store.lease_lost() {
            // Another instance holds the database: write nothing more, not even how this
            // boot ended (its row stays without an end, like a killed boot's).
            self.store.close().await;
            return Err(RunError::LeaseLost(Box::new(lost)));
        }
        let failure = self.store.persistent_failure();
        if let Some(failure) = &failure {
            first_error = Some(RunError::StoreFailed(Box::new(failure.clone())));
        }
        let outcome = match &first_error {
            None => "stopped".to_owned(),
            Some(e) => e.to_string(),
        };
        let decision = match &first_error {
            None => "stopped".to_owned(),
            Some(e) => format!("stopped on error: {e}"),
        };
        let (store, lease, boot_id, at) =
            (&self.store, &self.lease, self.boot_id, self.clock.now());
        let ended = async {
            let mut tx = store.begin_write().await?;
            crate::store::boots::mark_ended(&mut tx, boot_id, at, &outcome).await?;
            audit::record(&mut tx, at, &AuditEntry::new("boot", decision.as_str())).await?;
            lease.release(&mut tx).await?;
            tx.commit().await
        };
        // The database failed: tell the operators first, then try to record the end anyway.
        if let (Some(failure), Some(last_words)) = (&failure, &self.last_words) {
            last_words.send(failure).await;
        }
        if let Err(e) = ended.await {
            tracing::error!(error = %e, "could not record how this boot ended, nor release the database lease");
        }
        self.store.close().await;
        match first_error {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    /// Stops the fleet cleanly and waits for its tasks.
    pub async fn stop(self) -> Result<(), RunError> {
        let stop = CancellationToken::new();
        stop.cancel();
        self.run_until(stop).await
    }
}

/// What start-up shares with every identity.
struct Shared {
    config: Arc<Config>,
    roster: Arc<Roster>,
    routing: Arc<CommandRouting>,
    templates: Arc<Templates>,
    /// Who is on leave: the roster file's `[[leave]]` entries.
    leave: Arc<dyn LeaveSource>,
    /// The Xero client, when `[xero]` is configured.
    xero: Option<Arc<crate::sources::xero::XeroClient>>,
    tokens: BTreeMap<&'static str, Token>,
    client: TelegramClient,
    options: RunOptions,
}

type Launcher<'a> = Box<
    dyn for<'l> FnOnce(
            &'l Launch<'a>,
            &'l mut RunningFleet,
        ) -> BoxFuture<'l, Result<VerifiedSummary, StartError>>
        + Send
        + 'a,
>;

struct Verify<'a> {
    shared: &'a Shared,
    pending: Vec<BoxFuture<'a, Result<Launcher<'a>, String>>>,
}

impl<'a> IdentityVisitor for Verify<'a> {
    fn visit<I: Behaviour>(&mut self) {
        let shared = self.shared;
        self.pending.push(Box::pin(async move {
            let verified = verify::<I>(shared).await?;
            let launcher: Launcher<'a> =
                Box::new(move |launch, fleet| Box::pin(launch.identity(verified, fleet)));
            Ok(launcher)
        }));
    }
}

/// Checks that `I`'s token answers `getMe` with `I`'s configured username.
async fn verify<I: Behaviour>(shared: &Shared) -> Result<VerifiedBot<I>, String> {
    let expected = shared
        .config
        .bot(I::NAME)
        .map(|b| b.username.clone())
        .ok_or_else(|| format!("{}: no bots/{}.toml", I::NAME, I::NAME))?;
    let token = shared
        .tokens
        .get(I::NAME)
        .cloned()
        .ok_or_else(|| format!("{}: no token resolved", I::NAME))?;
    let timeout = shared.options.verify_timeout;
    // The outer deadline decides; the HTTP timeout is only a backstop behind it.
    let answer = tokio::time::timeout(timeout, shared.client.get_me(&token, timeout * 2)).await;
    let user = match answer {
        Err(_) => {
            return Err(format!(
                "{}: getMe did not answer within {} s; is Telegram reachable at the API URL?",
                I::NAME,
                timeout.as_secs_f32()
            ))
        }
        Ok(Err(e @ CallError::Rejected { .. })) if e.is_unauthorized() => {
            return Err(format!(
                "{}: Telegram rejected the token (401 Unauthorized): it was revoked or mistyped; get a new one from BotFather",
                I::NAME
            ))
        }
        Ok(Err(e)) => return Err(format!("{}: getMe failed: {e}", I::NAME)),
        Ok(Ok(user)) => user,
    };
    let actual = user.username.clone().unwrap_or_default();
    if !actual.eq_ignore_ascii_case(&expected) {
        let owner = shared
            .config
            .bots
            .iter()
            .find(|(_, b)| b.username.eq_ignore_ascii_case(&actual))
            .map(|(name, _)| *name);
        return Err(match owner {
            Some(other) => format!(
                "{}: the token answers as @{actual}, which is {other}'s username: tokens swapped? expected @{expected}",
                I::NAME
            ),
            None => format!(
                "{}: the token answers as @{actual}, expected @{expected}",
                I::NAME
            ),
        });
    }
    Ok(VerifiedBot::new(
        token,
        user.id,
        user.can_read_all_group_messages,
    ))
}

struct Launch<'a> {
    shared: &'a Shared,
    /// Every job's spec, for the console.
    specs: Arc<Vec<Arc<JobSpec>>>,
    started_at: chrono::DateTime<chrono::Utc>,
    /// Diagnose mode: only the console identity polls and sends.
    diagnose: bool,
    store: Store,
    console: ConsoleChannel,
    wake: Arc<Notify>,
    /// Every identity's jobs, bound to its poster, for the one scheduler.
    jobs: std::sync::Mutex<Vec<Arc<dyn BoundJob>>>,
}

impl Launch<'_> {
    /// An identity that must see every group message has privacy mode on: it would miss
    /// plain messages (daily updates). Said loudly: an ERROR line, the audit log and a DM to
    /// the operators, at every start until it is fixed.
    async fn warn_privacy_mode<I: Behaviour>(
        &self,
        username: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StartError> {
        let problem = format!(
            "{} (@{username}) has Telegram privacy mode on, so it sees only commands, replies and \
             mentions in the group and will miss plain messages such as daily updates. Fix: in \
             @BotFather, /setprivacy, pick @{username}, Disable; then remove the bot from the \
             group and add it again.",
            I::NAME
        );
        tracing::error!(bot = I::NAME, "{problem}");
        let mut tx = self.store.begin_write().await?;
        let entry = AuditEntry::new("boot", "warning: privacy mode on")
            .bot(I::NAME)
            .detail(problem.clone());
        audit::record(&mut tx, at, &entry).await?;
        let html = format!(
            "⚠️ <b>Privacy mode</b>\n{}",
            crate::text::escape_html(&problem)
        );
        match self.console.alert(&mut tx, &html, None, at).await {
            Ok(_) => {}
            Err(crate::outbox::EnqueueError::Db(e)) => return Err(e.into()),
            Err(other) => tracing::error!(error = %other, "privacy-mode alert not enqueued"),
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records `I`'s status, publishes its commands if they changed, and spawns its poller
    /// and sender.
    async fn identity<I: Behaviour>(
        &self,
        verified: VerifiedBot<I>,
        fleet: &mut RunningFleet,
    ) -> Result<VerifiedSummary, StartError> {
        let shared = self.shared;
        let options = &shared.options;
        let bot =
            shared.config.bot(I::NAME).cloned().ok_or_else(|| {
                StartError::Verify(vec![format!("{}: no configuration", I::NAME)])
            })?;
        let clock = options.clock.clone();
        crate::store::bots::record_verified::<I>(
            &self.store,
            &bot.username,
            &verified,
            clock.now(),
        )
        .await?;
        crate::fleet::commands::publish_if_changed::<I>(
            &self.store,
            &shared.client,
            &verified,
            &bot,
            shared.config.console() == I::NAME,
        )
        .await;
        if !verified.can_read_all_group_messages && I::reads_all_group_messages() {
            self.warn_privacy_mode::<I>(&bot.username, clock.now())
                .await?;
        }
        let summary = VerifiedSummary {
            identity: I::NAME,
            username: bot.username.clone(),
            can_read_all_group_messages: verified.can_read_all_group_messages,
        };
        let poster = Poster::<I>::new(&verified, clock.clone());
        let mut bound: Vec<Arc<dyn BoundJob>> = Vec::new();
        for file in &bot.jobs {
            // Parsed once, at start (`specs`); looked up here by name.
            let spec = self
                .specs
                .iter()
                .find(|s| s.bot == I::NAME && s.name == file.name)
                .cloned()
                .ok_or_else(|| {
                    StartError::ConfigUnreadable(format!(
                        "bots/{}.toml: job {} was not parsed",
                        I::NAME,
                        file.name
                    ))
                })?;
            let job = I::job(&file.kind).ok_or_else(|| {
                StartError::ConfigUnreadable(format!(
                    "bots/{}.toml: job {}: unknown kind {}",
                    I::NAME,
                    file.name,
                    file.kind
                ))
            })?;
            let context = RunContext {
                store: self.store.clone(),
                clock: clock.clone(),
                roster: shared.roster.clone(),
                templates: shared.templates.clone(),
                console: self.console.clone(),
                leave: shared.leave.clone(),
                xero: shared.xero.clone(),
            };
            bound.push(Arc::new(JobRunner::new(spec, job, poster.clone(), context)));
        }
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.extend(bound);
        }
        let context_approvals = bot.approvals.clone();
        let context = Arc::new(BotContext {
            identity: I::NAME,
            display: I::DISPLAY,
            username: bot.username.clone(),
            bot,
            roster: shared.roster.clone(),
            routing: shared.routing.clone(),
            templates: shared.templates.clone(),
            clock: clock.clone(),
            is_console: shared.config.console() == I::NAME,
            console_username: shared
                .config
                .bot(shared.config.console())
                .map(|b| b.username.clone())
                .unwrap_or_default(),
            jobs: self.specs.clone(),
            started_at: self.started_at,
            diagnose: self.diagnose,
            commands_per_minute: shared.config.deployment.commands_per_minute,
        });
        let poller = Poller::new(
            &verified,
            shared.client.clone(),
            self.store.clone(),
            clock.clone(),
            handler_tree::<I>(),
            base_dependencies::<I>(context, poster.clone()),
            self.wake.clone(),
            options.poll_seconds,
            self.console.clone(),
        );
        let desk_poster = poster;
        let approvals_file = context_approvals;
        let sender = Sender::new(
            &verified,
            shared.client.clone(),
            self.store.clone(),
            clock,
            self.console.clone(),
            Arc::new(crate::schedule::delivery::SlotDeliveries),
            self.wake.clone(),
            options.sender.clone(),
        )
        .diagnose(self.diagnose);
        if self.diagnose && shared.config.console() != I::NAME {
            // Diagnose mode: only the console listens and speaks.
            return Ok(summary);
        }
        let stop = fleet.shutdown.clone();
        fleet
            .tasks
            .spawn(async move { poller.run(stop).await.map_err(RunError::from) });
        let sender = sender.reporting_to(&fleet.activity);
        let stop = fleet.shutdown.clone();
        fleet
            .tasks
            .spawn(async move { sender.run(stop).await.map_err(RunError::from) });
        if let (Some(approvals), Some(xero)) = (&approvals_file, &shared.xero) {
            let inputs = crate::approvals::DeskInputs {
                store: self.store.clone(),
                clock: options.clock.clone(),
                xero: xero.clone(),
                console: self.console.clone(),
                cards: crate::approvals::CardContext {
                    templates: shared.templates.clone(),
                    roster: shared.roster.clone(),
                },
                chat_id: shared.roster.chat_id(),
                thread_id: shared
                    .roster
                    .thread(&approvals.thread)
                    .and_then(|t| t.message_thread_id),
                settings: options
                    .desk
                    .clone()
                    .unwrap_or_else(|| crate::approvals::DeskSettings::from_file(approvals)),
            };
            if let Some(desk) = I::approval_desk(desk_poster, inputs) {
                let stop = fleet.shutdown.clone();
                fleet
                    .tasks
                    .spawn(async move { desk.run(stop).await.map_err(RunError::from) });
            }
        }
        Ok(summary)
    }
}

pub mod commands;
