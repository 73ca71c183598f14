//! Cake reminders (Clawrence, kind `cake_reminder`, daily): `days_ahead` days (default 3)
//! before each birthday in Talenox, a DM to every roster member with the `cake` role (except
//! the person whose birthday it is) naming whose birthday, the day and the weekday. Each
//! (birthday, recipient) is sent once, ever: the key is claimed in the run's transaction, so a
//! rerun, a `/run` or a restart never sends it twice. Birthdays follow the team pulse's rules
//! (29 February on 28 February in other years, leavers left out, no year or age).
//!
//! A member who cannot be DMed (403: never started the bot, or blocked it) does not stop the
//! others: each DM is its own outbox row, and a refused one is reported to the operators by
//! the sender's failed-send alert.

use chrono::{Datelike, NaiveDate};
use futures::future::BoxFuture;
use serde::Serialize;

use super::team_pulse::anniversary_in;
use super::{DirectMessage, Job, JobError, JobInput, JobOutput, JobSpec, Sample};
use crate::identity::Clawrence;
use crate::roster::{Role, Roster};
use crate::sources::talenox::Employee;
use crate::templates::{TemplateError, Templates};

/// The template used when a job names none.
pub const DEFAULT_TEMPLATE: &str = "cake_reminder.html";

/// The cake reminder job.
#[derive(Debug, Default)]
pub struct CakeReminder;

impl super::JobKind for CakeReminder {
    const KIND: &'static str = "cake_reminder";
    const SETTINGS: &'static [super::KindSetting] = &[super::KindSetting::DaysAhead];
    const READS: &'static [super::Source] = &[super::Source::Talenox];
    const TITLE: &'static str = "the cake reminder";
}

/// One reminder, as the template sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reminder {
    /// Whose birthday: their roster name, or Talenox's name for someone not on the roster.
    pub name: String,
    pub weekday: String,
    pub day: String,
    pub days_ahead: u32,
    /// The member DMed (roster name).
    pub recipient: String,
    #[serde(skip)]
    pub recipient_id: i64,
    /// What makes it unique: the employee, the birthday and the recipient.
    #[serde(skip)]
    pub key: String,
}

/// The reminders due on `today` for birthdays `days_ahead` days later, ordered by birthday
/// person then recipient.
pub fn reminders(
    roster: &Roster,
    today: NaiveDate,
    days_ahead: u32,
    employees: &[Employee],
) -> Vec<Reminder> {
    let birthday = today + chrono::Duration::days(i64::from(days_ahead));
    let mut people: Vec<(&Employee, String, Option<i64>)> = employees
        .iter()
        .filter(|e| !e.has_left(today))
        .filter(|e| {
            e.birthdate
                .and_then(|born| anniversary_in(born, birthday.year()))
                .is_some_and(|day| day == birthday)
        })
        .map(|e| {
            let full = e.full_name();
            match roster.member_by_talenox_name(&full) {
                Some(m) => (e, m.name.clone(), Some(m.telegram_id)),
                None => (e, full, None),
            }
        })
        .collect();
    people.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.id.cmp(&b.0.id)));
    let mut out = Vec::new();
    for (employee, name, own_id) in people {
        for member in roster.members_with_role(Role::Cake) {
            if Some(member.telegram_id) == own_id {
                continue;
            }
            out.push(Reminder {
                name: name.clone(),
                weekday: birthday.format("%A").to_string(),
                day: birthday.format("%-d %B").to_string(),
                days_ahead,
                recipient: member.name.clone(),
                recipient_id: member.telegram_id,
                key: format!("cake {} {birthday} {}", employee.id, member.telegram_id),
            });
        }
    }
    out
}

fn render(templates: &Templates, template: &str, r: &Reminder) -> Result<String, TemplateError> {
    templates.render(template, minijinja::Value::from_serialize(r))
}

impl Job for CakeReminder {
    type Bot = Clawrence;

    fn run<'a>(&'a self, input: &'a JobInput) -> BoxFuture<'a, Result<JobOutput, JobError>> {
        Box::pin(async move {
            let talenox = input.talenox.as_ref().ok_or_else(|| {
                JobError::Config("the cake reminder needs [talenox] in bots/herald.toml".into())
            })?;
            let employees = talenox.employees().await?;
            let template = input.spec.template_or(DEFAULT_TEMPLATE);
            let mut direct = Vec::new();
            for r in reminders(
                &input.roster,
                input.local_date(),
                input.spec.days_ahead,
                &employees,
            ) {
                direct.push(DirectMessage {
                    to: r.recipient_id,
                    html: render(&input.templates, template, &r)?,
                    once: Some(r.key),
                });
            }
            Ok(JobOutput {
                direct,
                ..JobOutput::default()
            })
        })
    }

