//! Is herald able to do its job right now? Live probes of everything it depends on: every
//! bot's token, privacy mode, place in the team chat and threads, every operator's private
//! chat with the console bot, Xero and Talenox, and the database. Each check ends `OK`,
//! `DEGRADED` or `BROKEN` with its cause and the fix; the probes run concurrently under one
//! deadline, so a hanging one costs the whole audit at most that long. A report is stored
//! as a snapshot ([`record`]) and compared with the one before it ([`Report::changes_since`]).

pub mod audit;
pub mod daily;
pub mod database;
pub mod prober;
pub mod sources;
pub mod telegram;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::audit::AuditEntry;
use crate::store::capability_snapshots::{self, StoredSnapshot};
use crate::store::Store;

/// How a capability stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Ok,
    Degraded,
    Broken,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Degraded => "DEGRADED",
            Self::Broken => "BROKEN",
        }
    }

    /// 0 OK, 1 DEGRADED, 2 BROKEN (the value of `/metrics`' `herald_capability_verdict`).
    pub fn severity(self) -> i64 {
        match self {
            Self::Ok => 0,
            Self::Degraded => 1,
            Self::Broken => 2,
        }
    }
}

/// One capability's result. `capability` is the stable key snapshots are compared by
/// (`claudia: member of team chat`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub capability: String,
    pub verdict: Verdict,
    /// What was found, in a few words.
    pub cause: String,
    /// What to do about it; empty when OK.
    pub fix: String,
}

impl Check {
    pub fn ok(capability: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            capability: capability.into(),
            verdict: Verdict::Ok,
            cause: cause.into(),
            fix: String::new(),
        }
    }

    pub fn degraded(
        capability: impl Into<String>,
        cause: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            verdict: Verdict::Degraded,
            fix: fix.into(),
            ..Self::ok(capability, cause)
        }
    }

    pub fn broken(
        capability: impl Into<String>,
        cause: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            verdict: Verdict::Broken,
            fix: fix.into(),
            ..Self::ok(capability, cause)
        }
    }

    /// One line: `VERDICT  capability: cause (fix: ...)`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{:<8} {}: {}",
            self.verdict.as_str(),
            self.capability,
            self.cause
        );
        if !self.fix.is_empty() {
            line.push_str(&format!(" (fix: {})", self.fix));
        }
        line
    }
}

/// Every check of one audit, in a stable order (bots in identity order, then operators,
/// sources and the database).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check is OK.
    pub fn all_ok(&self) -> bool {
        self.checks.iter().all(|c| c.verdict == Verdict::Ok)
    }

    /// `N OK, N DEGRADED, N BROKEN`.
    pub fn summary(&self) -> String {
        let count = |v| self.checks.iter().filter(|c| c.verdict == v).count();
        format!(
            "{} OK, {} DEGRADED, {} BROKEN",
            count(Verdict::Ok),
            count(Verdict::Degraded),
            count(Verdict::Broken)
        )
    }

    /// `VERDICT capability: cause` for every check that is not OK (`/status`, the brief).
    pub fn not_ok(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| c.verdict != Verdict::Ok)
            .map(|c| format!("{} {}: {}", c.verdict.as_str(), c.capability, c.cause))
            .collect()
    }

    /// `capability: BEFORE → AFTER (cause)` for each capability whose verdict changed since
    /// `before`, in this report's order, then the ones no longer checked.
    pub fn changes_since(&self, before: &Report) -> Vec<String> {
        let previous = |key: &str| before.checks.iter().find(|c| c.capability == key);
        let mut changes = Vec::new();
        for check in &self.checks {
            match previous(&check.capability) {
                Some(old) if old.verdict == check.verdict => {}
                Some(old) => changes.push(format!(
                    "{}: {} → {} ({})",
                    check.capability,
                    old.verdict.as_str(),
                    check.verdict.as_str(),
                    check.cause
                )),
                None => changes.push(format!(
                    "{}: new → {} ({})",
                    check.capability,
                    check.verdict.as_str(),
                    check.cause
                )),
            }
        }
        for old in &before.checks {
            if !self.checks.iter().any(|c| c.capability == old.capability) {
                changes.push(format!(
                    "{}: {} → no longer checked",
                    old.capability,
                    old.verdict.as_str()
                ));
            }
        }
        changes
    }
}

/// A report as stored, and when it was taken.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub at: DateTime<Utc>,
    pub report: Report,
}

impl From<StoredSnapshot> for Snapshot {
    fn from(stored: StoredSnapshot) -> Self {
        Snapshot {
            at: stored.at,
            report: Report {
                checks: serde_json::from_str(&stored.checks).unwrap_or_default(),
            },
        }
    }
}

/// The newest snapshot of any source (what `/status` and the morning brief show).
pub async fn latest(conn: &mut sqlx::SqliteConnection) -> Result<Option<Snapshot>, sqlx::Error> {
    Ok(capability_snapshots::latest(conn, None)
        .await?
        .map(Snapshot::from))
}

/// Stores `report` as the newest snapshot of `source` (`audit` or `probe`), audited, in one
/// transaction, and returns the snapshot it is compared with: the newest of `compare_with`
/// (`None`: of any source) before this one.
pub async fn record(
    store: &Store,
    report: &Report,
    at: DateTime<Utc>,
    source: &str,
    compare_with: Option<&str>,
) -> Result<Option<Snapshot>, sqlx::Error> {
    let checks =
        serde_json::to_string(&report.checks).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let entry = AuditEntry::new("health", format!("{source}: {}", report.summary()));
    let previous = store
        .retry("storing a capability snapshot", || async {
            let mut tx = store.begin_write().await?;
            let previous = capability_snapshots::latest(&mut tx, compare_with).await?;
            capability_snapshots::insert(&mut tx, at, source, &checks).await?;
            crate::store::audit::record(&mut tx, at, &entry).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(previous)
        })
        .await?;
    Ok(previous.map(Snapshot::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_the_capability_both_verdicts_and_the_cause() {
        let before = Report {
            checks: vec![
                Check::ok("claudia: member of team chat", "member"),
                Check::ok("claudia: thread ar-brief", "exists"),
                Check::ok("xero: refresh", "refreshed"),
            ],
        };
        let after = Report {
            checks: vec![
                Check::broken("claudia: member of team chat", "kicked", "add it back"),
                Check::ok("claudia: thread ar-brief", "exists"),
                Check::degraded("talenox: read", "slow", "wait"),
            ],
        };
        assert_eq!(
            after.changes_since(&before),
            [
                "claudia: member of team chat: OK → BROKEN (kicked)",
                "talenox: read: new → DEGRADED (slow)",
                "xero: refresh: OK → no longer checked",
            ]
        );
        assert!(after.changes_since(&after).is_empty());
        assert!(!after.all_ok() && before.all_ok());
        assert_eq!(
            after.checks[0].line(),
            "BROKEN   claudia: member of team chat: kicked (fix: add it back)"
        );
    }
}
