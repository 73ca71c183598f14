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

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{decide, SlotDecision};
use crate::clock::Clock;
use crate::identity::{BotIdentity, Poster};
use crate::jobs::{Job, JobInput, JobSpec};
use crate::outbox::alerts::ConsoleChannel;
use crate::outbox::{EnqueueError, Lane, OutgoingMessage};
use crate::roster::Roster;
use crate::sources::leave::LeaveSource;
use crate::store::audit::{self, AuditEntry};
use crate::store::pauses::{self, PauseScope, PauseState};
use crate::store::requests::{self, RequestKind};
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
        Box::pin(async move { run_slot(spec, job, poster, context, slot, trigger).await })
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
        tracing::error!(job = %spec.name, slot = %key, %cause, "job failed");
        let finished = slots::finish(
            &mut tx,
            &spec.name,
            &key,
            SlotState::Failed,
            0,
            Some(&cause),
            at,
        )
        .await?;
        if !finished {
            tracing::error!(job = %spec.name, slot = %key, %cause, "slot was no longer running; not reported twice");
            return Ok(());
        }
        let entry = AuditEntry::new("job", "failed")
            .bot(spec.bot)
            .detail(format!("slot {key}: {cause}"))
            .job(&spec.name);
        audit::record(&mut tx, at, &entry).await?;
        let html = format!(
            "🔴 <b>Job failed: {}</b>\n{}\nCause: {}\nPosted: nothing.",
            escape_html(&spec.name),
            escape_html(&describe_slot(&spec, slot, trigger)),
            escape_html(&cause),
        );
        alert(&context.console, &mut tx, &html, at).await?;
    }
    tx.commit().await
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
    /// Audit entries older than this many days are pruned once a day.
    audit_retention_days: Option<u32>,
}

