//! The second step of the start, once every identity is verified: the database is opened
//! under its lease, this boot is recorded (a crash loop starts diagnose mode), sends cut short
//! by the last stop are reported, and each identity is launched: its commands published, its
//! poller and sender spawned, its jobs bound to its poster for the one scheduler, its
//! approval desk started. Every identity is visited through [`crate::bots::visit_all`].

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::options::{RunError, RunOptions, StartError};
use super::running::{LastWords, RunningFleet, VerifiedSummary};
use super::verify::{verify_all, Verified};
use crate::bots::{Bot, BotVisitor};
use crate::config::secrets::{SecretStore, Token};
use crate::config::{self, Config};
use crate::deploy::config_backup::ConfigFiles;
use crate::health::prober::{Prober, XeroProbe};
use crate::identity::{Poster, VerifiedBot};
use crate::inbound::base_dependencies;
use crate::inbound::poller::Poller;
use crate::inbound::{BotContext, CommandRouting};
use crate::jobs::JobSpec;
use crate::outbox::alerts::ConsoleChannel;
use crate::outbox::sender::Sender;
use crate::roster::Roster;
use crate::schedule::runner::{BoundJob, JobRunner, RunContext, Scheduler};
use crate::sources::leave::{LeaveSource, RosterLeave};
use crate::store::audit::{self, AuditEntry};
use crate::store::Store;
use crate::telegram::TelegramClient;
use crate::telemetry::http::{HealthServer, HttpSettings};
use crate::telemetry::Readiness;
use crate::templates::Templates;

/// The boot has run [`RunOptions::healthy_after`] without a fatal error: it is recorded as
/// healthy (the crash-loop guard counts on it) and the configuration it booted with is saved
/// as the last good one (audited when a new copy was saved). Failures are logged: neither
/// stops a running fleet.
async fn become_healthy(
    store: &Store,
    clock: &crate::clock::Clock,
    boot_id: i64,
    config_dir: std::path::PathBuf,
    booted_with: Option<ConfigFiles>,
) {
    let healthy = store
        .retry("recording that this boot is healthy", || async {
            let mut tx = store.begin_write().await?;
            crate::store::boots::mark_healthy(&mut tx, boot_id, clock.now()).await?;
            tx.commit().await
        })
        .await;
    if let Err(e) = healthy {
        tracing::error!(error = %e, "could not record that this boot is healthy");
        return;
    }
    let Some(files) = booted_with else { return };
    let at = clock.now();
    let saved = tokio::task::spawn_blocking(move || {
        crate::deploy::config_backup::save(&config_dir, &files, at)
    })
    .await;
    let backup = match saved {
        Ok(Ok(Some(backup))) => backup,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "could not save the configuration as the last good one");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "saving the configuration as the last good one panicked");
            return;
        }
    };
    tracing::info!(path = %backup.path.display(), "configuration saved as the last good one");
    let entry = AuditEntry::new("config", "saved as the last good configuration")
        .detail(backup.path.display().to_string());
    let audited = store
        .retry("auditing the configuration backup", || async {
            let mut tx = store.begin_write().await?;
            audit::record(&mut tx, clock.now(), &entry).await?;
            tx.commit().await
        })
        .await;
    if let Err(e) = audited {
        tracing::error!(error = %e, "could not audit the configuration backup");
    }
}

