//! The 11:00 laser-chase (Clawrence, daily-updates thread): mentions every `files_updates`
//! member who has not filed today's update, leaving out people on leave and public holidays.
//! Deterministic: the line for each person is picked from the template's list by a stable
//! hash of (date, member), so a rerun of the same day renders the same bytes.
//!
//! When leave cannot be read (Talenox down), a read at most 24 h old answers instead and the
//! operator is told; with none, nobody is chased on uncertain grounds: the post names who has
//! not filed without mentioning them, says leave could not be checked, and the operator is
//! told why.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use futures::future::BoxFuture;
use serde::Serialize;

use minijinja::context;

use super::{Job, JobError, JobInput, JobOutput, JobSpec, OperatorNote, Sample};
use crate::config::model::CleanSweep;
use crate::console_texts;
use crate::identity::Clawrence;
use crate::roster::{Member, Role, Roster};
use crate::sources::leave::Certainty;
use crate::store::daily_updates;
use crate::templates::{TemplateError, Templates};

/// The template used when a job names none.
pub const DEFAULT_TEMPLATE: &str = "laser_chase.html";

/// The laser-chase job.
#[derive(Debug, Default)]
pub struct LaserChase;

impl super::JobKind for LaserChase {
    const KIND: &'static str = "laser_chase";
    const SETTINGS: &'static [super::KindSetting] = &[super::KindSetting::CleanSweep];
}

/// Someone to chase, as the template sees them.
#[derive(Debug, Clone, Serialize)]
pub struct Missing {
    pub name: String,
    pub handle: Option<String>,
    pub id: i64,
    /// Picks this person's line: the same for the same date and member.
    pub seed: u32,
}

/// Everything one laser-chase renders from.
#[derive(Debug, Clone, Serialize)]
pub struct Chase {
    pub date: String,
    pub iso_date: String,
    pub missing: Vec<Missing>,
    pub away: Vec<String>,
    pub filed: usize,
    pub expected: usize,
    /// False when leave could not be checked: the template names people without mentions.
    pub leave_checked: bool,
}

impl Chase {
    /// Who is missing on `date`: `files_updates` members (roster order) who neither filed nor
    /// are on leave.
    pub fn build(
        roster: &Roster,
        date: NaiveDate,
        filed: &BTreeSet<String>,
        away: &[String],
    ) -> Chase {
        let expected: Vec<&Member> = roster.members_with_role(Role::FilesUpdates).collect();
        let missing = expected
            .iter()
            .filter(|m| !filed.contains(&m.name) && !away.contains(&m.name))
            .map(|m| Missing {
                name: m.name.clone(),
                handle: m.handle.clone(),
                id: m.telegram_id,
                seed: seed(date, &m.name),
            })
            .collect();
        let away: Vec<String> = expected
            .iter()
            .filter(|m| away.contains(&m.name) && !filed.contains(&m.name))
            .map(|m| m.name.clone())
            .collect();
        Chase {
            date: date.format("%A %-d %B %Y").to_string(),
            iso_date: date.to_string(),
            missing,
            filed: expected.iter().filter(|m| filed.contains(&m.name)).count(),
            // People on leave (who did not file anyway) are not expected today.
            expected: expected.len() - away.len(),
            away,
            leave_checked: true,
        }
    }

    /// The same chase, with leave unknown: nobody is mentioned.
    pub fn leave_unchecked(self) -> Chase {
        Chase {
            leave_checked: false,
            ..self
        }
    }

    /// The post, or `None` when nobody is missing and the clean sweep is silent.
    pub fn render(
        &self,
        templates: &Templates,
        template: &str,
        clean_sweep: CleanSweep,
    ) -> Result<Option<String>, TemplateError> {
        if self.missing.is_empty() && clean_sweep == CleanSweep::Silence {
            return Ok(None);
        }
        templates
            .render(template, minijinja::Value::from_serialize(self))
            .map(Some)
    }
}

/// A stable 32-bit hash (FNV-1a) of the date and the member's name. `std`'s hasher may
/// change between Rust releases; this must not, or reruns would pick other lines.
pub fn seed(date: NaiveDate, member: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in date.to_string().bytes().chain([b'|']).chain(member.bytes()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

impl Job for LaserChase {
    type Bot = Clawrence;

    fn run<'a>(&'a self, input: &'a JobInput) -> BoxFuture<'a, Result<JobOutput, JobError>> {
        Box::pin(async move {
            let date = input.local_date();
            if input.roster.is_holiday(date).is_some() {
                return Ok(JobOutput::default());
            }
            let filed = {
                let mut conn = input.store.pool().acquire().await?;
                daily_updates::filed_on(&mut conn, date).await?
            };
            let expected: Vec<&Member> =
                input.roster.members_with_role(Role::FilesUpdates).collect();
            let leave = input.leave.on_leave(&expected, date).await?;
            let mut chase = Chase::build(&input.roster, date, &filed, &leave.away);
            let note = match leave.certainty {
                Certainty::Known => None,
                Certainty::FromSnapshot { cause, taken_at } => Some(console_texts::render(
                    "leave_from_snapshot.html",
                    context! {
                        job => input.spec.name,
                        source => "Talenox",
                        cause,
                        taken_at => taken_at
                            .with_timezone(&input.roster.timezone())
                            .format("%a %-d %b %H:%M")
                            .to_string(),
                    },
                )),
                Certainty::Unknown { cause } => {
                    chase = chase.leave_unchecked();
                    Some(console_texts::render(
                        "leave_unchecked.html",
                        context! {
                            job => input.spec.name,
                            source => "Talenox",
                            cause,
                            day => chase.date,
                        },
                    ))
                }
            };
            let template = input.spec.template_or(DEFAULT_TEMPLATE);
            Ok(JobOutput::post_and_note(
                chase.render(&input.templates, template, input.spec.clean_sweep)?,
                note.map(|html| OperatorNote { once: None, html }),
            ))
        })
    }

    fn check(
        &self,
        spec: &JobSpec,
        templates: &Templates,
        roster: &Roster,
    ) -> Result<Vec<Sample>, String> {
        let date = super::sample_slot(spec)
            .with_timezone(&spec.timezone)
            .date_naive();
        let template = spec.template_or(DEFAULT_TEMPLATE);
        let mut samples = Vec::new();
        let away: Vec<String> = roster
            .members_with_role(Role::FilesUpdates)
            .take(1)
            .map(|m| m.name.clone())
            .collect();
        let everyone: BTreeSet<String> = roster.members().iter().map(|m| m.name.clone()).collect();
        for chase in [
            Chase::build(roster, date, &BTreeSet::new(), &away),
            Chase::build(roster, date, &BTreeSet::new(), &[]).leave_unchecked(),
            Chase::build(roster, date, &everyone, &[]),
        ] {
            let html = chase
                .render(templates, template, CleanSweep::Line)
                .map_err(|e| e.to_string())?;
            samples.extend(html.map(|html| Sample::new(template, html)));
        }
        Ok(samples)
    }
}
