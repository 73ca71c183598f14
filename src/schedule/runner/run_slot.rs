//! Running one claimed slot: the job renders under its timeout, its posts are split to fit
//! and written to the outbox in the transaction that marks the slot done (all or nothing); a
//! failure, a timeout or a panic marks the slot failed and tells the operator.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use minijinja::context;

use super::shared::{alert, local_and_utc};
use crate::clock::Clock;
use crate::console_texts;
use crate::identity::{BotIdentity, Poster};
use crate::isolation::{catch_panic, cut};
use crate::jobs::{Job, JobInput, JobOutput, JobSpec, OperatorNote};
use crate::outbox::alerts::ConsoleChannel;
use crate::outbox::{EnqueueError, Lane, OutgoingMessage};
use crate::roster::Roster;
use crate::sources::leave::LeaveSource;
use crate::store::audit::{self, AuditEntry};
use crate::store::slots::{self, slot_key, SlotState, Trigger};
use crate::store::Store;
use crate::telemetry::metrics::{self, JobOutcome};
use crate::templates::Templates;
use crate::text::{split_message, TELEGRAM_MESSAGE_LIMIT};

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
    pub talenox: Option<Arc<crate::sources::talenox::TalenoxClient>>,
    pub prober: Option<Arc<crate::health::prober::Prober>>,
    pub all_jobs: Arc<Vec<Arc<JobSpec>>>,
    pub gym: Option<Arc<crate::gym::Gym>>,
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
            talenox: self.talenox.clone(),
            prober: self.prober.clone(),
            all_jobs: self.all_jobs.clone(),
            clock: self.clock.clone(),
            gym: self.gym.clone(),
            preview: false,
        }
    }
}

/// A job bound to its identity's poster, as the scheduler sees it.
pub trait BoundJob: Send + Sync {
    fn spec(&self) -> &Arc<JobSpec>;
    /// Whether the job also runs once at every start ([`crate::jobs::Job::runs_at_start`]).
    fn runs_at_start(&self) -> bool {
        false
    }
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

    fn runs_at_start(&self) -> bool {
        self.job.runs_at_start()
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
                        metrics::process().job_run(&spec.name, JobOutcome::Failed);
                    }
                    Ok(())
                }
            }
        })
    }

    fn preview(&self, at: DateTime<Utc>) -> BoxFuture<'static, Result<Vec<String>, String>> {
        let input = JobInput {
            preview: true,
            ..self.context.input(&self.spec, at)
        };
        let job = self.job.clone();
        let timeout = self.spec.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, job.run(&input)).await {
                Ok(Ok(output)) => Ok(split_posts(output).posts),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("did not finish within {} s", timeout.as_secs())),
            }
        })
    }
}

/// A run's output with every post split into parts that fit one Telegram message.
fn split_posts(output: JobOutput) -> JobOutput {
    JobOutput {
        posts: output
            .posts
            .iter()
            .flat_map(|text| split_message(text, TELEGRAM_MESSAGE_LIMIT))
            .collect(),
        ..output
    }
}

/// Whether a message with this `once` key (or none) goes out: claims the key for the job, in
/// `tx`; false when an earlier run already claimed it.
async fn first_time(
    tx: &mut sqlx::SqliteConnection,
    spec: &JobSpec,
    once: Option<&str>,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    match once {
        Some(key) => crate::store::job_once::claim(tx, &spec.name, key, at).await,
        None => Ok(true),
    }
}

/// Tells the operators a run's notes, in `tx`: a note with a `once` key only the first time
/// its job claims that key. Each note told is audited.
async fn tell_notes(
    tx: &mut sqlx::SqliteConnection,
    spec: &JobSpec,
    console: &ConsoleChannel,
    slot_key: &str,
    notes: &[OperatorNote],
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for note in notes {
        if !first_time(&mut *tx, spec, note.once.as_deref(), at).await? {
            continue;
        }
        alert(console, &mut *tx, &note.html, at).await?;
        let entry = AuditEntry::new("job", "told the operators")
            .bot(spec.bot)
            .detail(format!(
                "slot {slot_key}: {}",
                cut(&crate::text::html_to_plain(&note.html), PANIC_CHARS)
            ))
            .job(&spec.name);
        audit::record(&mut *tx, at, &entry).await?;
    }
    Ok(())
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
        Ok(Ok(output)) if output.posts.len() + output.direct.len() > spec.max_messages => {
            Some(format!(
                "produced {} messages, more than its cap of {}",
                output.posts.len() + output.direct.len(),
                spec.max_messages
            ))
        }
        Ok(Ok(JobOutput {
            posts,
            direct,
            notes,
        })) => {
            let mut messages: Vec<OutgoingMessage> = posts
                .iter()
                .map(|text| OutgoingMessage::new(spec.chat_id, spec.thread_id, text.as_str()))
                .collect();
            for dm in &direct {
                if !first_time(&mut tx, &spec, dm.once.as_deref(), at).await? {
                    continue;
                }
                messages.push(OutgoingMessage::direct(dm.to, dm.html.as_str()));
            }
            let queued = messages.len();
            let mut problem = None;
            for (part, message) in messages.into_iter().enumerate() {
                let message =
                    message
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
                    let finished =
                        slots::finish(&mut tx, &spec.name, &key, SlotState::Done, queued, None, at)
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
                        .detail(format!("slot {key}: {queued} message(s) queued"))
                        .job(&spec.name);
                    audit::record(&mut tx, at, &entry).await?;
                    tell_notes(&mut tx, &spec, &context.console, &key, &notes, at).await?;
                    if trigger == Trigger::Manual {
                        let html = console_texts::render(
                            "job_ran_by_hand.html",
                            context! {
                                job => spec.name,
                                messages => posts.len(),
                                direct => queued - posts.len(),
                                thread => spec.thread,
                            },
                        );
                        alert(&context.console, &mut tx, &html, at).await?;
                    }
                    None
                }
            }
        }
    };
    let counted = match cause {
        Some(cause) => {
            let reported =
                record_failed_run(&mut tx, &spec, &context.console, slot, trigger, &cause, at)
                    .await?;
            if !reported {
                return Ok(());
            }
            JobOutcome::Failed
        }
        None => JobOutcome::Ran,
    };
    tx.commit().await?;
    metrics::process().job_run(&spec.name, counted);
    Ok(())
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
    let html = console_texts::render(
        "job_failed.html",
        context! {
            job => spec.name,
            bot => spec.bot,
            thread => spec.thread,
            slot => local_and_utc(spec, slot),
            trigger => trigger.as_str(),
            cause,
        },
    );
    alert(console, &mut *tx, &html, at).await?;
    Ok(true)
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

        fn run<'a>(&'a self, _input: &'a JobInput) -> BoxFuture<'a, Result<JobOutput, JobError>> {
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
            console: ConsoleChannel::lawrence_for_tests(roster.clone()),
            leave: Arc::new(RosterLeave::new(roster.clone())),
            xero: None,
            talenox: None,
            prober: None,
            all_jobs: Arc::default(),
            gym: None,
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
}
