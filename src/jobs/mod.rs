//! Scheduled jobs. A job is pure in the sense that matters: data in (the slot, the roster,
//! the templates, the stored state), rendered messages out. It never sends: the runner
//! ([`crate::schedule::runner`]) writes its messages to the outbox, as the job's own
//! identity, in the transaction that marks the slot done.
//!
//! Identity typing reaches jobs too: a job declares `type Bot`, and the runner that posts
//! its output holds only a `Poster<Self::Bot>`. A kind of job is a type implementing
//! [`JobKind`], which names its `kind` in the bot's TOML; each identity lists the kinds it
//! runs, as types, in its file in `src/bots/` ([`kinds::JobKinds`]).

pub mod ar_brief;
pub mod ar_brief_job;
pub mod cake_reminder;
pub mod capability_probe;
pub mod claims_summary;
pub mod gym_booking;
pub mod kinds;
pub mod laser_chase;
pub mod morning_brief;
pub mod post;
pub mod team_pulse;
pub mod volts_leaderboard;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::future::BoxFuture;

use crate::config::model::{JobFile, Misfire};
use crate::identity::BotIdentity;
use crate::roster::Roster;
use crate::schedule::cron::CronSchedule;
pub use crate::sources::Source;
use crate::store::Store;
use crate::templates::Templates;

/// A job's configuration, validated and parsed.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub name: String,
    /// The identity whose file declares the job; it is the one that posts.
    pub bot: &'static str,
    pub kind: String,
    pub cron: CronSchedule,
    pub timezone: Tz,
    pub thread: String,
    pub chat_id: i64,
    pub thread_id: Option<i32>,
    pub template: Option<String>,
    pub misfire: Misfire,
    pub grace: chrono::Duration,
    pub timeout: std::time::Duration,
    pub max_messages: usize,
    /// Kind `laser_chase`: what to post when nobody is missing.
    pub clean_sweep: crate::config::model::CleanSweep,
    /// Kind `volts_leaderboard`: how many ranks to show.
    pub top: u32,
    /// Kind `team_pulse`: pending leave older than this many days is nagged about.
    pub nag_after_days: u32,
    /// Kind `cake_reminder`: how many days before a birthday the reminder goes out.
    pub days_ahead: u32,
    /// morning_brief: post in the job's thread instead of DMing the operators.
    pub post_in_thread: bool,
}

impl JobSpec {
    /// Parses `file` (already checked by `herald check`; errors here name the job anyway).
    pub fn from_file(bot: &'static str, file: &JobFile, roster: &Roster) -> Result<Self, String> {
        let cron: CronSchedule = file
            .cron
            .parse()
            .map_err(|e| format!("job {}: cron: {e}", file.name))?;
        let timezone: Tz = file
            .timezone
            .parse()
            .map_err(|_| format!("job {}: unknown timezone {}", file.name, file.timezone))?;
        let thread = roster
            .thread(&file.thread)
            .ok_or_else(|| format!("job {}: unknown thread {}", file.name, file.thread))?;
        Ok(Self {
            name: file.name.clone(),
            bot,
            kind: file.kind.clone(),
            cron,
            timezone,
            thread: file.thread.clone(),
            chat_id: roster.chat_id(),
            thread_id: thread.message_thread_id,
            template: file.template.clone(),
            misfire: file.misfire,
            grace: chrono::Duration::minutes(i64::from(file.grace_minutes)),
            timeout: std::time::Duration::from_secs(u64::from(file.timeout_seconds)),
            max_messages: file.max_messages as usize,
            clean_sweep: file.clean_sweep.unwrap_or_default(),
            top: file.top.unwrap_or(10),
            nag_after_days: file.nag_after_days.unwrap_or(2),
            days_ahead: file.days_ahead.unwrap_or(3),
            post_in_thread: file.post_in_thread.unwrap_or(false),
        })
    }

    /// The slot as the team reads it: local time in the job's zone.
    pub fn local(&self, slot: DateTime<Utc>) -> DateTime<Tz> {
        slot.with_timezone(&self.timezone)
    }

