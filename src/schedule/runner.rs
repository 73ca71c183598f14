//! The scheduler task and its watchdog.
//!
//! Every tick (one second of real time) the scheduler, in one transaction: reads the pauses
//! and tells the operator about any change; for each job, takes the slots that came due
//! since its cursor, decides them ([`super::decide`]), claims each by inserting its row, and
//! moves the cursor; reports missed slots in one DM. Claimed runs then execute outside the
//! transaction, each under its timeout; a run's messages are written to the outbox in the
//! transaction that marks its slot done, so a crash mid-run posts nothing and a slot never
//! posts twice. Every failure DMs the operator through the console identity.
//!
//! The watchdog runs beside it: a slot still running five minutes after its time (or its
//! start, for a catch-up) is a failure, and so is a scheduler that stopped ticking.

use std::collections::{BTreeMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{decide, SlotDecision};
use crate::activity::{Activity, Reporter};
use crate::clock::Clock;
use crate::faults::{crash_point, CrashPoint};
use crate::identity::{BotIdentity, Poster};
use crate::isolation::{catch_panic, cut};
use crate::jobs::{Job, JobInput, JobSpec};
use crate::outbox::alerts::ConsoleChannel;
use crate::outbox::{EnqueueError, Lane, OutgoingMessage};
use crate::roster::Roster;
use crate::sources::leave::LeaveSource;
use crate::store::audit::{self, AuditEntry};
use crate::store::pauses::{self, Pause, PauseChange, PauseNotice, PauseScope, PauseState};
use crate::store::requests::{self, JobRequest};
use crate::store::slots::{self, slot_key, SlotRow, SlotState, Trigger};
use crate::store::Store;
use crate::templates::Templates;
use crate::text::{escape_html, split_message, TELEGRAM_MESSAGE_LIMIT};

/// Tunables of the scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// Real time between two looks at the schedule (and at the pauses).
    pub tick: Duration,
    /// A slot not finished this long after its time is a failure.
    pub absence_after: chrono::Duration,
    /// Real time between two watchdog checks.
    pub watchdog_every: Duration,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(1),
            absence_after: chrono::Duration::minutes(5),
            watchdog_every: Duration::from_secs(10),
        }
    }
}

/// Why the scheduler stopped on its own.
#[derive(Debug, thiserror::Error)]
#[error("scheduler: the database could not be read or written: {0}")]
pub struct SchedulerError(#[from] sqlx::Error);

/// What every job run needs besides its own job and poster.
#[derive(Clone)]
pub struct RunContext {
    pub store: Store,
    pub clock: Clock,
    pub roster: Arc<Roster>,
    pub templates: Arc<Templates>,
    pub console: ConsoleChannel,
    pub leave: Arc<dyn LeaveSource>,
    pub xero: Option<Arc<crate::sources::xero::XeroClient>>,
}

impl RunContext {
    /// What a run of `spec` at `slot` may read.
    fn input(&self, spec: &Arc<JobSpec>, slot: DateTime<Utc>) -> JobInput {
        JobInput {
            spec: spec.clone(),
            slot,
            roster: self.roster.clone(),
            templates: self.templates.clone(),
            store: self.store.clone(),
            leave: self.leave.clone(),
            xero: self.xero.clone(),
        }
    }
}

/// A job bound to its identity's poster, as the scheduler sees it.
pub trait BoundJob: Send + Sync {
    fn spec(&self) -> &Arc<JobSpec>;
    /// Runs the claimed (`running`) slot and records how it ended.
    fn execute(
        &self,
        slot: DateTime<Utc>,
        trigger: Trigger,
    ) -> BoxFuture<'static, Result<(), sqlx::Error>>;
    /// Renders what the job would post at `at`, under its timeout; posts nothing.
    fn preview(&self, at: DateTime<Utc>) -> BoxFuture<'static, Result<Vec<String>, String>>;
}

/// Job `job` of identity `I`, posting only through `Poster<I>`.
pub struct JobRunner<I: BotIdentity> {
    spec: Arc<JobSpec>,
    job: Arc<dyn Job<Bot = I>>,
    poster: Poster<I>,
    context: RunContext,
}

impl<I: BotIdentity> JobRunner<I> {
    pub fn new(
        spec: Arc<JobSpec>,
        job: Arc<dyn Job<Bot = I>>,
        poster: Poster<I>,
        context: RunContext,
    ) -> Self {
        Self {
            spec,
            job,
            poster,
            context,
        }
    }
}

impl<I: BotIdentity> BoundJob for JobRunner<I> {
    fn spec(&self) -> &Arc<JobSpec> {
        &self.spec
    }

    fn execute(
        &self,
        slot: DateTime<Utc>,
        trigger: Trigger,
    ) -> BoxFuture<'static, Result<(), sqlx::Error>> {
        let spec = self.spec.clone();
        let job = self.job.clone();
        let poster = self.poster.clone();
        let context = self.context.clone();
        Box::pin(async move {
            // A job is pure (data in, messages out): after a transient database failure the
            // whole run, job and transaction, goes again.
            let run = {
                let (spec, context) = (spec.clone(), context.clone());
                async move {
                    let store = context.store.clone();
                    store
                        .retry("recording a job run", || {
                            let (spec, job, poster) = (spec.clone(), job.clone(), poster.clone());
                            run_slot(spec, job, poster, context.clone(), slot, trigger)
                        })
                        .await
                }
            };
            // A panicking run is one failed slot, reported like a job error; it never ends
            // the scheduler or leaves its slot `running` for the watchdog.
            match catch_panic(run).await {
                Ok(done) => done,
                Err(panic) => {
                    tracing::error!(job = %spec.name, panic = %panic.message, "a job run panicked; nothing it wrote was kept");
                    let cause = format!("panicked: {}", cut(&panic.message, PANIC_CHARS));
                    let at = context.clock.now();
                    let mut tx = context.store.begin_write().await?;
                    if record_failed_run(
                        &mut tx,
                        &spec,
                        &context.console,
                        slot,
                        trigger,
                        &cause,
                        at,
                    )
                    .await?
                    {
                        tx.commit().await?;
                    }
                    Ok(())
                }
            }
        })
    }

    fn preview(&self, at: DateTime<Utc>) -> BoxFuture<'static, Result<Vec<String>, String>> {
        let input = self.context.input(&self.spec, at);
        let job = self.job.clone();
        let timeout = self.spec.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, job.run(&input)).await {
                Ok(Ok(texts)) => Ok(split_posts(texts)),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("did not finish within {} s", timeout.as_secs())),
            }
        })
    }
}

