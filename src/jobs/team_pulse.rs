//! The 09:00 team pulse (Clawrence, kind `team_pulse`, `#pulse`): one post built from Talenox
//! with today's birthdays, work anniversaries, who is out, pending leave waiting too long (its
//! approvers mentioned) and work passes about to expire. Deterministic: every list is sorted,
//! and the same Talenox data on the same day renders the same bytes. If Talenox fails, nothing
//! is posted and the run fails (the operator gets the cause).
//!
//! Rules (README: HR rituals):
//! - A 29 February birthday or hiring day is kept on 28 February in other years.
//! - Leavers (a `resign_date` before today) are left out of every section.
//! - Birthdays show the day only, never the year or age.
//! - A pending application is nagged about once it has waited more than `nag_after_days` whole
//!   days (team calendar) since it was applied for.
//! - A work pass is listed 60, 30, 14 and 7 days before it expires, and every day once it
//!   has expired (until Talenox shows a renewed one or the person leaves).
//! - Names that match nobody (a current employee no roster `talenox_name` matches, a roster
//!   `talenox_name` no current employee has) are DMed to the operators, once a day.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use chrono_tz::Tz;
use futures::future::BoxFuture;
use serde::Serialize;

use super::{Job, JobError, JobInput, JobOutput, JobSpec, OperatorNote, Sample};
use crate::config::model::CleanSweep;
use crate::console_texts;
use crate::identity::Clawrence;
use crate::roster::Roster;
use crate::sources::talenox::{Employee, LeaveApplication, LeaveStatus, WorkPass};
use crate::templates::{TemplateError, Templates};

/// The template used when a job names none.
pub const DEFAULT_TEMPLATE: &str = "hr_pulse.html";
/// Days before a work pass expires on which it is listed.
pub const PASS_WARNINGS: [i64; 4] = [60, 30, 14, 7];
/// How far ahead pending leave is read: applications for leave up to a year away.
const LEAVE_HORIZON_DAYS: i64 = 366;

/// The team pulse job.
#[derive(Debug, Default)]
pub struct TeamPulse;

impl super::JobKind for TeamPulse {
    const KIND: &'static str = "team_pulse";
    const SETTINGS: &'static [super::KindSetting] = &[
        super::KindSetting::CleanSweep,
        super::KindSetting::NagAfterDays,
    ];
    const READS: &'static [super::Source] = &[super::Source::Talenox];
    const TITLE: &'static str = "the team pulse";
}

/// Someone named in the pulse: a roster member (mentionable) or, when the roster does not know
/// their Talenox name, just the name Talenox has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    pub name: String,
    pub handle: Option<String>,
    /// The Telegram user id; `None` for someone not on the roster.
    pub id: Option<i64>,
}

/// A work anniversary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anniversary {
    pub person: Person,
    pub years: i32,
}

/// Someone on approved leave today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Away {
    pub person: Person,
    pub leave_type: String,
    /// Away for half of today only.
    pub half_day: bool,
    /// The last day of the leave ("Fri 14 Aug"), when it goes past today.
    pub until: Option<String>,
}

/// A pending application that has waited too long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nag {
    pub person: Person,
    pub leave_type: String,
    /// "Mon 10 Aug" or "Mon 10 Aug to Wed 12 Aug".
    pub dates: String,
    pub days_waiting: i64,
    /// Who may approve it, sorted by name; empty when Talenox names nobody we know.
    pub approvers: Vec<Person>,
}

/// A work pass near or past its expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PassExpiry {
    pub person: Person,
    pub kind: String,
    /// "Wed 30 Sep 2026".
    pub expiry: String,
    /// Days until it expires; negative once expired.
    pub days_left: i64,
}

/// Everything one pulse renders from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pulse {
    pub date: String,
    pub iso_date: String,
    pub birthdays: Vec<Person>,
    pub anniversaries: Vec<Anniversary>,
    pub out: Vec<Away>,
    pub nags: Vec<Nag>,
    pub passes: Vec<PassExpiry>,
    pub nag_after_days: u32,
}

