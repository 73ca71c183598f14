//! Absence detection beside the scheduler: a slot still running five minutes after its time
//! (or its start, for a catch-up) is a failure, and so is a scheduler that stopped looking.

use crate::activity::{Activity, Reporter};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minijinja::context;
use tokio_util::sync::CancellationToken;

use super::shared::{alert, local_and_utc, SchedulerError, SchedulerSettings};
use crate::clock::Clock;
use crate::console_texts;
use crate::jobs::JobSpec;
use crate::outbox::alerts::ConsoleChannel;
use crate::store::audit::{self, AuditEntry};
use crate::store::slots;
use crate::store::Store;

/// The shortest real time a look may be overdue before the scheduler counts as stalled (on a
/// fast clock, `absence_after` is only a moment of real time).
const STALL_FLOOR: Duration = Duration::from_secs(10);

/// Absence detection: slots that overran, and a scheduler that stopped looking.
pub struct Watchdog {
    pub(super) store: Store,
    pub(super) clock: Clock,
    pub(super) console: ConsoleChannel,
    pub(super) settings: SchedulerSettings,
    /// Real instant of the scheduler's last completed look.
    pub(super) heartbeat: Arc<Mutex<Instant>>,
    pub(super) specs: Vec<Arc<JobSpec>>,
    /// Where the watchdog's checks are reported ([`crate::activity`]).
    pub(super) reporter: Reporter,
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
                _ = self.reporter.asked() => {}
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
            crate::supervisor::alive();
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
        let since_beat = self
            .heartbeat
            .lock()
            .map(|beat| beat.elapsed())
            .unwrap_or_default();
        let limit = self
            .clock
            .real_duration(self.settings.absence_after)
            .max(STALL_FLOOR);
        let stalled = since_beat > limit && !self.specs.is_empty();
        if !stalled {
            *stalled_told = false;
        }
        // Most looks find nothing: a read says so, without taking the write lock.
        let cutoff = now - self.settings.absence_after;
        let stall_to_tell = stalled && !*stalled_told;
        if !stall_to_tell && !slots::any_overdue(self.store.pool(), cutoff).await? {
            return Ok(false);
        }
        let mut tx = self.store.begin_write().await?;
        let overdue = slots::take_overdue(&mut tx, cutoff).await?;
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
            let html = console_texts::render(
                "job_overdue.html",
                context! {
                    job => row.job,
                    slot => when,
                    minutes => self.settings.absence_after.num_minutes(),
                },
            );
            alert(&self.console, &mut tx, &html, now).await?;
        }
        if stall_to_tell {
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
            let html = console_texts::render(
                "scheduler_stopped.html",
                context! { seconds => since_beat.as_secs() },
            );
            alert(&self.console, &mut tx, &html, now).await?;
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
pub(super) mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;

    /// The watchdog of a scheduler whose last look was `stalled_for` ago, with the example
    /// deployment's jobs (or none).
    pub(in crate::schedule::runner) async fn watchdog(
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
            console: ConsoleChannel::lawrence_for_tests(Arc::new(config.roster.clone())),
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