/// Validates configuration, verifies every identity and launches the fleet.
pub async fn start(options: &RunOptions) -> Result<RunningFleet, StartError> {
    // The files this boot runs with, saved as the last good configuration once it is healthy.
    let booted_with = match ConfigFiles::read(&options.config_dir) {
        Ok(files) => Some(files),
        Err(e) => {
            tracing::warn!(error = %e, "cannot keep a copy of the configuration files");
            None
        }
    };
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
    let talenox = match &config.deployment.talenox {
        Some(file) => Some(Arc::new(
            crate::sources::talenox::TalenoxClient::from_config(
                file,
                &secrets,
                options.clock.clone(),
            )
            .map_err(|e| {
                StartError::ConfigUnreadable(format!("bots/herald.toml: [talenox]: {e}"))
            })?,
        )),
        None => None,
    };
    let gym = match config.bot("gymbooker").and_then(|b| b.gym.as_ref()) {
        Some(file) => {
            let client = crate::sources::mindbody::MindbodyClient::from_config(
                file,
                &secrets,
                config.roster.timezone(),
                options.clock.clone(),
            )
            .map_err(|e| {
                StartError::ConfigUnreadable(format!("bots/gymbooker.toml: [gym]: {e}"))
            })?;
            Some(Arc::new(crate::gym::Gym::new(
                Arc::new(client),
                file,
                &config.roster,
            )))
        }
        None => None,
    };
    let mut job_findings = crate::bots::check_job_settings(&config.bots, Some(&config.deployment));
    job_findings.extend(crate::bots::check_jobs(&config, &templates));
    if !job_findings.is_empty() {
        return Err(StartError::Config(job_findings));
    }
    let client = TelegramClient::new(&options.api_url)?;
    // The configuration is sound: the health endpoints come up first, so that a supervisor
    // sees the process alive (and not ready) while the tokens are verified.
    let readiness = Readiness::default();
    let http = match http_settings(options, &config)? {
        Some(settings) => Some(
            HealthServer::bind(settings, readiness.clone())
                .await?
                .spawn(),
        ),
        None => None,
    };

    let roster = Arc::new(config.roster.clone());
    let routing = Arc::new(CommandRouting::from_config(&config));
    let config = Arc::new(config);
    let prober = Arc::new(Prober {
        config: config.clone(),
        tokens: tokens.clone(),
        client: client.clone(),
        db_url: options.db_url.clone(),
        xero: xero.clone().map_or(XeroProbe::None, XeroProbe::Client),
        talenox: talenox.clone().map(Ok),
        deadline: crate::health::audit::DEADLINE,
        dm_operators: crate::jobs::kinds::operator_dm_senders(&config),
        reads_group: crate::bots::reading_all_group_messages(),
    });
    let shared = Shared {
        leave: Arc::new(RosterLeave::new(roster.clone())),
        xero,
        talenox,
        gym,
        roster,
        routing,
        templates,
        config,
        tokens,
        client,
        prober,
        options: options.clone(),
    };

    let mut verified = verify_all(
        &shared.config,
        &shared.tokens,
        &shared.client,
        options.verify_timeout,
    )
    .await
    .map_err(StartError::Verify)?;
    let console_name = shared.config.console();
    let (console, console_token) = verified
        .console(console_name, shared.roster.clone(), &options.clock)
        .ok_or_else(|| {
            StartError::ConfigUnreadable(format!(
                "bots/herald.toml: console = {console_name:?} names no verified identity"
            ))
        })?;
    let identities = verified.len();
    let launchers = launchers(&mut verified).map_err(StartError::Verify)?;

    // Before the lease names this process: a command beside it may then nudge it at once.
    let nudges = crate::store::nudge::NudgeListener::install();
    let (store, lease) =
        Store::open_leased(&options.db_url, &options.lease, options.store_retry.clone()).await?;
    readiness.opened(store.clone(), lease.clone());
    // Renewed from now on, even while the rest of start-up runs; if start-up fails, the
    // task set is dropped and the lease lapses (or is taken at once on this host).
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    {
        let (lease, stop) = (lease.clone(), shutdown.clone());
        tasks.spawn(async move { lease.keep(&stop).await.map_err(RunError::Lease) });
        let (signals, stop) = (store.signals().clone(), shutdown.clone());
        tasks.spawn(async move {
            nudges.run(signals, stop).await;
            Ok(())
        });
    }
    let clock = options.clock.clone();
    let started_at = clock.now();
    let detail = format!(
        "config {}, {identities} identities verified",
        shared.config.dir.display(),
    );
    let (boot_id, crash_loop) = store
        .retry("recording this boot", || {
            record_boot(&store, &console, options.force, started_at, &detail)
        })
        .await?;
    let diagnose = !crash_loop.is_empty();
    let recovered = store
        .retry("recovering interrupted sends", || {
            crate::outbox::ambiguous::recover_interrupted_sends(&store, clock.now(), &console)
        })
        .await?;
    if recovered > 0 {
        tracing::error!(
            recovered,
            "sends interrupted by the last stop are now ambiguous; the operator was told"
        );
    }

    let last_words = LastWords {
        client: shared.client.clone(),
        token: console_token,
        operators: console.operator_ids(),
    };
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
        readiness: readiness.clone(),
        http,
        #[cfg(feature = "fault-injection")]
        posters: Default::default(),
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
        jobs: std::sync::Mutex::new(Vec::new()),
        specs: Arc::new(specs),
        started_at,
        diagnose,
        readiness: readiness.clone(),
    };
    for launcher in launchers {
        let summary = launcher(&launch, &mut fleet).await?;
        tracing::info!(bot = summary.identity, username = %summary.username, "verified and running");
        fleet.verified.push(summary);
    }
    if diagnose {
        // No scheduler runs in diagnose mode, so nothing else would feed a systemd watchdog
        // (which would then kill and restart herald into another unhealthy boot).
        if crate::supervisor::watchdog_period().is_some() {
            let stop = fleet.shutdown.clone();
            fleet.tasks.spawn(async move {
                crate::supervisor::keep_alive_until(stop).await;
                Ok(())
            });
        }
        readiness.started(true);
        return Ok(fleet);
    }
    let healthy_after = options.healthy_after;
    let (healthy_store, healthy_clock, stop) =
        (store.clone(), clock.clone(), fleet.shutdown.clone());
    let config_dir = options.config_dir.clone();
    // Cancelled once the boot is healthy: the jobs that run at start run then.
    let became_healthy = CancellationToken::new();
    let healthy = became_healthy.clone();
    fleet.tasks.spawn(async move {
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(healthy_after) => {
                become_healthy(&healthy_store, &healthy_clock, boot_id, config_dir, booted_with).await;
                healthy.cancel();
            }
        }
        Ok(())
    });
    let retention_days = shared.config.deployment.audit_retention_days;
    let jobs = launch.jobs.into_inner().unwrap_or_default();
    let scheduler = Scheduler::new(jobs, store, clock, console, options.scheduler.clone())
        .with_audit_retention(retention_days)
        .with_start_runs(became_healthy)
        .reporting_to(&fleet.activity);
    scheduler.prepare().await?;
    readiness.scheduling(scheduler.beat());
    let watchdog = scheduler.watchdog().reporting_to(&fleet.activity);
    let stop = fleet.shutdown.clone();
    // Running from its spawn until its task ends, however it ends.
    let running = scheduler.beat().running();
    fleet.tasks.spawn(async move {
        let _running = running;
        scheduler.run(stop).await.map_err(RunError::from)
    });
    let stop = fleet.shutdown.clone();
    fleet
        .tasks
        .spawn(async move { watchdog.run(stop).await.map_err(RunError::from) });
    readiness.started(false);
    Ok(fleet)
}