/// Every post of a run, each split into parts that fit one Telegram message.
fn split_posts(texts: Vec<String>) -> Vec<String> {
    texts
        .iter()
        .flat_map(|text| split_message(text, TELEGRAM_MESSAGE_LIMIT))
        .collect()
}

async fn run_slot<I: BotIdentity>(
    spec: Arc<JobSpec>,
    job: Arc<dyn Job<Bot = I>>,
    poster: Poster<I>,
    context: RunContext,
    slot: DateTime<Utc>,
    trigger: Trigger,
) -> Result<(), sqlx::Error> {
    let input = context.input(&spec, slot);
    // A post over Telegram's limit goes out as ordered parts, cut at line boundaries.
    let outcome = tokio::time::timeout(spec.timeout, job.run(&input))
        .await
        .map(|run| run.map(split_posts));
    let key = slot_key(slot);
    let at = context.clock.now();
    let mut tx = context.store.begin_write().await?;
    let cause = match outcome {
        Err(_) => Some(format!(
            "did not finish within {} s",
            spec.timeout.as_secs()
        )),
        Ok(Err(e)) => Some(e.to_string()),
        Ok(Ok(texts)) if texts.len() > spec.max_messages => Some(format!(
            "produced {} messages, more than its cap of {}",
            texts.len(),
            spec.max_messages
        )),
        Ok(Ok(texts)) => {
            let mut problem = None;
            for (part, text) in texts.iter().enumerate() {
                let message = OutgoingMessage::new(spec.chat_id, spec.thread_id, text.as_str())
                    .in_lane(Lane::Scheduled)
                    .for_slot(&spec.name, &key, part as i64);
                match poster.enqueue(&mut tx, message).await {
                    Ok(_) => {}
                    Err(EnqueueError::Db(e)) => return Err(e),
                    Err(duplicate) => {
                        problem = Some(duplicate.to_string());
                        break;
                    }
                }
            }
            match problem {
                Some(problem) => {
                    // Roll back the parts already written: all or nothing.
                    drop(tx);
                    tx = context.store.begin_write().await?;
                    Some(problem)
                }
                None => {
                    let finished = slots::finish(
                        &mut tx,
                        &spec.name,
                        &key,
                        SlotState::Done,
                        texts.len(),
                        None,
                        at,
                    )
                    .await?;
                    if !finished {
                        // Decided elsewhere meanwhile (another process marked it failed):
                        // post nothing (the transaction rolls back), so what the operator
                        // was told stays true.
                        tracing::error!(job = %spec.name, slot = %key, "slot was no longer running; its output was dropped");
                        return Ok(());
                    }
                    let entry = AuditEntry::new("job", format!("ran ({})", trigger.as_str()))
                        .bot(spec.bot)
                        .detail(format!("slot {key}: {} message(s) queued", texts.len()))
                        .job(&spec.name);
                    audit::record(&mut tx, at, &entry).await?;
                    if trigger == Trigger::Manual {
                        let html = format!(
                            "✅ <b>{}</b> ran by hand: {} message(s) queued for #{}.",
                            escape_html(&spec.name),
                            texts.len(),
                            escape_html(&spec.thread)
                        );
                        alert(&context.console, &mut tx, &html, at).await?;
                    }
                    None
                }
            }
        }
    };
    if let Some(cause) = cause {
        let reported =
            record_failed_run(&mut tx, &spec, &context.console, slot, trigger, &cause, at).await?;
        if !reported {
            return Ok(());
        }
    }
    tx.commit().await
}

/// Longest panic message quoted as a failed run's cause.
const PANIC_CHARS: usize = 300;

/// A failed run, in `tx`: the slot is marked failed with `cause`, audited, and the operator
/// told. False (and nothing written) if the slot was no longer running: decided elsewhere
/// meanwhile, so it is not reported twice.
async fn record_failed_run(
    tx: &mut sqlx::SqliteConnection,
    spec: &JobSpec,
    console: &ConsoleChannel,
    slot: DateTime<Utc>,
    trigger: Trigger,
    cause: &str,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let key = slot_key(slot);
    tracing::error!(job = %spec.name, slot = %key, %cause, "job failed");
    let finished = slots::finish(
        &mut *tx,
        &spec.name,
        &key,
        SlotState::Failed,
        0,
        Some(cause),
        at,
    )
    .await?;
    if !finished {
        tracing::error!(job = %spec.name, slot = %key, %cause, "slot was no longer running; not reported twice");
        return Ok(false);
    }
    let entry = AuditEntry::new("job", "failed")
        .bot(spec.bot)
        .detail(format!("slot {key}: {cause}"))
        .job(&spec.name);
    audit::record(&mut *tx, at, &entry).await?;
    let html = format!(
        "🔴 <b>Job failed: {}</b>\n{}\nCause: {}\nPosted: nothing.",
        escape_html(&spec.name),
        escape_html(&describe_slot(spec, slot, trigger)),
        escape_html(cause),
    );
    alert(console, &mut *tx, &html, at).await?;
    Ok(true)
}

/// `clawrence -> #daily-updates, slot Mon 2026-11-23 11:00 +08 (03:00 UTC), on schedule`.
fn describe_slot(spec: &JobSpec, slot: DateTime<Utc>, trigger: Trigger) -> String {
    let how = match trigger {
        Trigger::Schedule => "on schedule",
        Trigger::CatchUp => "catch-up after downtime",
        Trigger::Manual => "run by hand",
    };
    format!(
        "{} -> #{}, slot {}, {how}",
        spec.bot,
        spec.thread,
        local_and_utc(spec, slot)
    )
}

/// `Mon 2026-11-23 11:00 +08 (03:00 UTC)`.
pub fn local_and_utc(spec: &JobSpec, slot: DateTime<Utc>) -> String {
    format!(
        "{} ({} UTC)",
        spec.local(slot).format("%a %Y-%m-%d %H:%M %Z"),
        slot.format("%H:%M")
    )
}

/// Enqueues an operator DM; an alert that cannot be addressed is logged at ERROR (the console
/// channel does that), a database error fails the caller's transaction.
async fn alert(
    console: &ConsoleChannel,
    conn: &mut sqlx::SqliteConnection,
    html: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    match console.alert(conn, html, None, at).await {
        Ok(_) => Ok(()),
        Err(EnqueueError::Db(e)) => Err(e),
        Err(other) => {
            tracing::error!(error = %other, "operator alert not enqueued");
            Ok(())
        }
    }
}

