//! The scheduler task and its watchdog.
//!
//! The scheduler sleeps until the next instant something is due: the first slot of any job
//! after its cursor, or the daily prune. That instant is clock time, mapped to real time by
//! the clock (an accelerated clock sleeps `Δ / speed`; a test's manual clock wakes it when
//! moved past it). A commit that changes what is due (a pause, an operator's `/run` or
//! `/preview`: [`crate::store::signals`]), a run that ends and another process's writes (the
//! lease's heartbeat) wake it sooner. Each look, in one transaction: reads the pauses
//! and tells the operator about any change; for each job, takes the slots that came due
//! since its cursor, decides them ([`super::decide`]), claims each by inserting its row, and
//! moves the cursor; reports missed slots in one DM. Lateness is clock time, so a rehearsal at
//! any speed sees a slot as late as it really was. Claimed runs then execute outside the
//! transaction, each under its timeout; a run's messages are written to the outbox in the
//! transaction that marks its slot done, so a crash mid-run posts nothing and a slot never
//! posts twice. Every failure DMs the operator through the console identity.
//!
//! The watchdog runs beside it: a slot still running five minutes after its time (or its
//! start, for a catch-up) is a failure, and so is a scheduler overdue for the look it said it
//! would take next.
//!
//! One file per seam: this one holds the task (start-up, the loop, shutdown); [`shared`] what
//! the others share; [`tick`] is one look at the schedule and the pauses; [`run_slot`] runs one
//! claimed slot and records how it ended; [`requests`] takes the operator's `/run` and
//! `/preview`; [`start_runs`] claims the runs of jobs that also run at every start;
//! [`watchdog`] is absence detection.

mod requests;
mod run_slot;
mod shared;
mod start_runs;
pub(crate) mod tick;
mod watchdog;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use minijinja::context;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::activity::{Activity, Reporter};
use crate::clock::Clock;
use crate::console_texts;
use crate::outbox::alerts::ConsoleChannel;
use crate::store::audit::{self, AuditEntry};
use crate::store::pauses::{self, PauseState};
use crate::store::slots::{self, SlotRow};
use crate::store::Store;

pub use run_slot::{BoundJob, JobRunner, RunContext};
use shared::alert;
pub use shared::{local_and_utc, SchedulerError, SchedulerSettings};
pub use watchdog::Watchdog;