/// The day an event of `original` (a birthday, a hiring day) falls on in `year`: the same
/// month and day, except 29 February, which is kept on 28 February in non-leap years.
pub fn anniversary_in(original: NaiveDate, year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, original.month(), original.day()).or_else(|| {
        (original.month() == 2 && original.day() == 29)
            .then(|| NaiveDate::from_ymd_opt(year, 2, 28))
            .flatten()
    })
}

impl Pulse {
    /// Builds the pulse of `date` (team calendar) from Talenox's employees and leave.
    pub fn build(
        roster: &Roster,
        date: NaiveDate,
        employees: &[Employee],
        leave: &[LeaveApplication],
        nag_after_days: u32,
    ) -> Pulse {
        let zone = roster.timezone();
        let staff: Vec<&Employee> = employees.iter().filter(|e| !e.has_left(date)).collect();
        let by_id: HashMap<i64, &Employee> = employees.iter().map(|e| (e.id, e)).collect();
        let person = |e: &Employee| person_of(roster, e);

        let mut birthdays: Vec<Person> = staff
            .iter()
            .filter(|e| {
                e.birthdate
                    .and_then(|born| anniversary_in(born, date.year()))
                    .is_some_and(|day| day == date)
            })
            .map(|e| person(e))
            .collect();
        birthdays.sort_by(|a, b| a.name.cmp(&b.name));

        let mut anniversaries: Vec<Anniversary> = staff
            .iter()
            .filter_map(|e| {
                let hired = e.hired_date?;
                let years = date.year() - hired.year();
                (years >= 1 && anniversary_in(hired, date.year()) == Some(date)).then(|| {
                    Anniversary {
                        person: person(e),
                        years,
                    }
                })
            })
            .collect();
        anniversaries.sort_by(|a, b| a.person.name.cmp(&b.person.name));

        let current =
            |a: &&LeaveApplication| by_id.get(&a.employee_id).is_none_or(|e| !e.has_left(date));
        let name_of = |a: &LeaveApplication| match by_id.get(&a.employee_id) {
            Some(e) => person(e),
            None => Person {
                name: a.employee_name.trim().to_owned(),
                handle: None,
                id: None,
            },
        };

        let mut out: Vec<Away> = leave
            .iter()
            .filter(current)
            .filter(|a| a.status == LeaveStatus::Approved && a.covers(date))
            .map(|a| Away {
                person: name_of(a),
                leave_type: a.leave_type.trim().to_owned(),
                half_day: a.half_day_on(date),
                until: (a.end_date > date).then(|| short_day(a.end_date)),
            })
            .collect();
        out.sort_by(|a, b| a.person.name.cmp(&b.person.name));
        out.dedup_by(|a, b| a.person == b.person);

        let mut nags: Vec<Nag> = leave
            .iter()
            .filter(current)
            .filter(|a| a.status == LeaveStatus::Pending && a.end_date >= date)
            .filter_map(|a| {
                let days_waiting = (date - applied_on(a, zone)).num_days();
                (days_waiting > i64::from(nag_after_days)).then(|| {
                    let mut approvers: Vec<Person> = a
                        .approver_ids
                        .iter()
                        .filter_map(|id| by_id.get(id))
                        .map(|e| person(e))
                        .collect();
                    approvers.sort_by(|x, y| x.name.cmp(&y.name));
                    approvers.dedup();
                    Nag {
                        person: name_of(a),
                        leave_type: a.leave_type.trim().to_owned(),
                        dates: if a.start_date == a.end_date {
                            short_day(a.start_date)
                        } else {
                            format!("{} to {}", short_day(a.start_date), short_day(a.end_date))
                        },
                        days_waiting,
                        approvers,
                    }
                })
            })
            .collect();
        nags.sort_by(|a, b| {
            b.days_waiting
                .cmp(&a.days_waiting)
                .then_with(|| a.person.name.cmp(&b.person.name))
                .then_with(|| a.dates.cmp(&b.dates))
        });

        let mut passes: Vec<PassExpiry> = staff
            .iter()
            .filter_map(|e| {
                let WorkPass { kind, expiry_date } = e.work_pass.as_ref()?;
                let expiry = (*expiry_date)?;
                let days_left = (expiry - date).num_days();
                (days_left < 0 || PASS_WARNINGS.contains(&days_left)).then(|| PassExpiry {
                    person: person(e),
                    kind: kind.trim().to_owned(),
                    expiry: expiry.format("%a %-d %b %Y").to_string(),
                    days_left,
                })
            })
            .collect();
        passes.sort_by(|a, b| {
            a.days_left
                .cmp(&b.days_left)
                .then_with(|| a.person.name.cmp(&b.person.name))
        });

        Pulse {
            date: date.format("%A %-d %B %Y").to_string(),
            iso_date: date.to_string(),
            birthdays,
            anniversaries,
            out,
            nags,
            passes,
            nag_after_days,
        }
    }