/// Where to serve the health endpoints: `--http`, else `[http]` in `bots/herald.toml`, else
/// nowhere.
fn http_settings(
    options: &RunOptions,
    config: &Config,
) -> Result<Option<HttpSettings>, StartError> {
    if let Some(settings) = options.http {
        return Ok(Some(settings));
    }
    let Some(file) = &config.deployment.http else {
        return Ok(None);
    };
    HttpSettings::parse(&file.listen, file.public)
        .map(Some)
        .map_err(|e| StartError::ConfigUnreadable(format!("bots/herald.toml: http.listen: {e}")))
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
        let boots: Vec<minijinja::Value> = crash_loop
            .iter()
            .map(|boot| {
                minijinja::context! {
                    started_at => boot.started_at,
                    outcome => boot
                        .outcome
                        .as_deref()
                        .unwrap_or("ended without a clean stop (killed or crashed)"),
                }
            })
            .collect();
        let html = crate::console_texts::render(
            "diagnose_mode.html",
            minijinja::context! {
                boots => boots,
                window_minutes => crate::store::boots::WINDOW_MINUTES,
            },
        );
        if let Err(e) = console.alert(&mut tx, &html, None, started_at).await {
            tracing::error!(error = %e, "the diagnose-mode DM could not be queued");
        }
    }
    tx.commit().await?;
    Ok((boot_id, crash_loop))
}

/// What start-up shares with every identity.
struct Shared {
    config: Arc<Config>,
    roster: Arc<Roster>,
    routing: Arc<CommandRouting>,
    templates: Arc<Templates>,
    /// Who is on leave without `[talenox]`: the roster file's `[[leave]]` entries.
    leave: Arc<dyn LeaveSource>,
    /// The Xero client, when `[xero]` is configured.
    xero: Option<Arc<crate::sources::xero::XeroClient>>,
    /// The Talenox client, when `[talenox]` is configured.
    talenox: Option<Arc<crate::sources::talenox::TalenoxClient>>,
    /// GymBooker's provider and plans, when `[gym]` is configured.
    gym: Option<Arc<crate::gym::Gym>>,
    tokens: BTreeMap<&'static str, Token>,
    client: TelegramClient,
    /// The live probes, for the daily capability probe.
    prober: Arc<Prober>,
    options: RunOptions,
}

/// Launches one verified identity into the fleet.
type Launcher<'a> = Box<
    dyn for<'l> FnOnce(
            &'l Launch<'a>,
            &'l mut RunningFleet,
        ) -> BoxFuture<'l, Result<VerifiedSummary, StartError>>
        + Send
        + 'a,
>;