/// The scheduler task.
pub struct Scheduler {
    jobs: Vec<Arc<dyn BoundJob>>,
    store: Store,
    clock: Clock,
    console: ConsoleChannel,
    settings: SchedulerSettings,
    /// Real instant of the last completed tick, for the watchdog.
    heartbeat: Arc<Mutex<Instant>>,
    /// Audit entries and settled rows older than this many days are pruned once a day.
    audit_retention_days: Option<u32>,
    /// The pauses [`Scheduler::prepare`] found (and announced) at start: the first look
    /// starts from them, so a pause made after start-up is told as a pause, never as
    /// "started while paused", however soon it follows.
    start_pauses: Mutex<Option<PauseState>>,
    /// Preview requests being rendered by this process (not to be started twice).
    previews_in_flight: Arc<Mutex<HashSet<i64>>>,
    /// Where the looks at the schedule are reported ([`crate::activity`]).
    reporter: Reporter,
}

impl Scheduler {
    /// Prunes the audit log and settled rows older than `days`, at start and then daily.
    pub fn with_audit_retention(mut self, days: u32) -> Self {
        self.audit_retention_days = Some(days);
        self
    }

    pub fn new(
        jobs: Vec<Arc<dyn BoundJob>>,
        store: Store,
        clock: Clock,
        console: ConsoleChannel,
        settings: SchedulerSettings,
    ) -> Self {
        Self {
            jobs,
            store,
            clock,
            console,
            settings,
            heartbeat: Arc::new(Mutex::new(Instant::now())),
            audit_retention_days: None,
            start_pauses: Mutex::new(None),
            previews_in_flight: Arc::new(Mutex::new(HashSet::new())),
            reporter: Reporter::detached(),
        }
    }

    /// Reports every look at the schedule to `activity`: idle when it changed nothing and no
    /// run or preview is under way.
    pub fn reporting_to(mut self, activity: &Activity) -> Self {
        self.reporter = activity.register("scheduler");
        self
    }

    /// The watchdog that watches this scheduler.
    pub fn watchdog(&self) -> Watchdog {
        Watchdog {
            store: self.store.clone(),
            clock: self.clock.clone(),
            console: self.console.clone(),
            settings: self.settings.clone(),
            heartbeat: self.heartbeat.clone(),
            specs: self.jobs.iter().map(|j| j.spec().clone()).collect(),
            reporter: Reporter::detached(),
        }
    }

    /// What must happen before the first look, awaited by start-up so that the schedule is in
    /// a known state when `herald run` is up: runs cut short by the last stop are reported,
    /// removed jobs forget their cursor, every job has one (a new job starts at "now"), and
    /// the pauses in force are read (and announced as "started while paused").
    pub async fn prepare(&self) -> Result<(), SchedulerError> {
        let store = &self.store;
        store
            .retry("reporting interrupted job runs", || {
                self.report_interrupted()
            })
            .await?;
        store
            .retry("forgetting removed jobs", || self.forget_removed_jobs())
            .await?;
        store
            .retry("setting job cursors", || async {
                let now = self.clock.now();
                let mut tx = self.store.begin_write().await?;
                for job in &self.jobs {
                    slots::cursor(&mut tx, &job.spec().name, now).await?;
                }
                tx.commit().await
            })
            .await?;
        let pauses = store
            .retry("reading the pauses at start", || async {
                let now = self.clock.now();
                let mut tx = self.store.begin_write().await?;
                let pauses = pauses::current(&mut tx).await?;
                self.announce_pauses(&mut tx, None, &pauses, now).await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(pauses)
            })
            .await?;
        if let Ok(mut start) = self.start_pauses.lock() {
            *start = Some(pauses);
        }
        Ok(())
    }

