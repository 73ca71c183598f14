//! One look at the schedule: whether there is anything to do, the pauses (and telling the
//! operators what changed in them), the operator's requests, and for each job the slots that
//! came due, decided and claimed in one transaction; missed slots are told in one DM.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use minijinja::{context, Value};

use super::requests::{preview, InFlight};
use super::run_slot::BoundJob;
use super::shared::{alert, local_and_utc, tell};
use super::Scheduler;
use crate::console_texts;
use crate::jobs::JobSpec;
use crate::schedule::{decide, SlotDecision};
use crate::store::audit::{self, AuditEntry};
use crate::store::pauses::{self, Pause, PauseChange, PauseNotice, PauseScope, PauseState};
use crate::store::requests;
use crate::store::slots::{self, slot_key, SlotRow, SlotState, Trigger};
use crate::telemetry::metrics::{self, JobOutcome};

impl Scheduler {
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
    pub(super) async fn tick(
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
        // Counted once the transaction committed.
        let mut paused: Vec<Arc<JobSpec>> = Vec::new();
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
                    SlotDecision::Paused => paused.push(spec.clone()),
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
        let counters = metrics::process();
        for (_, slot, trigger) in &claimed {
            if matches!(trigger, Trigger::Schedule | Trigger::CatchUp) {
                counters.lateness((now - *slot).num_milliseconds() as f64 / 1000.0);
            }
        }
        for (spec, _) in &missed {
            counters.job_run(&spec.name, JobOutcome::Missed);
        }
        for spec in &paused {
            counters.job_run(&spec.name, JobOutcome::Paused);
        }
        for (job, request) in previews {
            let rendering = InFlight::start(
                &self.previews_in_flight,
                request.id,
                self.store.signals().scheduler(),
            );
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

    /// Tells the operators what changed in the pauses since the last tick (or, at start, that
    /// herald starts paused). An operator who made a change from the console was answered
    /// there (a `pause_notices` row says so) and is not told that change again.
    pub(super) async fn announce_pauses(
        &self,
        conn: &mut sqlx::SqliteConnection,
        before: Option<&PauseState>,
        now_state: &PauseState,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let told: HashSet<PauseNotice> = pauses::take_notices(conn).await?.into_iter().collect();
        // Each line (a change for `pause_changes.html`), and the change it tells (none for a
        // start while paused).
        let mut lines: Vec<(Value, Option<(&Pause, PauseChange)>)> = Vec::new();
        match before {
            None => {
                for p in &now_state.pauses {
                    let line = context! {
                        kind => "started_paused",
                        scope => p.scope.to_string(),
                        since => p.paused_at,
                        by => p.paused_by,
                    };
                    lines.push((line, None));
                }
            }
            Some(before) => {
                for p in &now_state.pauses {
                    if !before.has(&p.scope) {
                        let line = context! {
                            kind => "paused",
                            scope => p.scope.to_string(),
                            by => p.paused_by,
                        };
                        lines.push((line, Some((p, PauseChange::Pause))));
                    }
                }
                for p in &before.pauses {
                    if !now_state.has(&p.scope) {
                        let line = resumed_change(conn, p).await?;
                        lines.push((line, Some((p, PauseChange::Resume))));
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
            let all: Vec<Value> = lines.into_iter().map(|(line, _)| line).collect();
            let html = console_texts::render(
                "pause_changes.html",
                context! { changes => all, still => () },
            );
            return alert(&self.console, conn, &html, at).await;
        }
        let still: Vec<String> = now_state
            .pauses
            .iter()
            .map(|p| p.scope.to_string())
            .collect();
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
            let mine: Vec<&(Value, Option<(&Pause, PauseChange)>)> =
                lines.iter().filter(|(_, change)| !knows(change)).collect();
            if mine.is_empty() {
                continue;
            }
            let changes: Vec<Value> = mine.iter().map(|(line, _)| line.clone()).collect();
            let resumed = mine
                .iter()
                .any(|(_, change)| matches!(change, Some((_, PauseChange::Resume))));
            // Which pauses still hold, told after a resume.
            let still = (resumed && !still.is_empty()).then_some(&still);
            let html = console_texts::render("pause_changes.html", context! { changes, still });
            tell(&self.console, conn, operator, &html, at).await?;
        }
        Ok(())
    }
}

/// The line telling that the pause `pause` was lifted, with the slots it made skip.
pub(crate) async fn resumed_line(
    conn: &mut sqlx::SqliteConnection,
    pause: &Pause,
) -> Result<String, sqlx::Error> {
    let change = resumed_change(conn, pause).await?;
    Ok(console_texts::render(
        "pause_changes.html",
        context! { changes => vec![change], still => () },
    ))
}

/// How many skipped slots (or missed slots of one job) a DM names; the rest are counted.
const SLOTS_SHOWN: usize = 10;

/// The lifting of `pause`, with the slots it made skip, as a change of `pause_changes.html`.
async fn resumed_change(
    conn: &mut sqlx::SqliteConnection,
    pause: &Pause,
) -> Result<Value, sqlx::Error> {
    let skipped: Vec<SlotRow> = slots::paused_since(conn, &pause.paused_at)
        .await?
        .into_iter()
        .filter(|row| match &pause.scope {
            PauseScope::All => true,
            PauseScope::Bot(bot) => &row.bot == bot,
            PauseScope::Job(job) => &row.job == job,
        })
        .collect();
    let shown: Vec<Value> = skipped
        .iter()
        .take(SLOTS_SHOWN)
        .map(|row| context! { job => row.job, slot => row.slot })
        .collect();
    Ok(context! {
        kind => "resumed",
        scope => pause.scope.to_string(),
        skipped => shown,
        more => skipped.len().saturating_sub(SLOTS_SHOWN),
    })
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
    let jobs: Vec<Value> = by_job
        .into_iter()
        .map(|(name, slots)| {
            context! {
                name,
                more => slots.len().saturating_sub(SLOTS_SHOWN),
                slots => slots.into_iter().take(SLOTS_SHOWN).collect::<Vec<_>>(),
            }
        })
        .collect();
    console_texts::render(
        "slots_missed.html",
        context! { count => missed.len(), jobs },
    )
}