    /// True when no section has anything in it.
    pub fn is_quiet(&self) -> bool {
        self.birthdays.is_empty()
            && self.anniversaries.is_empty()
            && self.out.is_empty()
            && self.nags.is_empty()
            && self.passes.is_empty()
    }

    /// The post, or `None` on a quiet day whose clean sweep is silent.
    pub fn render(
        &self,
        templates: &Templates,
        template: &str,
        clean_sweep: CleanSweep,
    ) -> Result<Option<String>, TemplateError> {
        if self.is_quiet() && clean_sweep == CleanSweep::Silence {
            return Ok(None);
        }
        templates
            .render(template, minijinja::Value::from_serialize(self))
            .map(Some)
    }
}

/// Names the roster and Talenox do not agree on: told to the operators once a day, so that
/// nobody is silently left out of the pulse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unmatched {
    /// Current Talenox employees no roster member's `talenox_name` matches, sorted.
    pub employees: Vec<String>,
    /// Roster members whose `talenox_name` matches no current employee, sorted.
    pub members: Vec<String>,
}

impl Unmatched {
    /// Compares `employees` (leavers left out) with the roster on `date`.
    pub fn find(roster: &Roster, date: NaiveDate, employees: &[Employee]) -> Unmatched {
        let current: Vec<&Employee> = employees.iter().filter(|e| !e.has_left(date)).collect();
        let mut unknown: Vec<String> = current
            .iter()
            .map(|e| e.full_name())
            .filter(|name| roster.member_by_talenox_name(name).is_none())
            .collect();
        unknown.sort();
        unknown.dedup();
        let known: Vec<&str> = current
            .iter()
            .filter_map(|e| roster.member_by_talenox_name(&e.full_name()))
            .map(|m| m.name.as_str())
            .collect();
        let mut missing: Vec<String> = roster
            .members()
            .iter()
            .filter(|m| m.talenox_name.is_some() && !known.contains(&m.name.as_str()))
            .map(|m| m.name.clone())
            .collect();
        missing.sort();
        Unmatched {
            employees: unknown,
            members: missing,
        }
    }

    /// The operators' note, once per job and day; `None` when every name matches.
    pub fn note(&self, job: &str, day: &str, date: NaiveDate) -> Option<OperatorNote> {
        if self.employees.is_empty() && self.members.is_empty() {
            return None;
        }
        Some(OperatorNote {
            once: Some(format!("unmatched names {date}")),
            html: console_texts::render(
                "talenox_unmatched.html",
                minijinja::context! {
                    job,
                    day,
                    employees => self.employees,
                    members => self.members,
                },
            ),
        })
    }
}

