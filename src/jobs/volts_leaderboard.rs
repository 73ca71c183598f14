//! The noon volts leaderboard (Clawrence, volts thread): this week's totals, Monday 00:00 to
//! Sunday 24:00 in the team's zone, top N by rank (ties share a rank and are listed by name),
//! and how many volts were given today.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use futures::future::BoxFuture;
use serde::Serialize;

use super::{Job, JobError, JobInput, JobOutput, JobSpec, Sample};
use crate::identity::Clawrence;
use crate::roster::Roster;
use crate::store::volts;
use crate::templates::{TemplateError, Templates};

/// The template used when a job names none.
pub const DEFAULT_TEMPLATE: &str = "volts_leaderboard.html";

/// The leaderboard job.
#[derive(Debug, Default)]
pub struct VoltsLeaderboard;

impl super::JobKind for VoltsLeaderboard {
    const KIND: &'static str = "volts_leaderboard";
    const SETTINGS: &'static [super::KindSetting] = &[super::KindSetting::Top];
}

/// One line of the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub rank: u32,
    pub name: String,
    pub total: u32,
}

/// Everything one leaderboard renders from.
#[derive(Debug, Clone, Serialize)]
pub struct Board {
    pub date: String,
    pub week_start: String,
    pub week_end: String,
    pub rows: Vec<Row>,
    pub given_today: u32,
}

/// The week (Monday 00:00 to the next Monday 00:00, team time) that contains `date`, as UTC
/// instants: `[from, until)`.
pub fn week_of(date: NaiveDate, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let monday = date - Duration::days(i64::from(date.weekday().num_days_from_monday()));
    let midnight = |day: NaiveDate| {
        let local = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        // A midnight skipped by a DST change starts the day at the first instant after it.
        zone.from_local_datetime(&local)
            .earliest()
            .or_else(|| {
                zone.from_local_datetime(&(local + Duration::hours(1)))
                    .earliest()
            })
            .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
    };
    (midnight(monday), midnight(monday + Duration::days(7)))
}

/// Ranks `totals` (any order): highest first, equal totals share a rank ("1, 1, 3") and are
/// ordered by name; only ranks up to `top` are kept (all who tie at the cut stay).
pub fn rank(mut totals: Vec<(String, u32)>, top: u32) -> Vec<Row> {
    totals.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut rows: Vec<Row> = Vec::with_capacity(totals.len());
    for (i, (name, total)) in totals.into_iter().enumerate() {
        let rank = match rows.last() {
            Some(previous) if previous.total == total => previous.rank,
            _ => u32::try_from(i + 1).unwrap_or(u32::MAX),
        };
        if rank > top {
            break;
        }
        rows.push(Row { rank, name, total });
    }
    rows
}

impl Board {
    pub fn build(date: NaiveDate, totals: Vec<(String, u32)>, given_today: u32, top: u32) -> Board {
        let monday = date - Duration::days(i64::from(date.weekday().num_days_from_monday()));
        Board {
            date: date.format("%A %-d %B %Y").to_string(),
            week_start: monday.format("%a %-d %b").to_string(),
            week_end: (monday + Duration::days(6)).format("%a %-d %b").to_string(),
            rows: rank(totals, top),
            given_today,
        }
    }

    pub fn render(&self, templates: &Templates, template: &str) -> Result<String, TemplateError> {
        templates.render(template, minijinja::Value::from_serialize(self))
    }
}

impl Job for VoltsLeaderboard {
    type Bot = Clawrence;

    fn run<'a>(&'a self, input: &'a JobInput) -> BoxFuture<'a, Result<JobOutput, JobError>> {
        Box::pin(async move {
            let date = input.local_date();
            if input.roster.is_holiday(date).is_some() {
                return Ok(JobOutput::default());
            }
            let (from, until) = week_of(date, input.roster.timezone());
            let mut conn = input.store.pool().acquire().await?;
            let totals = volts::received_between(&mut conn, from, until).await?;
            let given_today = volts::total_on(&mut conn, date).await?;
            let board = Board::build(date, totals, given_today, input.spec.top);
            Ok(
                vec![board.render(&input.templates, input.spec.template_or(DEFAULT_TEMPLATE))?]
                    .into(),
            )
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
        let totals = roster
            .members()
            .iter()
            .zip([5, 5, 3, 1].into_iter().cycle())
            .map(|(m, n)| (m.name.clone(), n))
            .collect();
        let template = spec.template_or(DEFAULT_TEMPLATE);
        let mut samples = Vec::new();
        for board in [
            Board::build(date, totals, 4, spec.top),
            Board::build(date, Vec::new(), 0, spec.top),
        ] {
            let html = board
                .render(templates, template)
                .map_err(|e| e.to_string())?;
            samples.push(Sample::new(template, html));
        }
        Ok(samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_a_rank_in_name_order_and_the_cut_keeps_ties() {
        let totals = vec![
            ("Siti".to_owned(), 3),
            ("Arjun".to_owned(), 7),
            ("Grace".to_owned(), 7),
            ("Marcus".to_owned(), 3),
            ("Priya".to_owned(), 1),
        ];
        let rows = rank(totals, 3);
        let got: Vec<(u32, &str, u32)> = rows
            .iter()
            .map(|r| (r.rank, r.name.as_str(), r.total))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "Arjun", 7),
                (1, "Grace", 7),
                (3, "Marcus", 3),
                (3, "Siti", 3)
            ]
        );
        assert_eq!(rank(vec![("A".into(), 2), ("B".into(), 1)], 1).len(), 1);
    }

    #[test]
    fn the_week_runs_monday_to_sunday_in_the_team_zone() {
        let zone: Tz = "Asia/Singapore".parse().unwrap();
        let sunday = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let (from, until) = week_of(sunday, zone);
        assert_eq!(from.to_rfc3339(), "2026-11-15T16:00:00+00:00");
        assert_eq!(until.to_rfc3339(), "2026-11-22T16:00:00+00:00");
        let monday = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(week_of(monday, zone).0, until);
    }
}