    fn check(
        &self,
        spec: &JobSpec,
        templates: &Templates,
        _roster: &Roster,
    ) -> Result<Vec<Sample>, String> {
        let template = spec.template_or(DEFAULT_TEMPLATE);
        let sample = Reminder {
            name: "Zoë O'Brien & <Sons> \"Ltd\" 🎈".into(),
            weekday: "Thursday".into(),
            day: "26 November".into(),
            days_ahead: spec.days_ahead,
            recipient: "Ana <Admin>".into(),
            recipient_id: 1,
            key: String::new(),
        };
        let html = render(templates, template, &sample).map_err(|e| e.to_string())?;
        Ok(vec![Sample::new(template, html)])
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn roster() -> Roster {
        crate::roster::tests_support::example()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("a date")
    }

    fn born(id: i64, first: &str, last: &str, birthdate: NaiveDate) -> Employee {
        Employee {
            id,
            employee_id: None,
            first_name: first.into(),
            last_name: last.into(),
            birthdate: Some(birthdate),
            hired_date: None,
            resign_date: None,
            work_pass: None,
        }
    }

    #[test]
    fn three_days_ahead_every_cake_member_but_the_birthday_person() {
        let roster = roster();
        let cake: Vec<String> = roster
            .members_with_role(Role::Cake)
            .map(|m| m.name.clone())
            .collect();
        assert!(
            cake.len() >= 2,
            "the example roster has cake members: {cake:?}"
        );
        // Priya (a cake member) has her birthday on Thursday 26 November.
        let employees = [
            born(1, "Priya", "d/o Raman", day(1990, 11, 26)),
            born(2, "Not", "OnRoster", day(1985, 11, 26)),
            born(3, "Other", "Day", day(1985, 11, 27)),
        ];
        let due = reminders(&roster, day(2026, 11, 23), 3, &employees);
        let pairs: Vec<(&str, &str)> = due
            .iter()
            .map(|r| (r.name.as_str(), r.recipient.as_str()))
            .collect();
        let expected: Vec<(&str, &str)> = cake
            .iter()
            .map(|c| ("Not OnRoster", c.as_str()))
            .chain(
                cake.iter()
                    .filter(|c| c.as_str() != "Priya Raman")
                    .map(|c| ("Priya Raman", c.as_str())),
            )
            .collect();
        assert_eq!(pairs, expected);
        assert!(due
            .iter()
            .all(|r| r.weekday == "Thursday" && r.day == "26 November"));
        let keys: std::collections::BTreeSet<&str> = due.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys.len(), due.len(), "one key per (birthday, recipient)");
    }

    #[test]
    fn a_29_february_birthday_is_reminded_before_28_february_in_2027_and_29_in_2028() {
        let roster = roster();
        let employees = [born(1, "Leap", "Year", day(1996, 2, 29))];
        assert!(!reminders(&roster, day(2027, 2, 25), 3, &employees).is_empty());
        assert!(reminders(&roster, day(2027, 2, 26), 3, &employees).is_empty());
        assert!(reminders(&roster, day(2028, 2, 25), 3, &employees).is_empty());
        assert!(!reminders(&roster, day(2028, 2, 26), 3, &employees).is_empty());
    }

    #[test]
    fn leavers_get_no_reminder() {
        let roster = roster();
        let mut left = born(1, "Gone", "Already", day(1990, 11, 26));
        left.resign_date = Some(day(2026, 10, 31));
        assert!(reminders(&roster, day(2026, 11, 23), 3, &[left]).is_empty());
    }

    #[test]
    fn the_dm_names_whose_birthday_the_day_and_the_weekday_escaped_and_without_the_year() {
        let templates = Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"))
            .expect("templates");
        let roster = roster();
        let employees = [born(1, "Zoë & <Co>", "\"Q\"", day(1990, 11, 26))];
        let due = reminders(&roster, day(2026, 11, 23), 3, &employees);
        let html = render(&templates, DEFAULT_TEMPLATE, &due[0]).expect("renders");
        assert!(
            crate::text::check(crate::text::TextKind::Message, &html).is_ok(),
            "{html}"
        );
        assert!(!html.contains("1990"), "{html}");
        insta::assert_snapshot!(html);
    }
}
