//! The morning brief (Happy, kind `morning_brief`, e.g. 08:30 team time): what the operator
//! wants to know before the day starts, from the store and the clock only, so the same store
//! at the same slot gives the same bytes. DMed to every operator, or posted in the job's
//! thread with `post_in_thread = true`. It covers:
//! - today's scheduled posts, with their times, every job of every bot;
//! - approvals still open, and approved ones not yet written to Xero;
//! - who is out today (the roster's leave, or Talenox's where configured);
//! - the last 24 hours' failed and ambiguous sends and failed job runs;
//! - what the newest capability probe found not OK.

use chrono::{DateTime, Duration, Utc};
use futures::future::BoxFuture;
use serde::Serialize;

use super::capability_probe::CapabilityProbe;
use super::{Job, JobError, JobInput, JobKind, JobOutput, JobSpec, Sample};
use crate::identity::Happy;
use crate::roster::Roster;
use crate::sources::leave::Certainty;
use crate::store::approvals::Approval;
use crate::store::failures::{self, Failure};
use crate::store::pauses::PauseState;
use crate::templates::{TemplateError, Templates};

/// The template used when a job names none.
pub const DEFAULT_TEMPLATE: &str = "morning_brief.html";

/// How many failures of each kind the brief lists (it says how many more).
const LISTED: usize = 10;

/// The morning brief job.
#[derive(Debug, Default)]
pub struct MorningBrief;

impl super::JobKind for MorningBrief {
    const KIND: &'static str = "morning_brief";
    const SETTINGS: &'static [super::KindSetting] = &[super::KindSetting::PostInThread];
}

/// One scheduled post of today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TodaysPost {
    /// Team time, "09:00".
    pub time: String,
    pub job: String,
    pub bot: String,
    /// Where it goes: "#pulse", or the operators' DMs (the probe, a brief sent by DM).
    pub to: String,
    /// A pause holds it (of all, its bot or the job): it will not go out unless resumed.
    pub paused: bool,
}

/// One approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalLine {
    pub number: String,
    pub contact: String,
    pub total: String,
    /// `open`, or the Xero side of an approved one (`pending`, `failed`).
    pub status: String,
}

/// What the template sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Brief {
    /// "Thursday 3 December".
    pub day: String,
    pub posts: Vec<TodaysPost>,
    pub approvals: Vec<ApprovalLine>,
    pub out: Vec<String>,
    /// Why who is out is not certain, when it is not.
    pub out_note: Option<String>,
    /// "08:12 claudia row 17: Forbidden: ..." newest first.
    pub failures: Vec<String>,
    /// How many failures were not listed.
    pub more_failures: usize,
    /// "BROKEN claudia: thread ar-brief: ..." from the newest probe.
    pub health: Vec<String>,
    /// When that probe ran (team time), if one has.
    pub probed_at: Option<String>,
}

/// Where a job's output goes, as the brief and `herald schedule` show it: its thread, or the
/// operators' DMs for the kinds that DM them (the capability probe; the brief itself unless
/// `post_in_thread`).
pub fn destination(spec: &JobSpec) -> String {
    let dms = spec.kind == <CapabilityProbe as JobKind>::KIND
        || (spec.kind == <MorningBrief as JobKind>::KIND && !spec.post_in_thread);
    if dms {
        "operators' DMs".to_owned()
    } else {
        format!("#{}", spec.thread)
    }
}

/// Today's slots of every job, in time order (then job name); those a pause holds marked.
fn todays_posts(
    jobs: &[std::sync::Arc<JobSpec>],
    roster: &Roster,
    slot: DateTime<Utc>,
    pauses: &PauseState,
) -> Vec<TodaysPost> {
    let zone = roster.timezone();
    let day = slot.with_timezone(&zone).date_naive();
    let start = day
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(zone).earliest())
        .map_or(slot - Duration::days(1), |t| t.with_timezone(&Utc));
    let end = start + Duration::days(1);
    let mut posts: Vec<(DateTime<Utc>, TodaysPost)> = jobs
        .iter()
        .flat_map(|spec| {
            spec.cron
                .slots_between(
                    spec.timezone,
                    start - Duration::seconds(1),
                    end - Duration::seconds(1),
                )
                .into_iter()
                .map(move |at| {
                    (
                        at,
                        TodaysPost {
                            time: at.with_timezone(&zone).format("%H:%M").to_string(),
                            job: spec.name.clone(),
                            bot: spec.bot.to_owned(),
                            to: destination(spec),
                            paused: pauses.holding_job(spec.bot, &spec.name).is_some(),
                        },
                    )
                })
        })
        .collect();
    posts.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.job.cmp(&b.1.job)));
    posts.into_iter().map(|(_, post)| post).collect()
}

