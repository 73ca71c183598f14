//! The operator's `/run` and `/preview`, queued by the console and taken by the scheduler's
//! next look (the request's commit wakes it): a run claims a manual slot under the rules of a
//! scheduled one; a preview is rendered after the look commits and sent to the operator who
//! asked, its request settled with it.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use minijinja::context;

use super::run_slot::BoundJob;
use super::shared::tell;
use super::Scheduler;
use crate::console_texts;
use crate::faults::{crash_point, CrashPoint};
use crate::outbox::alerts::ConsoleChannel;
use crate::store::audit::{self, AuditEntry};
use crate::store::pauses::PauseState;
use crate::store::requests::{self, JobRequest};
use crate::store::slots::{self, slot_key, SlotState, Trigger};
use crate::store::Store;

impl Scheduler {
    /// The preview requests this process is rendering.
    pub(super) fn in_flight(&self) -> HashSet<i64> {
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
    pub(super) async fn take_requests(
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
                    let html = console_texts::render(
                        "job_gone.html",
                        context! { job => request.job, preview => true },
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
                    &console_texts::render(
                        "job_gone.html",
                        context! { job => request.job, preview => false },
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
                let html = console_texts::render(
                    "run_paused.html",
                    context! { job => spec.name, scope => pause.scope.to_string() },
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
                let html = console_texts::render(
                    "run_slot_taken.html",
                    context! { job => spec.name, slot => slot_key(now) },
                );
                tell(&self.console, conn, request.chat_id, &html, now).await?;
            }
        }
        Ok(previews)
    }
}

/// A preview request being rendered by this process; forgotten when its task ends, however
/// it ends, so a request whose preview could not be enqueued is rendered again.
pub(super) struct InFlight {
    set: Arc<Mutex<HashSet<i64>>>,
    id: i64,
    /// The scheduler, woken when the preview ends (to look again at what is left).
    scheduler: Arc<tokio::sync::Notify>,
}

impl InFlight {
    pub(super) fn start(
        set: &Arc<Mutex<HashSet<i64>>>,
        id: i64,
        scheduler: Arc<tokio::sync::Notify>,
    ) -> InFlight {
        if let Ok(mut ids) = set.lock() {
            ids.insert(id);
        }
        InFlight {
            set: set.clone(),
            id,
            scheduler,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut ids) = self.set.lock() {
            ids.remove(&self.id);
        }
        self.scheduler.notify_one();
    }
}

/// Renders a preview and sends it to the operator who asked, only. The request is settled in
/// the transaction that enqueues the preview: if herald stops before, the request is still
/// queued and the next start renders it; if another process answered it meanwhile, nothing is
/// sent twice.
pub(super) async fn preview(
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
    // What the operator reads, and what the audit log keeps.
    let (shown, outcome) = match rendered {
        Ok(texts) if texts.is_empty() => (
            context! { failed => (), refused => (), posts => texts },
            "shown: nothing to post".to_owned(),
        ),
        // A post Telegram would refuse fails its run at enqueue; the preview says so too.
        Ok(texts) if refused(&texts).is_some() => {
            let problem = refused(&texts).map(|p| p.to_string()).unwrap_or_default();
            (
                context! { failed => (), refused => problem, posts => () },
                format!("failed: Telegram would refuse it: {problem}"),
            )
        }
        Ok(texts) => {
            let outcome = format!("shown: {} message(s)", texts.len());
            (
                context! { failed => (), refused => (), posts => texts },
                outcome,
            )
        }
        Err(cause) => (
            context! { failed => cause, refused => (), posts => () },
            format!("failed: {cause}"),
        ),
    };
    let html = console_texts::render(
        "job_preview.html",
        context! { job => spec.name, thread => spec.thread, ..shown },
    );
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::future::BoxFuture;

    use super::*;
    use crate::jobs::JobSpec;
    use crate::schedule::runner::watchdog::tests::watchdog;
    use crate::schedule::runner::SchedulerSettings;

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
}
