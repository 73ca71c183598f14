//! The jobs that also run once at every start ([`crate::jobs::Job::runs_at_start`]: the
//! capability probe), when the boot has become healthy (`healthy_after`, 60 s without a fatal
//! error). Then rather than at the very start: a crash loop does not probe at every restart,
//! and the start's own `getMe` of every token is not repeated at once. Each claims a slot with
//! trigger `start` at that instant and runs like any other slot (its output, its failure DM,
//! the watchdog); a paused job does not run.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::run_slot::BoundJob;
use super::Scheduler;
use crate::store::audit::{self, AuditEntry};
use crate::store::pauses;
use crate::store::slots::{self, slot_key, SlotState, Trigger};

impl Scheduler {
    /// Claims a `start` slot at now for every job that runs at start, in one transaction;
    /// returns the claimed ones to run. A paused job is audited as skipped.
    #[allow(clippy::type_complexity)]
    pub(super) async fn claim_start_runs(
        &self,
    ) -> Result<Vec<(Arc<dyn BoundJob>, DateTime<Utc>, Trigger)>, sqlx::Error> {
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        let pauses = pauses::current(&mut tx).await?;
        let mut claimed = Vec::new();
        for job in self.jobs.iter().filter(|job| job.runs_at_start()) {
            let spec = job.spec();
            let mut entry = AuditEntry::new("job", "").bot(spec.bot).job(&spec.name);
            if let Some(pause) = pauses.holding_job(spec.bot, &spec.name) {
                entry.decision = format!("start run skipped: paused ({})", pause.scope);
                audit::record(&mut tx, now, &entry).await?;
                continue;
            }
            let fresh = slots::claim(
                &mut tx,
                &spec.name,
                now,
                spec.bot,
                Trigger::Start,
                SlotState::Running,
                None,
                now,
            )
            .await?;
            if fresh {
                entry.decision = "slot running (start)".to_owned();
                entry.detail = Some(format!("slot {}", slot_key(now)));
                audit::record(&mut tx, now, &entry).await?;
                claimed.push((job.clone(), now, Trigger::Start));
            }
        }
        tx.commit().await?;
        self.reporter.worked();
        Ok(claimed)
    }
}