/// Gathers the brief for `input`'s slot.
pub async fn gather(input: &JobInput) -> Result<Brief, JobError> {
    let roster = &input.roster;
    let zone = roster.timezone();
    let local = input.slot.with_timezone(&zone);
    let mut conn = input.store.reader().acquire().await?;

    let line = |a: Approval, status: String| ApprovalLine {
        number: a.number,
        contact: a.contact,
        total: a.total,
        status,
    };
    let open = crate::store::approvals::open(&mut conn).await?;
    let not_in_xero = crate::store::approvals::not_in_xero(&mut conn).await?;
    let approvals: Vec<ApprovalLine> = open
        .into_iter()
        .map(|a| line(a, "open".into()))
        .chain(not_in_xero.into_iter().map(|a| {
            let status = format!("approved, Xero {}", a.xero);
            line(a, status)
        }))
        .collect();

    // Failed and ambiguous sends and failed runs of the last 24 hours, newest first.
    let day_ago = input.slot - Duration::hours(24);
    let failures: Vec<String> = failures::recent(&mut conn, Some(day_ago), i64::MAX)
        .await?
        .into_iter()
        .map(|failure| {
            let at = failure.at().with_timezone(&zone).format("%a %H:%M");
            match failure {
                Failure::Send {
                    id,
                    bot,
                    state,
                    error,
                    ..
                } => format!("{at} {bot} send {id} {state}: {error}"),
                Failure::Run { job, detail, .. } => format!("{at} job {job} failed: {detail}"),
            }
        })
        .collect();
    let more_failures = failures.len().saturating_sub(LISTED);
    let failures = failures.into_iter().take(LISTED).collect();

    let probe = crate::health::latest(&mut conn).await?;
    let pauses = crate::store::pauses::current(&mut conn).await?;
    drop(conn);
    let (health, probed_at) = match probe {
        None => (Vec::new(), None),
        Some(snapshot) => {
            let at = snapshot.at.with_timezone(&zone).format("%a %H:%M");
            (snapshot.report.not_ok(), Some(at.to_string()))
        }
    };

    let members: Vec<&crate::roster::Member> = roster.members().iter().collect();
    let date = local.date_naive();
    let (out, out_note) = match input.leave.on_leave(&members, date).await {
        Ok(answer) => {
            let note = match answer.certainty {
                Certainty::Known => None,
                Certainty::FromSnapshot { cause, .. } => Some(format!(
                    "from the last good read; the source failed: {cause}"
                )),
                Certainty::Unknown { cause } => Some(format!("unknown: {cause}")),
            };
            (answer.away, note)
        }
        Err(e) => (Vec::new(), Some(format!("unknown: {e}"))),
    };

    Ok(Brief {
        day: local.format("%A %-d %B").to_string(),
        posts: todays_posts(&input.all_jobs, roster, input.slot, &pauses),
        approvals,
        out,
        out_note,
        failures,
        more_failures,
        health,
        probed_at,
    })
}

/// The brief as Telegram HTML.
pub fn render(
    templates: &Templates,
    template: &str,
    brief: &Brief,
) -> Result<String, TemplateError> {
    templates.render(template, minijinja::Value::from_serialize(brief))
}

impl Job for MorningBrief {
    type Bot = Happy;

    fn run<'a>(&'a self, input: &'a JobInput) -> BoxFuture<'a, Result<JobOutput, JobError>> {
        Box::pin(async move {
            let brief = gather(input).await?;
            let html = render(
                &input.templates,
                input.spec.template_or(DEFAULT_TEMPLATE),
                &brief,
            )?;
            if input.spec.post_in_thread {
                return Ok(JobOutput::from(vec![html]));
            }
            Ok(JobOutput::to_operators(&input.roster, &html))
        })
    }

