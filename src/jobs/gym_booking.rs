//! The gym booking (GymBooker, kind `gym_booking`, e.g. 08:57 team time): for every member
//! whose plan books the class day this many days ahead, log in and read the timetable, book at
//! the window's opening instant (all members at once). Each member's result DM is left with
//! their settled row and sent by the gym desk; a failure also goes to the operators, with the
//! run. See [`crate::gym::booking`].

use futures::future::BoxFuture;

use super::{Job, JobError, JobInput, JobOutput, JobSpec, OperatorNote, Sample};
use crate::gym::booking::{Booker, BookingError, Outcome};
use crate::gym::told;
use crate::identity::GymBooker;
use crate::roster::Roster;
use crate::store::audit::{self, AuditEntry};
use crate::templates::Templates;

/// The booking job.
#[derive(Debug, Default)]
pub struct GymBooking;

impl super::JobKind for GymBooking {
    const KIND: &'static str = "gym_booking";
    const TITLE: &'static str = "the gym booking";
}

impl Job for GymBooking {
    type Bot = GymBooker;

    fn run<'a>(&'a self, input: &'a JobInput) -> BoxFuture<'a, Result<JobOutput, JobError>> {
        Box::pin(async move {
            let Some(gym) = &input.gym else {
                return Err(JobError::Config(
                    "[gym] is not set in bots/gymbooker.toml".to_owned(),
                ));
            };
            let booker = Booker {
                provider: gym.provider.as_ref(),
                store: &input.store,
                clock: &input.clock,
                timezone: gym.timezone,
            };
            let booking_day = input.local_date();
            if input.preview {
                return Ok(preview(gym, booking_day).into());
            }
            // One run at a time (a `/run` during the scheduled one waits, then finds every
            // row settled): two bookers of one member would both book and both tell.
            let _running = gym.running.lock().await;
            let runs = gym.plans.iter().filter_map(|plan| {
                let class_day = plan.class_day(booking_day)?;
                let opens = booker.opening(plan, booking_day);
                let booker = &booker;
                Some(async move {
                    let outcome = booker.book(plan, class_day, opens).await;
                    (plan, class_day, outcome)
                })
            });
            // Every member's first request goes at the same opening instant.
            let mut output = JobOutput::default();
            let mut audited = Vec::new();
            for (plan, class_day, outcome) in futures::future::join_all(runs).await {
                let outcome = outcome.map_err(|BookingError::Db(e)| JobError::Db(e))?;
                if let Some(line) = audit_line(&outcome) {
                    audited.push(
                        AuditEntry::new("gym", line)
                            .bot("gymbooker")
                            .detail(format!("{} {class_day}: {outcome:?}", plan.member)),
                    );
                }
                // The member's DM was left with the settled row, for the gym desk to send
                // (`Booker::settle`): only the operators' note goes out with the run.
                let told = told(&outcome, plan, class_day, gym.timezone);
                if let Some(html) = told.operators {
                    output.notes.push(OperatorNote { once: None, html });
                }
            }
            // What was booked (or not) is in the audit log, beside the DMs saying it.
            if !audited.is_empty() {
                let at = input.clock.now();
                let mut tx = input.store.begin_write().await?;
                for entry in &audited {
                    audit::record(&mut tx, at, entry).await?;
                }
                tx.commit().await?;
            }
            Ok(output)
        })
    }

    fn check(
        &self,
        _spec: &JobSpec,
        _templates: &Templates,
        _roster: &Roster,
    ) -> Result<Vec<Sample>, String> {
        // No template: its messages are fixed texts (`crate::gym::told`), checked by tests.
        Ok(Vec::new())
    }
}

/// The audit decision of a member's booking; none when nothing changed.
fn audit_line(outcome: &Outcome) -> Option<&'static str> {
    Some(match outcome {
        Outcome::Unchanged => return None,
        Outcome::Booked { .. } => "booked",
        Outcome::AllFull { .. } => "not booked: every preferred class full",
        Outcome::Failed(_) => "failed: not booked",
        Outcome::Unknown(_) => "failed: outcome unknown",
    })
}

/// What a run on `booking_day` would book, booking nothing: one post for `/preview`.
fn preview(gym: &crate::gym::Gym, booking_day: chrono::NaiveDate) -> Vec<String> {
    let lines: Vec<String> = gym
        .plans
        .iter()
        .filter_map(|plan| {
            let class_day = plan.class_day(booking_day)?;
            let times: Vec<String> = plan
                .times
                .iter()
                .map(|t| t.format("%H:%M").to_string())
                .collect();
            Some(format!(
                "{}: {} at {} (window opens {})",
                crate::text::escape_html(&plan.member),
                class_day.format("%a %-d %b"),
                times.join(", then "),
                plan.window_opens.format("%H:%M")
            ))
        })
        .collect();
    if lines.is_empty() {
        vec![format!(
            "🏋️ Nothing to book on {}.",
            booking_day.format("%a %-d %b")
        )]
    } else {
        vec![format!(
            "🏋️ On {} GymBooker would book (a preview books nothing):\n{}",
            booking_day.format("%a %-d %b"),
            lines.join("\n")
        )]
    }
}