    /// Runs until `shutdown` (after [`Scheduler::prepare`]); runs in flight get a few seconds
    /// to finish (one cut short stays `running` and is reported as interrupted at the next
    /// start).
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), SchedulerError> {
        let mut known: Option<PauseState> = self
            .start_pauses
            .lock()
            .ok()
            .and_then(|mut start| start.take());
        let mut runs: JoinSet<(String, Result<(), sqlx::Error>)> = JoinSet::new();
        let mut pruned_at: Option<DateTime<Utc>> = None;
        // Whether the last look left a run or a preview under way.
        let mut busy = false;
        let result = loop {
            let look = self.reporter.look();
            if let Some(days) = self.audit_retention_days {
                let now = self.clock.now();
                if pruned_at.is_none_or(|at| now - at >= chrono::Duration::days(1)) {
                    pruned_at = Some(now);
                    let pruned = self
                        .store
                        .retry("pruning settled rows", || self.prune_storage(days, now))
                        .await;
                    if let Err(e) = pruned {
                        break Err(SchedulerError(e));
                    }
                }
            }
            // A tick is one unit of work: what it learns of the pauses counts only once it
            // committed, so a tick run again after a transient failure announces them again.
            let this = &self;
            let ticked = self
                .store
                .retry("looking at the schedule", || {
                    let mut seen = known.clone();
                    async move {
                        let claimed = this.tick(&mut seen).await?;
                        Ok::<_, sqlx::Error>((claimed, seen))
                    }
                })
                .await;
            match ticked.map(|(claimed, seen)| {
                known = seen;
                claimed
            }) {
                Ok(claimed) => {
                    for (job, slot, trigger) in claimed {
                        let name = job.spec().name.clone();
                        let run = job.execute(slot, trigger);
                        runs.spawn(async move { (name, run.await) });
                    }
                }
                Err(e) => break Err(SchedulerError(e)),
            }
            if let Ok(mut beat) = self.heartbeat.lock() {
                *beat = Instant::now();
            }
            while let Some(done) = runs.try_join_next() {
                log_run(done);
            }
            // A run or preview that ended since the last look wrote its outcome: work done.
            let quiet = runs.is_empty() && self.in_flight().is_empty();
            match (quiet, busy) {
                (false, _) => busy = true,
                (true, true) => {
                    busy = false;
                    self.reporter.worked();
                }
                (true, false) => self.reporter.idle(look),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                _ = tokio::time::sleep(self.settings.tick) => {}
            }
        };
        let drain = async {
            while let Some(done) = runs.join_next().await {
                log_run(done);
            }
        };
        if tokio::time::timeout(Duration::from_secs(5), drain)
            .await
            .is_err()
        {
            tracing::error!("job runs still going at shutdown were cut short");
        }
        result
    }

    /// The daily prune: audit entries and settled state older than the retention
    /// ([`crate::store::retention`]).
    async fn prune_storage(&self, days: u32, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let mut tx = self.store.begin_write().await?;
        let pruned = crate::store::retention::prune(&mut tx, now, days).await?;
        tx.commit().await?;
        if pruned.total() > 0 {
            tracing::info!(?pruned, days, "pruned settled rows past the retention");
        }
        Ok(())
    }

    /// A job removed from the configuration loses its cursor, so that if it comes back it
    /// starts at "now" like a new job instead of deciding every slot it was away for.
    async fn forget_removed_jobs(&self) -> Result<(), sqlx::Error> {
        let names: Vec<&str> = self.jobs.iter().map(|j| j.spec().name.as_str()).collect();
        let names = serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_owned());
        let mut tx = self.store.begin_write().await?;
        sqlx::query("DELETE FROM job_cursors WHERE job NOT IN (SELECT value FROM json_each(?))")
            .bind(names)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// Slots left running by the last process: failed, and the operator is told.
    async fn report_interrupted(&self) -> Result<(), sqlx::Error> {
        let at = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        let interrupted = slots::fail_interrupted(&mut tx, at).await?;
        for row in &interrupted {
            let entry = AuditEntry::new("job", "failed (interrupted)")
                .bot(&row.bot)
                .detail(format!("slot {}", row.slot))
                .job(&row.job);
            audit::record(&mut tx, at, &entry).await?;
            let html = format!(
                "🔴 <b>Job failed: {}</b>\nSlot {} was running when herald stopped.\nPosted: nothing (a run posts all its messages or none). Run it again by hand if it still matters.",
                escape_html(&row.job),
                escape_html(&self.slot_text(row)),
            );
            alert(&self.console, &mut tx, &html, at).await?;
        }
        tx.commit().await
    }

    fn slot_text(&self, row: &SlotRow) -> String {
        let spec = self.jobs.iter().find(|j| j.spec().name == row.job);
        match (spec, row.instant()) {
            (Some(job), Some(slot)) => local_and_utc(job.spec(), slot),
            _ => row.slot.clone(),
        }
    }

    /// Whether a look has anything to do: a pause changed, a request waits, or a slot came
    /// due. Reads only, so an idle scheduler never takes the write lock or syncs the disk.
    async fn has_work(
        &self,
        known: &Option<PauseState>,
        now: DateTime<Utc>,
    ) -> Result<bool, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        if known.as_ref() != Some(&pauses::current(&mut conn).await?) {
            return Ok(true);
        }
        drop(conn);
        let in_flight: Vec<i64> = self.in_flight().into_iter().collect();
        if requests::any_waiting(self.store.pool(), &in_flight).await? {
            return Ok(true);
        }
        let cursors = slots::cursors(self.store.pool()).await?;
        Ok(self.jobs.iter().any(|job| {
            let spec = job.spec();
            cursors.get(&spec.name).is_none_or(|&cursor| {
                cursor < now
                    && spec
                        .cron
                        .next_after(spec.timezone, cursor)
                        .is_some_and(|s| s <= now)
            })
        }))
    }

    /// One look at the schedule. Returns the slots claimed to run.
    #[allow(clippy::type_complexity)]
    async fn tick(
        &self,
        known: &mut Option<PauseState>,
    ) -> Result<Vec<(Arc<dyn BoundJob>, DateTime<Utc>, Trigger)>, sqlx::Error> {
        let now = self.clock.now();
        if !self.has_work(known, now).await? {
            return Ok(Vec::new());
        }
        let mut tx = self.store.begin_write().await?;
        let pauses = pauses::current(&mut tx).await?;
        if known.as_ref() != Some(&pauses) {
            self.announce_pauses(&mut tx, known.as_ref(), &pauses, now)
                .await?;
            *known = Some(pauses.clone());
        }
        let mut claimed = Vec::new();
        let previews = self
            .take_requests(&mut tx, &pauses, now, &mut claimed)
            .await?;
        let mut missed: Vec<(Arc<JobSpec>, DateTime<Utc>)> = Vec::new();
        for job in &self.jobs {
            let spec = job.spec();
            let cursor = slots::cursor(&mut tx, &spec.name, now).await?;
            if cursor >= now {
                continue;
            }
            let due = spec.cron.slots_between(spec.timezone, cursor, now);
            if due.is_empty() {
                // Nothing came due: the cursor may stay where it is (the next look covers
                // the same span again), which spares a write every tick.
                continue;
            }
            let holding = pauses.holding_job(spec.bot, &spec.name);
            for (slot, decision) in decide(&due, now, spec.misfire, spec.grace, holding.is_some()) {
                let (trigger, state, detail) = match &decision {
                    SlotDecision::Run(trigger) => (*trigger, SlotState::Running, None),
                    SlotDecision::Missed => (
                        Trigger::Schedule,
                        SlotState::Missed,
                        Some(format!(
                            "missed: noticed {} min after its time",
                            (now - slot).num_minutes()
                        )),
                    ),
                    SlotDecision::Paused => (
                        Trigger::Schedule,
                        SlotState::Paused,
                        holding.map(|p| format!("skipped while paused ({})", p.scope)),
                    ),
                };
                let fresh = slots::claim(
                    &mut tx,
                    &spec.name,
                    slot,
                    spec.bot,
                    trigger,
                    state,
                    detail.as_deref(),
                    now,
                )
                .await?;
                if !fresh {
                    continue;
                }
                let entry = AuditEntry::new("job", format!("slot {}", state.as_str()))
                    .bot(spec.bot)
                    .detail(format!(
                        "slot {}{}",
                        slot_key(slot),
                        detail.map(|d| format!(": {d}")).unwrap_or_default()
                    ))
                    .job(&spec.name);
                audit::record(&mut tx, now, &entry).await?;
                match decision {
                    SlotDecision::Run(trigger) => claimed.push((job.clone(), slot, trigger)),
                    SlotDecision::Missed => missed.push((spec.clone(), slot)),
                    SlotDecision::Paused => {}
                }
            }
            slots::advance_cursor(&mut tx, &spec.name, now).await?;
        }
        if !missed.is_empty() {
            let html = missed_report(&missed);
            alert(&self.console, &mut tx, &html, now).await?;
        }
        tx.commit().await?;
        self.reporter.worked();
        for (job, request) in previews {
            let rendering = InFlight::start(&self.previews_in_flight, request.id);
            tokio::spawn(preview(
                job,
                request,
                self.store.clone(),
                self.console.clone(),
                now,
                rendering,
            ));
        }
        Ok(claimed)
    }

    /// The preview requests this process is rendering.
    fn in_flight(&self) -> HashSet<i64> {
        self.previews_in_flight
            .lock()
            .map(|set| set.clone())
            .unwrap_or_default()
    }

    /// The operator's `/run` and `/preview` requests: a run claims a manual slot at `now`
    /// under the same rules as a scheduled one (a paused job does not run), its request taken
    /// in this transaction; previews not already being rendered are returned to be rendered
    /// after the tick commits, their requests left queued until the preview is enqueued.
    #[allow(clippy::type_complexity)]
    async fn take_requests(
        &self,
        conn: &mut sqlx::SqliteConnection,
        pauses: &PauseState,
        now: DateTime<Utc>,
        claimed: &mut Vec<(Arc<dyn BoundJob>, DateTime<Utc>, Trigger)>,
    ) -> Result<Vec<(Arc<dyn BoundJob>, JobRequest)>, sqlx::Error> {
        let in_flight = self.in_flight();
        let mut previews = Vec::new();
        for request in requests::previews(conn).await? {
            if in_flight.contains(&request.id) {
                continue;
            }
            match self.jobs.iter().find(|j| j.spec().name == request.job) {
                Some(job) => previews.push((job.clone(), request)),
                None => {
                    requests::settle(conn, request.id).await?;
                    let html = format!(
                        "No job {} any more; nothing to preview.",
                        escape_html(&request.job)
                    );
                    tell(&self.console, conn, request.chat_id, &html, now).await?;
                }
            }
        }
        for request in requests::take_runs(conn).await? {
            let Some(job) = self.jobs.iter().find(|j| j.spec().name == request.job) else {
                tell(
                    &self.console,
                    conn,
                    request.chat_id,
                    &format!(
                        "No job {} any more; nothing was run.",
                        escape_html(&request.job)
                    ),
                    now,
                )
                .await?;
                continue;
            };
            let spec = job.spec();
            let mut entry = AuditEntry::new(
                "job",
                format!("{} requested by {}", request.kind, request.requested_by),
            )
            .bot(spec.bot)
            .job(&spec.name);
            if let Some(pause) = pauses.holding_job(spec.bot, &spec.name) {
                entry.decision = format!("manual run refused: paused ({})", pause.scope);
                audit::record(conn, now, &entry).await?;
                let html = format!(
                    "⏸ <b>{}</b> was not run: it is paused ({}). /resume first.",
                    escape_html(&spec.name),
                    escape_html(&pause.scope.to_string())
                );
                tell(&self.console, conn, request.chat_id, &html, now).await?;
                continue;
            }
            let fresh = slots::claim(
                conn,
                &spec.name,
                now,
                spec.bot,
                Trigger::Manual,
                SlotState::Running,
                None,
                now,
            )
            .await?;
            if fresh {
                entry.decision = format!("slot running (manual, by {})", request.requested_by);
                entry.detail = Some(format!("slot {}", slot_key(now)));
                audit::record(conn, now, &entry).await?;
                claimed.push((job.clone(), now, Trigger::Manual));
            } else {
                let html = format!(
                    "<b>{}</b> already has a slot at {}; try again in a second.",
                    escape_html(&spec.name),
                    escape_html(&slot_key(now))
                );
                tell(&self.console, conn, request.chat_id, &html, now).await?;
            }
        }
        Ok(previews)
    }

    /// Tells the operators what changed in the pauses since the last tick (or, at start, that
    /// herald starts paused). An operator who made a change from the console was answered
    /// there (a `pause_notices` row says so) and is not told that change again.
    async fn announce_pauses(
        &self,
        conn: &mut sqlx::SqliteConnection,
        before: Option<&PauseState>,
        now_state: &PauseState,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let told: HashSet<PauseNotice> = pauses::take_notices(conn).await?.into_iter().collect();
        // Each line, and the change it tells (none for a start while paused).
        let mut lines: Vec<(String, Option<(&Pause, PauseChange)>)> = Vec::new();
        match before {
            None => {
                for p in &now_state.pauses {
                    lines.push((format!(
                        "⏸ herald started while paused: <b>{}</b> (since {} by {}). Resume with <code>herald resume {}</code> or /resume.",
                        escape_html(&p.scope.to_string()),
                        escape_html(&p.paused_at),
                        escape_html(&p.paused_by),
                        escape_html(&p.scope.to_string()),
                    ), None));
                }
            }
            Some(before) => {
                for p in &now_state.pauses {
                    if !before.has(&p.scope) {
                        lines.push((format!(
                            "⏸ Paused <b>{}</b> by {}. Scheduled slots are skipped and held messages wait; operator DMs still go out.",
                            escape_html(&p.scope.to_string()),
                            escape_html(&p.paused_by),
                        ), Some((p, PauseChange::Pause))));
                    }
                }
                for p in &before.pauses {
                    if !now_state.has(&p.scope) {
                        lines.push((resumed_line(conn, p).await?, Some((p, PauseChange::Resume))));
                    }
                }
            }
        }
        if lines.is_empty() {
            return Ok(());
        }
        let operators = self.console.operator_ids();
        if operators.is_empty() {
            // Nobody to tell: the console channel logs that at ERROR.
            let all: Vec<&str> = lines.iter().map(|(line, _)| line.as_str()).collect();
            return alert(&self.console, conn, &all.join("\n"), at).await;
        }
        let still = (!now_state.is_empty()).then(|| {
            let scopes: Vec<String> = now_state
                .pauses
                .iter()
                .map(|p| p.scope.to_string())
                .collect();
            format!("Still paused: {}.", escape_html(&scopes.join(", ")))
        });
        for operator in operators {
            let knows = |change: &Option<(&Pause, PauseChange)>| {
                change.is_some_and(|(p, change)| {
                    told.contains(&PauseNotice {
                        scope: p.scope.key(),
                        change,
                        paused_at: p.paused_at.clone(),
                        operator,
                    })
                })
            };
            let mine: Vec<&(String, Option<(&Pause, PauseChange)>)> =
                lines.iter().filter(|(_, change)| !knows(change)).collect();
            if mine.is_empty() {
                continue;
            }
            let mut text: Vec<&str> = mine.iter().map(|(line, _)| line.as_str()).collect();
            let resumed = mine
                .iter()
                .any(|(_, change)| matches!(change, Some((_, PauseChange::Resume))));
            if let (true, Some(still)) = (resumed, &still) {
                text.push(still);
            }
            tell(&self.console, conn, operator, &text.join("\n"), at).await?;
        }
        Ok(())
    }
}

