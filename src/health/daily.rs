//! What the daily capability probe tells the operators: only what
//! regressed or recovered since the previous probe, and, when all is green and nothing
//! changed, one line a week (the first probe of each week). Each probe's report is stored (source `probe`,
//! [`super::record`]), so the next one compares with it; `/status` shows the newest snapshot
//! of any source.

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;

use super::{Check, Report, Verdict};

/// One capability that changed, as the template shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub capability: String,
    pub before: &'static str,
    pub after: &'static str,
    pub cause: String,
    pub fix: String,
}

/// What a probe has to say; nothing to say is `None` from [`news`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct News {
    /// Worse than before (or not OK at the first probe).
    pub regressed: Vec<Change>,
    /// Better than before.
    pub recovered: Vec<Change>,
    /// All OK and unchanged: the weekly line. How many capabilities.
    pub all_ok: Option<usize>,
}

fn change(check: &Check, before: Option<Verdict>) -> Change {
    Change {
        capability: check.capability.clone(),
        before: before.map_or("new", Verdict::as_str),
        after: check.verdict.as_str(),
        cause: check.cause.clone(),
        fix: check.fix.clone(),
    }
}

/// Whether a probe at `now` owes the all-green line: it is the first probe of its ISO week
/// (team time) since `previous_at`, the previous probe. So a missed Monday still gets its
/// line that week, and reruns, `/run` and catch-ups within the week say nothing again. The
/// very first probe has nothing to compare with and stays quiet.
pub fn weekly_line_due(
    previous_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    zone: chrono_tz::Tz,
) -> bool {
    let week = |at: DateTime<Utc>| at.with_timezone(&zone).iso_week();
    previous_at.is_some_and(|previous| week(previous) != week(now))
}

/// What `report` has to say after `previous` (the previous probe's report, if any);
/// `weekly` is whether today gets the all-green line.
pub fn news(report: &Report, previous: Option<&Report>, weekly: bool) -> Option<News> {
    let mut regressed = Vec::new();
    let mut recovered = Vec::new();
    for check in &report.checks {
        // A capability new to this probe (or the first probe) counts as having been OK.
        let before = previous
            .and_then(|p| p.checks.iter().find(|c| c.capability == check.capability))
            .map(|c| c.verdict);
        let old = before.unwrap_or(Verdict::Ok);
        if check.verdict > old {
            regressed.push(change(check, before));
        } else if check.verdict < old {
            recovered.push(change(check, before));
        }
    }
    if !regressed.is_empty() || !recovered.is_empty() {
        return Some(News {
            regressed,
            recovered,
            all_ok: None,
        });
    }
    (weekly && report.all_ok()).then_some(News {
        regressed,
        recovered,
        all_ok: Some(report.checks.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_all_green_line_goes_with_the_first_probe_of_each_week() {
        let zone = chrono_tz::Asia::Singapore;
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        // Sunday 29 November, then Monday 30 November 08:00 Singapore (00:00 UTC).
        let (sunday, monday) = (at("2026-11-29T00:00:00Z"), at("2026-11-30T00:00:00Z"));
        assert!(weekly_line_due(Some(sunday), monday, zone));
        assert!(!weekly_line_due(
            Some(monday),
            monday + chrono::Duration::hours(1),
            zone
        ));
        // Monday missed: Tuesday's probe is the week's first.
        assert!(weekly_line_due(
            Some(sunday),
            monday + chrono::Duration::days(1),
            zone
        ));
        assert!(
            !weekly_line_due(None, monday, zone),
            "the first probe ever is quiet"
        );
        // Sunday 23:30 Singapore is Sunday 15:30 UTC: weeks are the team's.
        assert!(weekly_line_due(
            Some(at("2026-11-29T15:30:00Z")),
            at("2026-11-29T16:30:00Z"),
            zone
        ));
    }

    fn report(checks: &[(&str, Verdict)]) -> Report {
        Report {
            checks: checks
                .iter()
                .map(|(c, v)| Check {
                    capability: (*c).into(),
                    verdict: *v,
                    cause: "cause".into(),
                    fix: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn only_changes_are_news_and_all_green_once_a_week() {
        use Verdict::*;
        let green = report(&[("a", Ok), ("b", Ok)]);
        let broken = report(&[("a", Broken), ("b", Ok)]);
        assert_eq!(
            news(&green, None, false),
            None,
            "a green first probe is silent"
        );
        let first = news(&broken, None, false).unwrap();
        assert_eq!(first.regressed.len(), 1);
        assert_eq!(first.regressed[0].before, "new");
        let worse = news(&broken, Some(&green), false).unwrap();
        assert_eq!((worse.regressed.len(), worse.recovered.len()), (1, 0));
        assert_eq!(
            news(&broken, Some(&broken), true),
            None,
            "unchanged, not green"
        );
        let better = news(&green, Some(&broken), false).unwrap();
        assert_eq!((better.regressed.len(), better.recovered.len()), (0, 1));
        assert_eq!(news(&green, Some(&green), false), None);
        assert_eq!(news(&green, Some(&green), true).unwrap().all_ok, Some(2));
    }
}