    fn check(
        &self,
        spec: &JobSpec,
        templates: &Templates,
        _roster: &Roster,
    ) -> Result<Vec<Sample>, String> {
        let template = spec.template_or(DEFAULT_TEMPLATE);
        let full = Brief {
            day: "Monday 23 November".into(),
            posts: vec![TodaysPost {
                time: "09:00".into(),
                job: "team-pulse".into(),
                bot: "clawrence".into(),
                to: "#pulse".into(),
                paused: false,
            }],
            approvals: vec![ApprovalLine {
                number: "INV-0042".into(),
                contact: "Tan & <Sons> \"Pte\"".into(),
                total: "SGD 1,234.50".into(),
                status: "open".into(),
            }],
            out: vec!["Priya Raman".into()],
            out_note: Some("from the last good read; the source failed: Talenox 503".into()),
            failures: vec!["Mon 08:12 claudia send 17 failed: Forbidden: <bot> was kicked".into()],
            more_failures: 3,
            health: vec!["BROKEN claudia: thread ar-brief: the topic is gone".into()],
            probed_at: Some("Mon 08:00".into()),
        };
        let quiet = Brief {
            posts: Vec::new(),
            approvals: Vec::new(),
            out: Vec::new(),
            out_note: None,
            failures: Vec::new(),
            more_failures: 0,
            health: Vec::new(),
            probed_at: None,
            ..full.clone()
        };
        [full, quiet]
            .iter()
            .map(|brief| {
                render(templates, template, brief)
                    .map(|html| Sample::new(template, html))
                    .map_err(|e| e.to_string())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::sources::leave::RosterLeave;
    use crate::store::slots::{SlotState, Trigger};
    use crate::store::Store;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("an instant")
    }

    /// The shipped example's roster, jobs and templates, and a store holding: an open
    /// approval, a failed send of 2 hours ago and one of 30 hours ago (too old), a failed run,
    /// a probe that found a deleted topic, and a paused job. 08:30 on Tuesday 10 March 2026, team time,
    /// when the example roster has Marcus Lim on leave.
    #[tokio::test]
    async fn the_brief_is_the_same_bytes_for_the_same_store_and_clock() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let config = crate::config::load(root).expect("the example loads");
        let roster = Arc::new(config.roster.clone());
        let mut specs = Vec::new();
        for (&bot, file) in &config.bots {
            for job in &file.jobs {
                specs.push(Arc::new(
                    JobSpec::from_file(bot, job, &roster).expect("spec"),
                ));
            }
        }
        let brief_spec = specs
            .iter()
            .find(|s| s.kind == "morning_brief")
            .expect("the example has a brief")
            .clone();
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&format!("sqlite://{}", dir.path().join("h.db").display()))
            .await
            .expect("store");
        let slot = at("2026-03-10T00:30:00Z");
        let mut tx = store.begin_write().await.expect("tx");
        crate::store::approvals::insert(
            &mut tx,
            &crate::store::approvals::NewApproval {
                invoice_id: "inv-42",
                number: "INV-0042",
                contact: "Tan & Sons",
                total: "SGD 1,234.50",
                due_date: None,
                link: "https://go.xero.com/",
                card_outbox_id: 1,
                chat_id: roster.chat_id(),
                thread_id: Some(27),
                posted_at: slot - Duration::hours(20),
                expires_at: slot + Duration::days(6),
            },
        )
        .await
        .expect("approval");
        for (hours, error) in [
            (2, "Forbidden: bot was blocked by the user"),
            (30, "too old"),
        ] {
            let when = (slot - Duration::hours(hours)).to_rfc3339();
            sqlx::query(
                "INSERT INTO outbox (bot, kind, lane, chat_id, text, state, error, created_at, updated_at)
                 VALUES ('clawrence', 'send', 1, 42, 'hi', 'failed', ?, ?, ?)",
            )
            .bind(error)
            .bind(&when)
            .bind(&when)
            .execute(&mut *tx)
            .await
            .expect("outbox row");
        }
        let failed_at = slot - Duration::hours(1);
        crate::store::slots::claim(
            &mut tx,
            "team-pulse",
            failed_at,
            "clawrence",
            Trigger::Schedule,
            SlotState::Failed,
            Some("Talenox: HTTP 503"),
            failed_at,
        )
        .await
        .expect("failed run");
        let probe = r#"[{"capability":"claudia: thread ar-brief","verdict":"BROKEN","cause":"the topic is gone","fix":"recreate it"},{"capability":"claudia: token","verdict":"OK","cause":"valid","fix":""}]"#;
        crate::store::capability_snapshots::insert(
            &mut tx,
            slot - Duration::minutes(30),
            "probe",
            probe,
        )
        .await
        .expect("probe");
        // A paused job is listed, marked: it will not go out unless resumed.
        crate::store::pauses::pause(
            &mut tx,
            &crate::store::pauses::PauseScope::Job("volts-leaderboard".into()),
            "Daniel Koh",
            slot - Duration::hours(3),
        )
        .await
        .expect("pause");
        tx.commit().await.expect("commit");

        let input = JobInput {
            spec: brief_spec,
            slot,
            roster: roster.clone(),
            templates: Arc::new(Templates::load(&root.join("templates")).expect("templates")),
            store: store.clone(),
            leave: Arc::new(RosterLeave::new(roster.clone())),
            xero: None,
            talenox: None,
            prober: None,
            all_jobs: Arc::new(specs),
            clock: crate::clock::Clock::manual(slot),
            gym: None,
            preview: false,
        };
        let first = MorningBrief.run(&input).await.expect("runs");
        let again = MorningBrief.run(&input).await.expect("runs again");
        assert_eq!(first, again, "deterministic");
        let operators: Vec<i64> = roster
            .members_with_role(crate::roster::Role::Operator)
            .map(|m| m.telegram_id)
            .collect();
        assert_eq!(
            first.direct.iter().map(|d| d.to).collect::<Vec<_>>(),
            operators
        );
        assert!(first.posts.is_empty());
        insta::assert_snapshot!(first.direct[0].html);
        store.close().await;
    }
}