impl Scheduler {
    /// Prunes the audit log of entries older than `days`, at start and then daily.
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
        }
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
        }
    }

    /// Runs until `shutdown`; runs in flight get a few seconds to finish (one cut short
    /// stays `running` and is reported as interrupted at the next start).
    /// What must happen before the first look, awaited by start-up so that the schedule is in
    /// a known state when `herald run` is up: runs cut short by the last stop are reported,
    /// removed jobs forget their cursor, and every job has one (a new job starts at "now").
    pub async fn prepare(&self) -> Result<(), SchedulerError> {
        self.report_interrupted().await?;
        self.forget_removed_jobs().await?;
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        for job in &self.jobs {
            slots::cursor(&mut tx, &job.spec().name, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Runs until `shutdown` (after [`Scheduler::prepare`]).
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), SchedulerError> {
        let mut known: Option<PauseState> = None;
        let mut runs: JoinSet<(String, Result<(), sqlx::Error>)> = JoinSet::new();
        let mut pruned_at: Option<DateTime<Utc>> = None;
        let result = loop {
            if let Some(days) = self.audit_retention_days {
                let now = self.clock.now();
                if pruned_at.is_none_or(|at| now - at >= chrono::Duration::days(1)) {
                    pruned_at = Some(now);
                    if let Err(e) = self.prune_audit(days, now).await {
                        break Err(SchedulerError(e));
                    }
                }
            }
            match self.tick(&mut known).await {
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

    async fn prune_audit(&self, days: u32, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let mut tx = self.store.begin_write().await?;
        let pruned = audit::prune(&mut tx, now, days).await?;
        tx.commit().await?;
        if pruned > 0 {
            tracing::info!(pruned, days, "pruned old audit entries");
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
        if requests::any(self.store.pool()).await? {
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
        for (job, chat) in previews {
            tokio::spawn(preview(
                job,
                chat,
                self.store.clone(),
                self.console.clone(),
                now,
            ));
        }
        Ok(claimed)
    }

    /// The operator's `/run` and `/preview` requests: a run claims a manual slot at `now`
    /// under the same rules as a scheduled one (a paused job does not run); previews are
    /// returned to be rendered after the tick commits.
    #[allow(clippy::type_complexity)]
    async fn take_requests(
        &self,
        conn: &mut sqlx::SqliteConnection,
        pauses: &PauseState,
        now: DateTime<Utc>,
        claimed: &mut Vec<(Arc<dyn BoundJob>, DateTime<Utc>, Trigger)>,
    ) -> Result<Vec<(Arc<dyn BoundJob>, i64)>, sqlx::Error> {
        let mut previews = Vec::new();
        for request in requests::take_all(conn).await? {
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
            if request.kind() == RequestKind::Preview {
                audit::record(conn, now, &entry).await?;
                previews.push((job.clone(), request.chat_id));
                continue;
            }
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

    /// Tells the operator what changed in the pauses since the last tick (or, at start, that
    /// herald starts paused).
    async fn announce_pauses(
        &self,
        conn: &mut sqlx::SqliteConnection,
        before: Option<&PauseState>,
        now_state: &PauseState,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let mut lines = Vec::new();
        match before {
            None => {
                for p in &now_state.pauses {
                    lines.push(format!(
                        "⏸ herald started while paused: <b>{}</b> (since {} by {}). Resume with <code>herald resume {}</code> or /resume.",
                        escape_html(&p.scope.to_string()),
                        escape_html(&p.paused_at),
                        escape_html(&p.paused_by),
                        escape_html(&p.scope.to_string()),
                    ));
                }
            }
            Some(before) => {
                for p in &now_state.pauses {
                    if !before.has(&p.scope) {
                        lines.push(format!(
                            "⏸ Paused <b>{}</b> by {}. Scheduled slots are skipped and held messages wait; operator DMs still go out.",
                            escape_html(&p.scope.to_string()),
                            escape_html(&p.paused_by),
                        ));
                    }
                }
                for p in &before.pauses {
                    if now_state.has(&p.scope) {
                        continue;
                    }
                    let skipped: Vec<SlotRow> = slots::paused_since(conn, &p.paused_at)
                        .await?
                        .into_iter()
                        .filter(|row| match &p.scope {
                            PauseScope::All => true,
                            PauseScope::Bot(bot) => &row.bot == bot,
                            PauseScope::Job(job) => &row.job == job,
                        })
                        .collect();
                    let mut line = format!(
                        "▶️ Resumed <b>{}</b>. Held messages go out now.",
                        escape_html(&p.scope.to_string())
                    );
                    if skipped.is_empty() {
                        line.push_str(" No scheduled slot was skipped while paused.");
                    } else {
                        line.push_str(&format!(
                            " Skipped while paused (not run now): {}.",
                            escape_html(&list_slots(&skipped))
                        ));
                    }
                    lines.push(line);
                }
                if !now_state.is_empty() && lines.iter().any(|l| l.starts_with("▶️")) {
                    let still: Vec<String> = now_state
                        .pauses
                        .iter()
                        .map(|p| p.scope.to_string())
                        .collect();
                    lines.push(format!("Still paused: {}.", escape_html(&still.join(", "))));
                }
            }
        }
        if lines.is_empty() {
            return Ok(());
        }
        alert(&self.console, conn, &lines.join("\n"), at).await
    }
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

/// Renders a preview and sends it to the operator who asked, only.
async fn preview(
    job: Arc<dyn BoundJob>,
    operator: i64,
    store: Store,
    console: ConsoleChannel,
    at: DateTime<Utc>,
) {
    let spec = job.spec().clone();
    let html = match job.preview(at).await {
        Ok(texts) if texts.is_empty() => format!(
            "🔍 Preview of <b>{}</b>: it would post nothing now.",
            escape_html(&spec.name)
        ),
        // A post Telegram would refuse fails its run at enqueue; the preview says so too.
        Ok(texts) if refused(&texts).is_some() => format!(
            "🔍 Preview of <b>{}</b> failed: Telegram would refuse it: {}",
            escape_html(&spec.name),
            escape_html(&refused(&texts).map(|p| p.to_string()).unwrap_or_default())
        ),
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
            html
        }
        Err(cause) => format!(
            "🔍 Preview of <b>{}</b> failed: {}",
            escape_html(&spec.name),
            escape_html(&cause)
        ),
    };
    let result = async {
        let mut tx = store.begin_write().await?;
        tell(&console, &mut tx, operator, &html, at).await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = result {
        tracing::error!(job = %spec.name, error = %e, "a preview could not be delivered");
    }
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
}

impl Watchdog {
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), SchedulerError> {
        let mut stalled_told = false;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(self.settings.watchdog_every) => {}
            }
            self.check(&mut stalled_told).await?;
        }
    }

    async fn check(&self, stalled_told: &mut bool) -> Result<(), sqlx::Error> {
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        let overdue = slots::take_overdue(&mut tx, now - self.settings.absence_after).await?;
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
        tx.commit().await
    }

    fn spec(&self, job: &str) -> Option<&JobSpec> {
        self.specs
            .iter()
            .find(|s| s.name == job)
            .map(|s| s.as_ref())
    }
}