/// The roster member whose `talenox_name` is the employee's name, or the name alone.
fn person_of(roster: &Roster, employee: &Employee) -> Person {
    let name = employee.full_name();
    match roster.member_by_talenox_name(&name) {
        Some(member) => Person {
            name: member.name.clone(),
            handle: member.handle.clone(),
            id: Some(member.telegram_id),
        },
        None => Person {
            name,
            handle: None,
            id: None,
        },
    }
}

/// The team-calendar day an application was made.
fn applied_on(application: &LeaveApplication, zone: Tz) -> NaiveDate {
    application.applied_at.with_timezone(&zone).date_naive()
}

/// "Mon 10 Aug".
fn short_day(day: NaiveDate) -> String {
    day.format("%a %-d %b").to_string()
}

impl Job for TeamPulse {
    type Bot = Clawrence;

    fn run<'a>(&'a self, input: &'a JobInput) -> BoxFuture<'a, Result<JobOutput, JobError>> {
        Box::pin(async move {
            let talenox = input.talenox.as_ref().ok_or_else(|| {
                JobError::Config("the team pulse needs [talenox] in bots/herald.toml".into())
            })?;
            let date = input.local_date();
            let employees = talenox.employees().await?;
            let leave = talenox
                .leave_applications(
                    date,
                    date + chrono::Duration::days(LEAVE_HORIZON_DAYS),
                    None,
                )
                .await?;
            let pulse = Pulse::build(
                &input.roster,
                date,
                &employees,
                &leave,
                input.spec.nag_after_days,
            );
            let template = input.spec.template_or(DEFAULT_TEMPLATE);
            let unmatched = Unmatched::find(&input.roster, date, &employees);
            Ok(JobOutput::post_and_note(
                pulse.render(&input.templates, template, input.spec.clean_sweep)?,
                unmatched.note(&input.spec.name, &pulse.date, date),
            ))
        })
    }

    fn check(
        &self,
        spec: &JobSpec,
        templates: &Templates,
        roster: &Roster,
    ) -> Result<Vec<Sample>, String> {
        let template = spec.template_or(DEFAULT_TEMPLATE);
        let (date, employees, leave) = samples::day(roster);
        let mut rendered = Vec::new();
        for pulse in [
            Pulse::build(roster, date, &employees, &leave, spec.nag_after_days),
            Pulse::build(roster, date, &[], &[], spec.nag_after_days),
        ] {
            let html = pulse
                .render(templates, template, CleanSweep::Line)
                .map_err(|e| e.to_string())?;
            rendered.extend(html.map(|html| Sample::new(template, html)));
        }
        Ok(rendered)
    }
}

/// Made-up Talenox data that fills every section, for `herald check` and the tests: it belongs
/// to the product, not to the fake Talenox's fixtures.
pub mod samples {
    use chrono::{NaiveDate, TimeZone, Utc};

    use crate::roster::Roster;
    use crate::sources::talenox::{Employee, LeaveApplication, LeaveStatus, WorkPass};