/// The line telling that the pause `pause` was lifted, with the slots it made skip.
pub(crate) async fn resumed_line(
    conn: &mut sqlx::SqliteConnection,
    pause: &Pause,
) -> Result<String, sqlx::Error> {
    let skipped: Vec<SlotRow> = slots::paused_since(conn, &pause.paused_at)
        .await?
        .into_iter()
        .filter(|row| match &pause.scope {
            PauseScope::All => true,
            PauseScope::Bot(bot) => &row.bot == bot,
            PauseScope::Job(job) => &row.job == job,
        })
        .collect();
    let mut line = format!(
        "▶️ Resumed <b>{}</b>. Held messages go out now.",
        escape_html(&pause.scope.to_string())
    );
    if skipped.is_empty() {
        line.push_str(" No scheduled slot was skipped while paused.");
    } else {
        line.push_str(&format!(
            " Skipped while paused (not run now): {}.",
            escape_html(&list_slots(&skipped))
        ));
    }
    Ok(line)
}

fn list_slots(rows: &[SlotRow]) -> String {
    const SHOWN: usize = 10;
    let mut items: Vec<String> = rows
        .iter()
        .take(SHOWN)
        .map(|r| format!("{} at {}", r.job, r.slot))
        .collect();
    if rows.len() > SHOWN {
        items.push(format!("and {} more", rows.len() - SHOWN));
    }
    items.join(", ")
}