/// The scheduler task.
pub struct Scheduler {
    jobs: Vec<Arc<dyn BoundJob>>,
    store: Store,
    clock: Clock,
    console: ConsoleChannel,
    settings: SchedulerSettings,
    /// Real instant by which the scheduler said it would look again, for the watchdog.
    heartbeat: Arc<Mutex<Instant>>,
    /// Whether [`Scheduler::run`] runs, for readiness.
    running: Arc<std::sync::atomic::AtomicBool>,
    /// Audit entries and settled rows older than this many days are pruned once a day.
    audit_retention_days: Option<u32>,
    /// The pauses [`Scheduler::prepare`] found (and announced) at start: the first look
    /// starts from them, so a pause made after start-up is told as a pause, never as
    /// "started while paused", however soon it follows.
    start_pauses: Mutex<Option<PauseState>>,
    /// Preview requests being rendered by this process (not to be started twice).
    previews_in_flight: Arc<Mutex<HashSet<i64>>>,
    /// Where the looks at the schedule are reported ([`crate::activity`]).
    pub(super) reporter: Reporter,
    /// Cancelled when the boot has become healthy: then the jobs that run at start run once
    /// ([`start_runs`]). `None`: they never do (diagnose mode, tests of the scheduler alone).
    became_healthy: Option<CancellationToken>,
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
            running: Arc::default(),
            audit_retention_days: None,
            start_pauses: Mutex::new(None),
            previews_in_flight: Arc::new(Mutex::new(HashSet::new())),
            reporter: Reporter::detached(),
            became_healthy: None,
        }
    }

    /// Runs the jobs that run at start once `became_healthy` is cancelled (the boot has
    /// become healthy).
    pub fn with_start_runs(mut self, became_healthy: CancellationToken) -> Self {
        self.became_healthy = Some(became_healthy);
        self
    }

    /// Reports every look at the schedule to `activity`: idle when it changed nothing and no
    /// run or preview is under way.
    pub fn reporting_to(mut self, activity: &Activity) -> Self {
        self.reporter = activity.register("scheduler");
        self
    }

    /// This scheduler's heartbeat, for readiness (`/readyz`): its promised next look, and
    /// whether its task runs.
    pub fn beat(&self) -> crate::telemetry::readiness::SchedulerBeat {
        crate::telemetry::readiness::SchedulerBeat {
            next_look: self.heartbeat.clone(),
            running: self.running.clone(),
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
        // Fault injection only: SIGUSR1 ends this task as a bug would (`crate::faults`).
        let fault_stop = crate::faults::stop_on_signal("scheduler");
        let mut known: Option<PauseState> = self
            .start_pauses
            .lock()
            .ok()
            .and_then(|mut start| start.take());
        let mut runs: JoinSet<(String, Result<(), sqlx::Error>)> = JoinSet::new();
        let mut pruned_at: Option<DateTime<Utc>> = None;
        // Whether the last look left a run or a preview under way.
        let mut busy = false;
        // The start runs, until they were claimed.
        let mut start_runs = self.became_healthy.clone();
        let wake = self.store.signals().scheduler();
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
            // A look is one unit of work: what it learns of the pauses counts only once it
            // committed, so a look run again after a transient failure announces them again.
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
            let mut claimed = match ticked {
                Ok((claimed, seen)) => {
                    known = seen;
                    claimed
                }
                Err(e) => break Err(SchedulerError(e)),
            };
            // Once the boot is healthy: the jobs that also run at start, once.
            if start_runs
                .as_ref()
                .is_some_and(CancellationToken::is_cancelled)
            {
                start_runs = None;
                match self
                    .store
                    .retry("claiming the runs at start", || self.claim_start_runs())
                    .await
                {
                    Ok(at_start) => claimed.extend(at_start),
                    Err(e) => break Err(SchedulerError(e)),
                }
            }
            for (job, slot, trigger) in claimed {
                let name = job.spec().name.clone();
                let run = job.execute(slot, trigger);
                runs.spawn(async move { (name, run.await) });
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
            let next = match self
                .store
                .retry("planning the next look", || self.next_due(pruned_at))
                .await
            {
                Ok(next) => next,
                Err(e) => break Err(SchedulerError(e)),
            };
            let now = self.clock.now();
            let sleep = next
                .map_or(self.settings.longest_sleep, |at| at - now)
                .clamp(chrono::Duration::zero(), self.settings.longest_sleep);
            if let Ok(mut beat) = self.heartbeat.lock() {
                // On a manual clock the next look waits on the test, however long it takes:
                // never overdue.
                *beat = self
                    .clock
                    .real_deadline(sleep)
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 86_400));
            }
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                _ = fault_stop.cancelled() => {
                    tracing::error!("fault injection: the scheduler task stops");
                    break Ok(());
                }
                _ = wake.notified() => {}
                _ = healthy(&start_runs) => {}
                _ = self.reporter.asked() => {}
                _ = self.clock.sleep(sleep.to_std().unwrap_or_default()) => {}
                Some(done) = runs.join_next(), if !runs.is_empty() => log_run(done),
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

    /// The clock instant of the next thing due: the first slot of any job after its cursor
    /// (the slots up to the cursor are decided), or the next daily prune. An instant already
    /// past means: look again at once.
    async fn next_due(
        &self,
        pruned_at: Option<DateTime<Utc>>,
    ) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        let cursors = slots::cursors(self.store.pool()).await?;
        let now = self.clock.now();
        let slots = self.jobs.iter().filter_map(|job| {
            let spec = job.spec();
            let from = cursors.get(&spec.name).copied().unwrap_or(now);
            spec.cron.next_after(spec.timezone, from)
        });
        let prune = self
            .audit_retention_days
            .and(pruned_at)
            .map(|at| at + chrono::Duration::days(1));
        Ok(slots.chain(prune).min())
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
            let html = console_texts::render(
                "job_interrupted.html",
                context! { job => row.job, slot => self.slot_text(row) },
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
}

/// Resolves once the boot has become healthy while the start runs wait for it; never otherwise.
async fn healthy(start_runs: &Option<CancellationToken>) {
    match start_runs {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
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