    /// Monday 23 November 2026, and a team where every section has someone: the roster's first
    /// members by their Talenox names (or made-up ones), and people herald does not know.
    pub fn day(roster: &Roster) -> (NaiveDate, Vec<Employee>, Vec<LeaveApplication>) {
        let date = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        let on_roster: Vec<String> = roster
            .members()
            .iter()
            .filter_map(|m| m.talenox_name.clone())
            .take(3)
            .collect();
        let name = |i: usize, fallback: &str| {
            on_roster
                .get(i)
                .cloned()
                .unwrap_or_else(|| fallback.to_owned())
        };
        let years_ago =
            |years: i32| NaiveDate::from_ymd_opt(2026 - years, 11, 23).unwrap_or_default();
        let employees = vec![
            employee(
                1,
                &name(0, "Wei Ling Tan"),
                Some(years_ago(30)),
                years_ago(3),
                None,
            ),
            employee(2, &name(1, "Arjun Nair"), None, years_ago(1), None),
            employee(
                3,
                &name(2, "Mei Lim"),
                None,
                years_ago(2) + chrono::Duration::days(5),
                Some(WorkPass {
                    kind: "Employment Pass".into(),
                    expiry_date: Some(date + chrono::Duration::days(30)),
                }),
            ),
            employee(
                4,
                "Zoë O'Brien & <Sons> \"Ltd\"",
                Some(years_ago(25)),
                years_ago(4) + chrono::Duration::days(9),
                Some(WorkPass {
                    kind: "S Pass".into(),
                    expiry_date: Some(date - chrono::Duration::days(3)),
                }),
            ),
        ];
        let leave = vec![
            application(10, 2, LeaveStatus::Approved, date, date, true, &[1], 5),
            application(
                11,
                4,
                LeaveStatus::Approved,
                date - chrono::Duration::days(1),
                date + chrono::Duration::days(4),
                false,
                &[1],
                9,
            ),
            application(
                12,
                3,
                LeaveStatus::Pending,
                date + chrono::Duration::days(14),
                date + chrono::Duration::days(16),
                false,
                &[1, 2],
                4,
            ),
        ];
        (date, employees, leave)
    }