/// One DM for every slot missed in one look.
fn missed_report(missed: &[(Arc<JobSpec>, DateTime<Utc>)]) -> String {
    let mut by_job: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (spec, slot) in missed {
        by_job
            .entry(spec.name.as_str())
            .or_default()
            .push(local_and_utc(spec, *slot));
    }
    let mut html = format!(
        "⏭ <b>{} scheduled slot(s) were missed</b> (herald was not running, or too late to catch up). They were not posted:",
        missed.len()
    );
    for (job, slots) in by_job {
        const SHOWN: usize = 10;
        let mut shown: Vec<String> = slots.iter().take(SHOWN).cloned().collect();
        if slots.len() > SHOWN {
            shown.push(format!("and {} more", slots.len() - SHOWN));
        }
        html.push_str(&format!(
            "\n• {}: {}",
            escape_html(job),
            escape_html(&shown.join("; "))
        ));
    }
    html
}

/// A preview request being rendered by this process; forgotten when its task ends, however
/// it ends, so a request whose preview could not be enqueued is rendered again.
struct InFlight {
    set: Arc<Mutex<HashSet<i64>>>,
    id: i64,
}

impl InFlight {
    fn start(set: &Arc<Mutex<HashSet<i64>>>, id: i64) -> InFlight {
        if let Ok(mut ids) = set.lock() {
            ids.insert(id);
        }
        InFlight {
            set: set.clone(),
            id,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut ids) = self.set.lock() {
            ids.remove(&self.id);
        }
    }
}

/// Renders a preview and sends it to the operator who asked, only. The request is settled in
/// the transaction that enqueues the preview: if herald stops before, the request is still
/// queued and the next start renders it; if another process answered it meanwhile, nothing is
/// sent twice.
async fn preview(
    job: Arc<dyn BoundJob>,
    request: JobRequest,
    store: Store,
    console: ConsoleChannel,
    at: DateTime<Utc>,
    _rendering: InFlight,
) {
    crash_point(CrashPoint::BeforePreview);
    let spec = job.spec().clone();
    // A render that panics is answered as a failure: left unanswered, its request would be
    // rendered (and panic) again at every tick.
    let rendered = match AssertUnwindSafe(job.preview(at)).catch_unwind().await {
        Ok(rendered) => rendered,
        Err(panic) => Err(format!("the job panicked: {}", panic_message(&*panic))),
    };
    let (html, outcome) = match rendered {
        Ok(texts) if texts.is_empty() => (
            format!(
                "🔍 Preview of <b>{}</b>: it would post nothing now.",
                escape_html(&spec.name)
            ),
            "shown: nothing to post".to_owned(),
        ),
        // A post Telegram would refuse fails its run at enqueue; the preview says so too.
        Ok(texts) if refused(&texts).is_some() => {
            let problem = refused(&texts).map(|p| p.to_string()).unwrap_or_default();
            (
                format!(
                    "🔍 Preview of <b>{}</b> failed: Telegram would refuse it: {}",
                    escape_html(&spec.name),
                    escape_html(&problem)
                ),
                format!("failed: Telegram would refuse it: {problem}"),
            )
        }
        Ok(texts) => {
            let mut html = format!(
                "🔍 Preview of <b>{}</b> ({} message(s) to #{}; nothing was posted):",
                escape_html(&spec.name),
                texts.len(),
                escape_html(&spec.thread)
            );
            for text in &texts {
                html.push_str("\n\n");
                html.push_str(text);
            }
            (html, format!("shown: {} message(s)", texts.len()))
        }
        Err(cause) => (
            format!(
                "🔍 Preview of <b>{}</b> failed: {}",
                escape_html(&spec.name),
                escape_html(&cause)
            ),
            format!("failed: {cause}"),
        ),
    };
    let result = async {
        let mut tx = store.begin_write().await?;
        if !requests::settle(&mut tx, request.id).await? {
            return Ok(false);
        }
        let entry = AuditEntry::new(
            "job",
            format!("preview requested by {}", request.requested_by),
        )
        .bot(spec.bot)
        .job(&spec.name)
        .detail(outcome);
        audit::record(&mut tx, at, &entry).await?;
        tell(&console, &mut tx, request.chat_id, &html, at).await?;
        tx.commit().await?;
        Ok::<bool, sqlx::Error>(true)
    }
    .await;
    match result {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(job = %spec.name, request = request.id, "preview already answered elsewhere; not sent twice")
        }
        Err(e) => {
            tracing::error!(job = %spec.name, error = %e, "a preview could not be enqueued; its request stays queued and is rendered again")
        }
    }
}

/// The text a panic was raised with, if it was a string.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

/// The first problem Telegram would have with one of a run's messages, if any.
fn refused(texts: &[String]) -> Option<crate::text::TextProblem> {
    texts
        .iter()
        .find_map(|text| crate::text::check(crate::text::TextKind::Message, text).err())
}

/// A reply to the operator who asked (`/run`, `/preview`).
async fn tell(
    console: &ConsoleChannel,
    conn: &mut sqlx::SqliteConnection,
    operator: i64,
    html: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    match console.direct(conn, operator, html, at).await {
        Ok(()) => Ok(()),
        Err(EnqueueError::Db(e)) => Err(e),
        Err(other) => {
            tracing::error!(error = %other, "console reply not enqueued");
            Ok(())
        }
    }
}

