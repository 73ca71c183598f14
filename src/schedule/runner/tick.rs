//! One look at the schedule: whether there is anything to do, the pauses (and telling the
//! operators what changed in them), the operator's requests, and for each job the slots that
//! came due, decided and claimed in one transaction; missed slots are told in one DM.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::requests::{preview, InFlight};
use super::{alert, local_and_utc, tell, BoundJob, Scheduler};
use crate::jobs::JobSpec;
use crate::schedule::{decide, SlotDecision};
use crate::store::audit::{self, AuditEntry};
use crate::store::pauses::{self, Pause, PauseChange, PauseNotice, PauseScope, PauseState};
use crate::store::requests;
use crate::store::slots::{self, slot_key, SlotRow, SlotState, Trigger};
use crate::text::escape_html;

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