/// One launcher per identity, each holding that identity's proof taken from `verified`.
fn launchers<'a>(verified: &mut Verified) -> Result<Vec<Launcher<'a>>, Vec<String>> {
    struct Each<'v, 'a> {
        verified: &'v mut Verified,
        launchers: Vec<Launcher<'a>>,
        missing: Vec<String>,
    }
    impl<'a> BotVisitor for Each<'_, 'a> {
        fn visit<I: Bot>(&mut self) {
            match self.verified.take::<I>() {
                Some(verified) => self.launchers.push(Box::new(move |launch, fleet| {
                    Box::pin(launch.identity(verified, fleet))
                })),
                None => self.missing.push(format!("{}: not verified", I::NAME)),
            }
        }
    }
    let mut each = Each {
        verified,
        launchers: Vec::new(),
        missing: Vec::new(),
    };
    crate::bots::visit_all(&mut each);
    if each.missing.is_empty() {
        Ok(each.launchers)
    } else {
        Err(each.missing)
    }
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
    /// Every identity's jobs, bound to its poster, for the one scheduler.
    jobs: std::sync::Mutex<Vec<Arc<dyn BoundJob>>>,
    /// Told which identities are verified and poll.
    readiness: Readiness,
}

impl Launch<'_> {
    /// An identity that must see every group message has privacy mode on: it would miss
    /// plain messages (daily updates). Said loudly: an ERROR line, the audit log and a DM to
    /// the operators, at every start until it is fixed.
    async fn warn_privacy_mode<I: Bot>(
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
        let html = crate::console_texts::render(
            "privacy_mode.html",
            minijinja::context! { problem => problem },
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
    async fn identity<I: Bot>(
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
        self.readiness.verified(I::NAME);
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
            self.console.posts_as::<I>(),
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
        let mut job_specs = Vec::new();
        // Who is on leave: Talenox (with its snapshot in this store) when configured.
        let leave: Arc<dyn LeaveSource> = match &shared.talenox {
            Some(client) => Arc::new(crate::sources::talenox::TalenoxLeave::new(
                client.clone(),
                self.store.clone(),
                clock.clone(),
                shared.roster.clone(),
            )),
            None => shared.leave.clone(),
        };
        let kinds = I::job_kinds();
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
            let job = kinds.job(&file.kind).ok_or_else(|| {
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
                leave: leave.clone(),
                xero: shared.xero.clone(),
                talenox: shared.talenox.clone(),
                prober: Some(shared.prober.clone()),
                all_jobs: self.specs.clone(),
                gym: shared.gym.clone(),
            };
            job_specs.push(spec.clone());
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
            is_console: self.console.posts_as::<I>(),
            console_username: shared
                .config
                .bot(shared.config.console())
                .map(|b| b.username.clone())
                .unwrap_or_default(),
            jobs: self.specs.clone(),
            started_at: self.started_at,
            diagnose: self.diagnose,
            commands_per_minute: shared.config.deployment.commands_per_minute,
            readiness: self.readiness.clone(),
        });
        let poller = Poller::new(
            &verified,
            shared.client.clone(),
            self.store.clone(),
            clock.clone(),
            crate::bots::handler_tree::<I>(),
            base_dependencies::<I>(context, poster.clone()),
            options.poll_seconds,
            self.console.clone(),
        )
        .reporting_to(&self.readiness);
        let desk_poster = poster;
        let approvals_file = context_approvals;
        let sender = Sender::new(
            &verified,
            shared.client.clone(),
            self.store.clone(),
            clock,
            self.console.clone(),
            Arc::new(crate::schedule::delivery::SlotDeliveries::reporting_dms(
                Arc::new(desk_poster.clone()),
                shared.roster.clone(),
                &job_specs,
            )),
            options.sender.clone(),
        )
        .diagnose(self.diagnose);
        #[cfg(feature = "fault-injection")]
        fleet
            .posters
            .insert(std::any::TypeId::of::<I>(), Box::new(desk_poster.clone()));
        if self.diagnose && !self.console.posts_as::<I>() {
            // Diagnose mode: only the console listens and speaks.
            return Ok(summary);
        }
        let stop = fleet.shutdown.clone();
        // Polling from its spawn; the poller itself tells when a poll fails or it stops.
        self.readiness.polling(I::NAME);
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
            if let Some(desk) = I::approval_desk(desk_poster.clone(), inputs) {
                let stop = fleet.shutdown.clone();
                fleet
                    .tasks
                    .spawn(async move { desk.run(stop).await.map_err(RunError::from) });
            }
        }
        if let Some(gym) = &shared.gym {
            let inputs = crate::gym::desk::GymDeskInputs {
                store: self.store.clone(),
                clock: options.clock.clone(),
                gym: gym.clone(),
                console: self.console.clone(),
            };
            if let Some(desk) = I::gym_desk(desk_poster, inputs) {
                let stop = fleet.shutdown.clone();
                fleet
                    .tasks
                    .spawn(async move { desk.run(stop).await.map_err(RunError::from) });
            }
        }
        Ok(summary)
    }
}