fn log_run(done: Result<(String, Result<(), sqlx::Error>), tokio::task::JoinError>) {
    match done {
        Ok((_, Ok(()))) => {}
        Ok((job, Err(e))) => {
            tracing::error!(%job, error = %e, "a job run could not record its outcome; its slot stays running and the watchdog will report it")
        }
        Err(e) => {
            tracing::error!(error = %e, "a job run panicked; its slot stays running and the watchdog will report it")
        }
    }
}

/// Absence detection: slots that overran, and a scheduler that stopped looking.
pub struct Watchdog {
    store: Store,
    clock: Clock,
    console: ConsoleChannel,
    settings: SchedulerSettings,
    heartbeat: Arc<Mutex<Instant>>,
    specs: Vec<Arc<JobSpec>>,
    /// Where the watchdog's checks are reported ([`crate::activity`]).
    reporter: Reporter,
}

impl Watchdog {
    /// Reports every check to `activity`: idle when it found nothing to tell.
    pub fn reporting_to(mut self, activity: &Activity) -> Self {
        self.reporter = activity.register("watchdog");
        self
    }

    pub async fn run(self, shutdown: CancellationToken) -> Result<(), SchedulerError> {
        let mut stalled_told = false;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(self.settings.watchdog_every) => {}
            }
            // One unit of work; `stalled_told` changes only once its DM committed.
            let look = self.reporter.look();
            let this = &self;
            let alerted;
            (stalled_told, alerted) = self
                .store
                .retry("checking for overdue slots", || {
                    let mut told = stalled_told;
                    async move {
                        let alerted = this.check(&mut told).await?;
                        Ok::<_, sqlx::Error>((told, alerted))
                    }
                })
                .await?;
            if alerted {
                self.reporter.worked();
            } else {
                self.reporter.idle(look);
            }
        }
    }

    /// One look for absences; whether it told the operator anything.
    async fn check(&self, stalled_told: &mut bool) -> Result<bool, sqlx::Error> {
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        let overdue = slots::take_overdue(&mut tx, now - self.settings.absence_after).await?;
        let mut alerted = !overdue.is_empty();
        for row in &overdue {
            let entry = AuditEntry::new("job", "overdue")
                .bot(&row.bot)
                .detail(format!("slot {} still running", row.slot))
                .job(&row.job);
            audit::record(&mut tx, now, &entry).await?;
            let when = match (self.spec(&row.job), row.instant()) {
                (Some(spec), Some(slot)) => local_and_utc(spec, slot),
                _ => row.slot.clone(),
            };
            let html = format!(
                "🔴 <b>Job overdue: {}</b>\nSlot {} has not finished {} minutes after its time. Nothing it would post has been posted yet.",
                escape_html(&row.job),
                escape_html(&when),
                self.settings.absence_after.num_minutes()
            );
            alert(&self.console, &mut tx, &html, now).await?;
        }
        let since_beat = self
            .heartbeat
            .lock()
            .map(|beat| beat.elapsed())
            .unwrap_or_default();
        let limit = self
            .clock
            .real_duration(self.settings.absence_after)
            .max(self.settings.tick * 10);
        if since_beat > limit && !*stalled_told && !self.specs.is_empty() {
            *stalled_told = true;
            alerted = true;
            tracing::error!(
                ?since_beat,
                "the scheduler has stopped looking at the schedule"
            );
            audit::record(
                &mut tx,
                now,
                &AuditEntry::new("job", "scheduler stalled")
                    .detail(format!("no look for {} s", since_beat.as_secs())),
            )
            .await?;
            let html = format!(
                "🔴 <b>The scheduler has stopped</b>: it has not looked at the schedule for {} s, so due slots are not running. Check the logs and restart herald.",
                since_beat.as_secs()
            );
            alert(&self.console, &mut tx, &html, now).await?;
        } else if since_beat <= limit {
            *stalled_told = false;
        }
        tx.commit().await?;
        Ok(alerted)
    }

    fn spec(&self, job: &str) -> Option<&JobSpec> {
        self.specs
            .iter()
            .find(|s| s.name == job)
            .map(|s| s.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::secrets::Token;
    use crate::identity::{Clawrence, VerifiedBot};
    use crate::jobs::JobError;
    use crate::sources::leave::RosterLeave;

    /// A job whose every run panics (a poison slot).
    struct Panics;

    impl Job for Panics {
        type Bot = Clawrence;

        fn run<'a>(&'a self, _input: &'a JobInput) -> BoxFuture<'a, Result<Vec<String>, JobError>> {
            Box::pin(async { panic!("poison slot") })
        }

        fn check(
            &self,
            _: &JobSpec,
            _: &Templates,
            _: &Roster,
        ) -> Result<Vec<crate::jobs::Sample>, String> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn a_panicking_run_marks_its_slot_failed_and_tells_the_operator() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let config = crate::config::load(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let roster = Arc::new(config.roster.clone());
        let file = &config.bot("clawrence").unwrap().jobs[0];
        let spec = Arc::new(JobSpec::from_file("clawrence", file, &roster).unwrap());
        let clock = Clock::manual(DateTime::UNIX_EPOCH + chrono::Duration::days(20_000));
        let verified = VerifiedBot::<Clawrence>::new(Token::new("1:test".into()), 1, false);
        let context = RunContext {
            store: store.clone(),
            clock: clock.clone(),
            roster: roster.clone(),
            templates: Arc::new(
                Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")).unwrap(),
            ),
            console: ConsoleChannel::new("lawrence", roster.clone()),
            leave: Arc::new(RosterLeave::new(roster.clone())),
            xero: None,
        };
        let runner = JobRunner::new(
            spec.clone(),
            Arc::new(Panics),
            Poster::new(&verified, clock.clone()),
            context,
        );
        let slot = clock.now();
        let mut tx = store.begin_write().await.unwrap();
        slots::claim(
            &mut tx,
            &spec.name,
            slot,
            spec.bot,
            Trigger::Schedule,
            SlotState::Running,
            None,
            slot,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();

        runner.execute(slot, Trigger::Schedule).await.unwrap();

        let (state, detail): (String, Option<String>) =
            sqlx::query_as("SELECT state, detail FROM job_slots WHERE job = ?")
                .bind(&spec.name)
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(state, "failed");
        assert_eq!(detail.as_deref(), Some("panicked: poison slot"));
        let dms: Vec<String> = sqlx::query_scalar(
            "SELECT text FROM outbox WHERE bot = 'lawrence' AND text LIKE '%Job failed%'",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(dms.len(), 1, "one operator DM, as for any failed run");
        assert!(dms[0].contains("panicked: poison slot"), "{}", dms[0]);
        let posts: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE bot = 'clawrence'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(posts, 0, "a panicking run posts nothing");
    }

    /// The watchdog of a scheduler whose last look was `stalled_for` ago, with the example
    /// deployment's jobs (or none).
    async fn watchdog(
        dir: &Path,
        with_jobs: bool,
        stalled_for: Duration,
    ) -> (Watchdog, Arc<Mutex<Instant>>) {
        let store = Store::open(&format!("sqlite://{}/t.db", dir.display()))
            .await
            .unwrap();
        let config = crate::config::load(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let specs = if with_jobs {
            config.bots["clawrence"]
                .jobs
                .iter()
                .map(|job| Arc::new(JobSpec::from_file("clawrence", job, &config.roster).unwrap()))
                .collect()
        } else {
            Vec::new()
        };
        let heartbeat = Arc::new(Mutex::new(Instant::now().checked_sub(stalled_for).unwrap()));
        let watchdog = Watchdog {
            store,
            clock: Clock::manual("2026-11-23T03:00:00Z".parse().unwrap()),
            console: ConsoleChannel::new("lawrence", Arc::new(config.roster.clone())),
            settings: SchedulerSettings::default(),
            heartbeat: heartbeat.clone(),
            specs,
            reporter: Reporter::detached(),
        };
        (watchdog, heartbeat)
    }

    async fn stalled_dms(watchdog: &Watchdog) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT text FROM outbox WHERE bot = 'lawrence' AND text LIKE '%scheduler has stopped%'
             ORDER BY id",
        )
        .fetch_all(watchdog.store.pool())
        .await
        .unwrap()
    }

    /// A scheduler that stopped looking (no tick for longer than ten ticks) is reported once,
    /// audited, and reported again only after it looked again and stopped again.
    #[tokio::test]
    async fn a_scheduler_that_stopped_looking_is_reported_once_per_stall() {
        let dir = tempfile::tempdir().unwrap();
        let (watchdog, heartbeat) = watchdog(dir.path(), true, Duration::from_secs(60)).await;
        let mut told = false;

        watchdog.check(&mut told).await.unwrap();
        assert!(told);
        let dms = stalled_dms(&watchdog).await;
        assert_eq!(dms.len(), 1, "{dms:?}");
        assert!(
            dms[0].starts_with(
                "🔴 <b>The scheduler has stopped</b>: it has not looked at the schedule for 60 s"
            ),
            "{}",
            dms[0]
        );
        let audited: Vec<String> = sqlx::query_scalar(
            "SELECT detail FROM audit WHERE kind = 'job' AND decision = 'scheduler stalled'",
        )
        .fetch_all(watchdog.store.pool())
        .await
        .unwrap();
        assert_eq!(audited, vec!["no look for 60 s"]);

        // Still stalled: not told twice.
        watchdog.check(&mut told).await.unwrap();
        assert_eq!(stalled_dms(&watchdog).await.len(), 1);

        // It looks again: all clear; a later stall is a new one, told again.
        *heartbeat.lock().unwrap() = Instant::now();
        watchdog.check(&mut told).await.unwrap();
        assert!(!told);
        assert_eq!(stalled_dms(&watchdog).await.len(), 1);
        *heartbeat.lock().unwrap() = Instant::now().checked_sub(Duration::from_secs(30)).unwrap();
        watchdog.check(&mut told).await.unwrap();
        assert_eq!(stalled_dms(&watchdog).await.len(), 2);
    }

    /// A job whose preview panics.
    struct PanickingPreview(Arc<JobSpec>);

    impl BoundJob for PanickingPreview {
        fn spec(&self) -> &Arc<JobSpec> {
            &self.0
        }

        fn execute(
            &self,
            _slot: DateTime<Utc>,
            _trigger: Trigger,
        ) -> BoxFuture<'static, Result<(), sqlx::Error>> {
            Box::pin(async { Ok(()) })
        }

        fn preview(&self, _at: DateTime<Utc>) -> BoxFuture<'static, Result<Vec<String>, String>> {
            Box::pin(async { panic!("template engine exploded") })
        }
    }

    /// A preview whose render panics is answered as a failure and its request settled, so
    /// the next tick does not render it (and panic) again.
    #[tokio::test]
    async fn a_preview_that_panics_is_answered_as_a_failure_once() {
        let dir = tempfile::tempdir().unwrap();
        let (watchdog, _) = watchdog(dir.path(), true, Duration::ZERO).await;
        let spec = watchdog.specs[0].clone();
        let operator = watchdog.console.operator_ids()[0];
        let scheduler = Scheduler::new(
            vec![Arc::new(PanickingPreview(spec.clone()))],
            watchdog.store.clone(),
            watchdog.clock.clone(),
            watchdog.console.clone(),
            SchedulerSettings::default(),
        );
        let store = watchdog.store.clone();
        let now = watchdog.clock.now();
        let mut tx = store.begin_write().await.unwrap();
        requests::add(
            &mut tx,
            &spec.name,
            requests::RequestKind::Preview,
            "Wei Ming Tan",
            operator,
            now,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();

        let mut known = None;
        scheduler.tick(&mut known).await.unwrap();
        let queued = || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM job_requests")
                .fetch_one(store.pool())
                .await
                .unwrap()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while queued().await > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the preview never settled"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        scheduler.tick(&mut known).await.unwrap();
        let answers: Vec<String> = sqlx::query_scalar(
            "SELECT text FROM outbox WHERE bot = 'lawrence' AND chat_id = ? ORDER BY id",
        )
        .bind(operator)
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(
            answers,
            vec![format!(
                "🔍 Preview of <b>{}</b> failed: the job panicked: template engine exploded",
                spec.name
            )]
        );
        let audited: Vec<String> = sqlx::query_scalar(
            "SELECT detail FROM audit WHERE decision = 'preview requested by Wei Ming Tan'",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(
            audited,
            vec!["failed: the job panicked: template engine exploded"]
        );
    }

    /// A scheduler within ten ticks of its last look, or one with no jobs to run, is fine.
    #[tokio::test]
    async fn a_recent_look_or_no_jobs_raise_no_alarm() {
        let dir = tempfile::tempdir().unwrap();
        let (recent, _) = watchdog(dir.path(), true, Duration::from_secs(5)).await;
        let mut told = false;
        recent.check(&mut told).await.unwrap();
        assert!(!told);
        assert!(stalled_dms(&recent).await.is_empty());

        let dir = tempfile::tempdir().unwrap();
        let (idle, _) = watchdog(dir.path(), false, Duration::from_secs(600)).await;
        idle.check(&mut told).await.unwrap();
        assert!(!told);
        assert!(stalled_dms(&idle).await.is_empty());
    }
}