    /// The job's template, or `default` for kinds that have one.
    pub fn template_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.template.as_deref().unwrap_or(default)
    }
}

/// What a job run may read.
#[derive(Clone)]
pub struct JobInput {
    pub spec: Arc<JobSpec>,
    /// The scheduled instant (or, for a manual run, when it was asked for).
    pub slot: DateTime<Utc>,
    pub roster: Arc<Roster>,
    pub templates: Arc<Templates>,
    pub store: Store,
    /// Who is on leave (the roster file, or an HR system).
    pub leave: Arc<dyn crate::sources::leave::LeaveSource>,
    /// The Xero client, when `[xero]` is configured.
    pub xero: Option<Arc<crate::sources::xero::XeroClient>>,
    /// The Talenox client, when `[talenox]` is configured.
    pub talenox: Option<Arc<crate::sources::talenox::TalenoxClient>>,
    /// The live probes (the capability probe's), inside `herald run`.
    pub prober: Option<Arc<crate::health::prober::Prober>>,
    /// Every job of the deployment (the morning brief lists today's).
    pub all_jobs: Arc<Vec<Arc<JobSpec>>>,
    /// The clock (a job that waits for an instant, such as a booking window's opening).
    pub clock: crate::clock::Clock,
    /// GymBooker's provider and plans, when `[gym]` is configured.
    pub gym: Option<Arc<crate::gym::Gym>>,
    /// A `/preview`: render only. A job that acts on the world (books a class) must not.
    pub preview: bool,
}

impl JobInput {
    /// The slot's calendar day in the team's zone.
    pub fn local_date(&self) -> chrono::NaiveDate {
        self.slot
            .with_timezone(&self.roster.timezone())
            .date_naive()
    }
}

/// Why a job run failed. The text goes to the operator as the cause.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Template(#[from] crate::templates::TemplateError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("job misconfigured: {0}")]
    Config(String),
    #[error("{0}")]
    Leave(#[from] crate::sources::leave::LeaveError),
    #[error("Xero: {0}")]
    Xero(String),
    #[error("{0}")]
    Talenox(#[from] crate::sources::talenox::TalenoxError),
}

/// What one run produced: posts for the job's thread and, rarely, notes for the operators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobOutput {
    /// The posts, in order. Empty posts nothing.
    pub posts: Vec<String>,
    /// Direct messages to members, by the job's identity, after the posts.
    pub direct: Vec<DirectMessage>,
    /// What the operators should know that the post cannot say (a source's problem, names
    /// that match nobody). DMed by the console identity in the run's transaction.
    pub notes: Vec<OperatorNote>,
}

impl JobOutput {
    /// One DM of `html` to every operator, by the job's identity (Happy's probe and brief).
    pub fn to_operators(roster: &Roster, html: &str) -> Self {
        JobOutput {
            direct: roster
                .members_with_role(crate::roster::Role::Operator)
                .map(|operator| DirectMessage {
                    to: operator.telegram_id,
                    once: None,
                    html: html.to_owned(),
                })
                .collect(),
            ..JobOutput::default()
        }
    }

    /// At most one post and at most one note: what most jobs produce.
    pub fn post_and_note(post: Option<String>, note: Option<OperatorNote>) -> Self {
        JobOutput {
            posts: post.into_iter().collect(),
            notes: note.into_iter().collect(),
            ..JobOutput::default()
        }
    }
}

impl From<Vec<String>> for JobOutput {
    fn from(posts: Vec<String>) -> Self {
        JobOutput {
            posts,
            ..JobOutput::default()
        }
    }
}

/// A DM from a job run to one member (a cake reminder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectMessage {
    /// The member's Telegram user id.
    pub to: i64,
    /// Sent at most once per job and key, ever; `None`: every run that makes it.
    pub once: Option<String>,
    /// Telegram HTML.
    pub html: String,
}