    fn employee(
        id: i64,
        full_name: &str,
        birthdate: Option<NaiveDate>,
        hired: NaiveDate,
        work_pass: Option<WorkPass>,
    ) -> Employee {
        let (first, last) = full_name.split_once(' ').unwrap_or((full_name, ""));
        Employee {
            id,
            employee_id: Some(format!("{}", 300 + id)),
            first_name: first.to_owned(),
            last_name: last.to_owned(),
            birthdate,
            hired_date: Some(hired),
            resign_date: None,
            work_pass,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn application(
        id: i64,
        employee_id: i64,
        status: LeaveStatus,
        start: NaiveDate,
        end: NaiveDate,
        end_half_day: bool,
        approvers: &[i64],
        days_ago: i64,
    ) -> LeaveApplication {
        let applied = start.min(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default())
            - chrono::Duration::days(days_ago);
        LeaveApplication {
            id,
            employee_id,
            employee_name: String::new(),
            leave_type: if status == LeaveStatus::Pending {
                "Annual Leave".into()
            } else {
                "Medical Leave".into()
            },
            status,
            start_date: start,
            end_date: end,
            start_half_day: false,
            end_half_day,
            approver_ids: approvers.to_vec(),
            applied_at: Utc.from_utc_datetime(&applied.and_hms_opt(2, 0, 0).unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::text::{split_message, visible_len, TELEGRAM_MESSAGE_LIMIT};

    fn templates() -> Templates {
        Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"))
            .expect("the shipped templates load")
    }

    fn roster() -> Roster {
        crate::roster::tests_support::example()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("a date")
    }

    fn render(pulse: &Pulse) -> String {
        pulse
            .render(&templates(), DEFAULT_TEMPLATE, CleanSweep::Line)
            .expect("renders")
            .expect("a post")
    }

    fn employee(id: i64, first: &str, last: &str) -> Employee {
        Employee {
            id,
            employee_id: None,
            first_name: first.into(),
            last_name: last.into(),
            birthdate: None,
            hired_date: None,
            resign_date: None,
            work_pass: None,
        }
    }

    #[test]
    fn golden_every_section() {
        let roster = roster();
        let (date, employees, leave) = samples::day(&roster);
        let pulse = Pulse::build(&roster, date, &employees, &leave, 2);
        assert!(!pulse.birthdays.is_empty() && !pulse.anniversaries.is_empty());
        assert!(!pulse.out.is_empty() && !pulse.nags.is_empty() && !pulse.passes.is_empty());
        let html = render(&pulse);
        assert!(crate::text::check(crate::text::TextKind::Message, &html).is_ok());
        insta::assert_snapshot!(html);
    }

    #[test]
    fn golden_an_empty_day_and_a_silent_one() {
        let roster = roster();
        let pulse = Pulse::build(&roster, day(2026, 11, 24), &[], &[], 2);
        assert!(pulse.is_quiet());
        insta::assert_snapshot!(render(&pulse));
        let silent = pulse
            .render(&templates(), DEFAULT_TEMPLATE, CleanSweep::Silence)
            .expect("renders");
        assert_eq!(silent, None);
    }

    #[test]
    fn golden_awkward_names_are_escaped_and_unknown_people_are_not_mentioned() {
        let roster = roster();
        let date = day(2026, 11, 23);
        let mut awkward = employee(7, "Zoë 🎈", "O'Brien & <Sons> \"Ltd\"");
        awkward.birthdate = Some(day(1990, 11, 23));
        let mut approver = employee(8, "Ghost", "<Approver>");
        approver.hired_date = Some(day(2020, 1, 1));
        let pending = LeaveApplication {
            id: 1,
            employee_id: 7,
            employee_name: String::new(),
            leave_type: "Annual <Leave> & more".into(),
            status: LeaveStatus::Pending,
            start_date: day(2026, 12, 1),
            end_date: day(2026, 12, 1),
            start_half_day: false,
            end_half_day: false,
            approver_ids: vec![8],
            applied_at: Utc.with_ymd_and_hms(2026, 11, 1, 3, 0, 0).unwrap(),
        };
        let html = render(&Pulse::build(
            &roster,
            date,
            &[awkward, approver],
            &[pending],
            2,
        ));
        assert!(
            html.contains("&amp; &lt;Sons&gt; &quot;Ltd&quot;"),
            "{html}"
        );
        assert!(html.contains("&lt;Approver&gt;"), "{html}");
        assert!(
            !html.contains("tg://user?id="),
            "nobody here is on the roster: {html}"
        );
        assert!(
            crate::text::check(crate::text::TextKind::Message, &html).is_ok(),
            "{html}"
        );
        insta::assert_snapshot!(html);
    }

    #[test]
    fn roster_members_are_mentioned_as_approvers_and_named_by_their_roster_name() {
        let roster = roster();
        let date = day(2026, 11, 23);
        let Some(member) = roster.members().iter().find(|m| m.talenox_name.is_some()) else {
            panic!("the example roster maps Talenox names");
        };
        let talenox_name = member.talenox_name.clone().unwrap_or_default();
        let (first, last) = talenox_name.split_once(' ').unwrap_or((&talenox_name, ""));
        let approver = employee(1, &first.to_uppercase(), last);
        let applicant = employee(2, "Some", "One");
        let pending = LeaveApplication {
            id: 1,
            employee_id: 2,
            employee_name: "Some One".into(),
            leave_type: "Annual Leave".into(),
            status: LeaveStatus::Pending,
            start_date: day(2026, 12, 1),
            end_date: day(2026, 12, 3),
            start_half_day: false,
            end_half_day: false,
            approver_ids: vec![1, 999],
            applied_at: Utc.with_ymd_and_hms(2026, 11, 19, 3, 0, 0).unwrap(),
        };
        let pulse = Pulse::build(&roster, date, &[approver, applicant], &[pending], 2);
        assert_eq!(pulse.nags.len(), 1);
        assert_eq!(pulse.nags[0].days_waiting, 4);
        assert_eq!(pulse.nags[0].dates, "Tue 1 Dec to Thu 3 Dec");
        assert_eq!(
            pulse.nags[0].approvers.len(),
            1,
            "an unknown approver id is skipped"
        );
        assert_eq!(pulse.nags[0].approvers[0].name, member.name);
        assert_eq!(pulse.nags[0].approvers[0].id, Some(member.telegram_id));
    }

    #[test]
    fn a_29_february_birthday_is_kept_on_28_february_in_2027_and_on_the_day_in_2028() {
        let roster = roster();
        let mut arjun = employee(1, "Arjun", "Nair");
        arjun.birthdate = Some(day(1996, 2, 29));
        arjun.hired_date = Some(day(2024, 2, 29));
        let on = |date: NaiveDate| Pulse::build(&roster, date, &[arjun.clone()], &[], 2);
        let feb_28_2027 = on(day(2027, 2, 28));
        assert_eq!(feb_28_2027.birthdays.len(), 1);
        assert_eq!(feb_28_2027.anniversaries[0].years, 3);
        assert!(on(day(2027, 3, 1)).is_quiet());
        assert!(on(day(2028, 2, 28)).is_quiet(), "2028 has a 29 February");
        let feb_29_2028 = on(day(2028, 2, 29));
        assert_eq!(feb_29_2028.birthdays.len(), 1);
        assert_eq!(feb_29_2028.anniversaries[0].years, 4);
        let html = render(&feb_29_2028);
        assert!(
            !html.contains("1996") && !html.contains("32"),
            "no year, no age: {html}"
        );
    }

    #[test]
    fn leavers_are_left_out_and_the_hiring_day_itself_is_no_anniversary() {
        let roster = roster();
        let date = day(2026, 11, 23);
        let mut left = employee(1, "Gone", "Already");
        left.birthdate = Some(day(1990, 11, 23));
        left.resign_date = Some(day(2026, 11, 22));
        let mut last_day = employee(2, "Last", "Day");
        last_day.birthdate = Some(day(1990, 11, 23));
        last_day.resign_date = Some(date);
        let mut new = employee(3, "New", "Hire");
        new.hired_date = Some(date);
        let pulse = Pulse::build(&roster, date, &[left, last_day, new], &[], 2);
        let names: Vec<&str> = pulse.birthdays.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Last Day"]);
        assert!(pulse.anniversaries.is_empty());
    }

    #[test]
    fn pending_leave_is_nagged_only_after_more_than_nag_after_days() {
        let roster = roster();
        let date = day(2026, 11, 23);
        let applied = |days_ago: i64| LeaveApplication {
            id: days_ago,
            employee_id: 1,
            employee_name: "Some One".into(),
            leave_type: "Annual Leave".into(),
            status: LeaveStatus::Pending,
            start_date: day(2026, 12, 1),
            end_date: day(2026, 12, 1),
            start_half_day: false,
            end_half_day: false,
            approver_ids: vec![],
            // 23:30 UTC is the next morning in Singapore: the team's calendar counts.
            applied_at: Utc.with_ymd_and_hms(2026, 11, 22, 23, 30, 0).unwrap()
                - chrono::Duration::days(days_ago),
        };
        let nagged = |days_ago: i64, after: u32| {
            !Pulse::build(&roster, date, &[], &[applied(days_ago)], after)
                .nags
                .is_empty()
        };
        assert!(!nagged(2, 2), "waiting exactly 2 days");
        assert!(nagged(3, 2));
        assert!(nagged(1, 0));
        assert!(!nagged(0, 0), "applied today");
    }

    #[test]
    fn work_passes_are_listed_at_60_30_14_and_7_days_and_every_day_once_expired() {
        let roster = roster();
        let date = day(2026, 11, 23);
        let listed = |days: i64| {
            let mut e = employee(1, "Pass", "Holder");
            e.work_pass = Some(WorkPass {
                kind: "S Pass".into(),
                expiry_date: Some(date + chrono::Duration::days(days)),
            });
            Pulse::build(&roster, date, &[e], &[], 2).passes.len() == 1
        };
        for days in [60, 30, 14, 7, -1, -40] {
            assert!(listed(days), "{days}");
        }
        for days in [61, 59, 31, 15, 8, 6, 1, 0] {
            assert!(!listed(days), "{days}");
        }
    }

    #[test]
    fn names_that_match_nobody_are_noted_once_per_day_and_leavers_are_no_news() {
        let roster = roster();
        let date = day(2026, 11, 23);
        let everyone: Vec<Employee> = roster
            .members()
            .iter()
            .filter_map(|m| m.talenox_name.clone())
            .enumerate()
            .map(|(i, name)| {
                let (first, last) = name.split_once(' ').unwrap_or((&name, ""));
                employee(i as i64, first, last)
            })
            .collect();
        let all_match = Unmatched::find(&roster, date, &everyone);
        assert_eq!(all_match, Unmatched::default());
        assert!(all_match.note("team-pulse", "Monday", date).is_none());

        let mut left = employee(98, "Gone", "Person");
        left.resign_date = Some(day(2026, 1, 1));
        let mut changed = everyone[1..].to_vec();
        changed.extend([employee(99, "New", "Starter"), left]);
        let found = Unmatched::find(&roster, date, &changed);
        assert_eq!(found.employees, ["New Starter"], "a leaver is no news");
        let first = roster
            .members()
            .iter()
            .find(|m| m.talenox_name.is_some())
            .map(|m| m.name.clone());
        assert_eq!(found.members, first.into_iter().collect::<Vec<_>>());
        let monday = found.note("team-pulse", "Monday", date).expect("a note");
        let tuesday = found
            .note("team-pulse", "Tuesday", date + chrono::Duration::days(1))
            .expect("a note");
        assert!(monday.once.is_some());
        assert_ne!(
            monday.once, tuesday.once,
            "one note a day, every day it is true"
        );
    }

    #[test]
    fn the_same_data_in_another_order_renders_the_same_bytes() {
        let roster = roster();
        let (date, mut employees, mut leave) = samples::day(&roster);
        let first = render(&Pulse::build(&roster, date, &employees, &leave, 2));
        employees.reverse();
        leave.reverse();
        let again = render(&Pulse::build(&roster, date, &employees, &leave, 2));
        assert_eq!(first, again);
    }

    #[test]
    fn a_long_day_is_split_into_parts_that_each_fit() {
        let roster = roster();
        let date = day(2026, 11, 23);
        let employees: Vec<Employee> = (0..400)
            .map(|i| {
                let mut e = employee(
                    i,
                    &format!("Person 🎂 & <{i:03}>"),
                    "With A Rather Long Family Name",
                );
                e.birthdate = Some(day(1990, 11, 23));
                e
            })
            .collect();
        let html = render(&Pulse::build(&roster, date, &employees, &[], 2));
        let parts = split_message(&html, TELEGRAM_MESSAGE_LIMIT);
        assert!(parts.len() > 1, "{} parts", parts.len());
        for part in &parts {
            let units = visible_len(part).expect("valid HTML");
            assert!(units <= TELEGRAM_MESSAGE_LIMIT, "{units}");
        }
        let everyone = parts.concat();
        assert!(everyone.contains("&lt;399&gt;") && everyone.contains("&lt;000&gt;"));
    }

    #[test]
    fn check_renders_the_samples_and_they_fit() {
        let roster = roster();
        let file = crate::config::model::JobFile {
            name: "team-pulse".into(),
            kind: "team_pulse".into(),
            cron: "0 9 * * MON-FRI".into(),
            timezone: "Asia/Singapore".into(),
            thread: "pulse".into(),
            template: None,
            misfire: Default::default(),
            grace_minutes: 30,
            timeout_seconds: 60,
            max_messages: 50,
            clean_sweep: None,
            top: None,
            nag_after_days: None,
            days_ahead: None,
            post_in_thread: None,
        };
        let spec = JobSpec::from_file("clawrence", &file, &roster).expect("spec");
        let samples = TeamPulse
            .check(&spec, &templates(), &roster)
            .expect("renders");
        assert_eq!(samples.len(), 2);
        for sample in samples {
            assert!(sample.problem().is_none(), "{}", sample.html);
        }
    }
}
