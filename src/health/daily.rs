//! What the daily probe (and the probe at every start) tells the operators: only what
//! regressed or recovered since the previous probe, and, when all is green and nothing
//! changed, one line a week (on Mondays). Each probe's report is stored (source `probe`), so
//! the next one compares with it; `/status` shows the newest snapshot of any source.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Check, Report, Verdict};
use crate::store::capability_snapshots;
use crate::store::Store;

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

/// What `report` has to say after `previous` (the previous probe's report, if any);
/// `weekly` is whether today gets the all-green line.
pub fn news(report: &Report, previous: Option<&Report>, weekly: bool) -> Option<News> {
    let mut regressed = Vec::new();
    let mut recovered = Vec::new();
    for check in &report.checks {
        let before = previous.map(|p| {
            p.checks
                .iter()
                .find(|c| c.capability == check.capability)
                .map(|c| c.verdict)
        });
        match before {
            // The first probe: everything not OK is news.
            None if check.verdict != Verdict::Ok => regressed.push(change(check, None)),
            None => {}
            Some(None) if check.verdict != Verdict::Ok => regressed.push(change(check, None)),
            Some(None) => {}
            Some(Some(old)) if check.verdict > old => regressed.push(change(check, Some(old))),
            Some(Some(old)) if check.verdict < old => recovered.push(change(check, Some(old))),
            Some(Some(_)) => {}
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

/// Stores `report` as the newest snapshot of `source` (`probe`) and returns the previous
/// report of that source.
pub async fn record(
    store: &Store,
    report: &Report,
    at: DateTime<Utc>,
    source: &str,
) -> Result<Option<Report>, sqlx::Error> {
    let checks =
        serde_json::to_string(&report.checks).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let summary = super::audit::summary(report);
    store
        .retry("storing the capability probe", || async {
            let mut tx = store.begin_write().await?;
            let previous = capability_snapshots::latest(&mut tx, Some(source)).await?;
            capability_snapshots::insert(&mut tx, at, source, &checks).await?;
            let entry =
                crate::store::audit::AuditEntry::new("health", format!("{source}: {summary}"));
            crate::store::audit::record(&mut tx, at, &entry).await?;
            tx.commit().await?;
            Ok(previous)
        })
        .await
        .map(|previous| {
            previous.map(|p| Report {
                checks: serde_json::from_str(&p.checks).unwrap_or_default(),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

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