/// A note for the operators from a job run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorNote {
    /// Sent at most once per job and key, ever (reruns, `/run` and restarts included);
    /// `None`: every run that makes it.
    pub once: Option<String>,
    /// Telegram HTML.
    pub html: String,
}

/// One kind of scheduled job, for identity `Bot`.
pub trait Job: Send + Sync + 'static {
    type Bot: BotIdentity;

    /// Renders what one slot posts (in posting order) and what the operators should know.
    fn run<'a>(&'a self, input: &'a JobInput) -> BoxFuture<'a, Result<JobOutput, JobError>>;

    /// Whether it also runs once at every start, when the boot has become healthy (trigger
    /// `start`), besides its schedule.
    fn runs_at_start(&self) -> bool {
        false
    }

    /// Renders against sample data, so `herald check` catches a broken template: every
    /// sample rendering, or why one failed.
    fn check(
        &self,
        spec: &JobSpec,
        templates: &Templates,
        roster: &Roster,
    ) -> Result<Vec<Sample>, String>;
}

/// What a job's template rendered from sample data.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The template's file name in `templates/`.
    pub template: String,
    pub html: String,
}

impl Sample {
    pub fn new(template: &str, html: String) -> Self {
        Self {
            template: template.to_owned(),
            html,
        }
    }

    /// Why Telegram would refuse what the job posts from this sample, if it would. A post
    /// over the length limit is split into parts (as the runner does), so only its HTML can
    /// be wrong.
    pub fn problem(&self) -> Option<crate::text::TextProblem> {
        crate::text::split(&self.html, crate::text::TELEGRAM_MESSAGE_LIMIT)
            .err()
            .map(crate::text::TextProblem::Html)
    }
}

/// A kind of job: a type whose [`JobKind::KIND`] is what `kind = "..."` says in
/// `bots/<name>.toml`. The name is written once, here, by the job's own file; identities list
/// kinds as types ([`kinds::JobKinds::with`]), never as strings.
pub trait JobKind: Job + Default {
    /// The job's `kind` in the bot's TOML.
    const KIND: &'static str;
    /// The `[[jobs]]` settings only some kinds take, that this one does.
    const SETTINGS: &'static [KindSetting] = &[];
    /// The outside sources it reads: `bots/herald.toml` must configure them.
    const READS: &'static [Source] = &[];
    /// What a finding calls it ("the team pulse"); its `KIND` when empty.
    const TITLE: &'static str = "";
    /// Whether a job of this kind must name its template.
    const NEEDS_TEMPLATE: bool = false;
}

/// A `[[jobs]]` setting that only some kinds take; a job of another kind that sets it is a
/// finding, not a silently ignored line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KindSetting {
    CleanSweep,
    Top,
    NagAfterDays,
    DaysAhead,
    PostInThread,
}

impl KindSetting {
    pub const ALL: [KindSetting; 5] = [
        Self::DaysAhead,
        Self::PostInThread,
        Self::CleanSweep,
        Self::NagAfterDays,
        Self::Top,
    ];

    /// Its key in `[[jobs]]`.
    pub fn field(self) -> &'static str {
        match self {
            Self::CleanSweep => "clean_sweep",
            Self::Top => "top",
            Self::NagAfterDays => "nag_after_days",
            Self::DaysAhead => "days_ahead",
            Self::PostInThread => "post_in_thread",
        }
    }

    /// Whether `job` sets it.
    pub fn is_set(self, job: &JobFile) -> bool {
        match self {
            Self::CleanSweep => job.clean_sweep.is_some(),
            Self::Top => job.top.is_some(),
            Self::NagAfterDays => job.nag_after_days.is_some(),
            Self::DaysAhead => job.days_ahead.is_some(),
            Self::PostInThread => job.post_in_thread.is_some(),
        }
    }
}

/// A sample slot for checks and previews: next Monday 09:00 in the job's zone, fixed so
/// that checks are deterministic.
pub fn sample_slot(spec: &JobSpec) -> DateTime<Utc> {
    use chrono::TimeZone;
    spec.timezone
        .with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}
