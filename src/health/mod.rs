//! Is herald able to do its job right now? Live probes of everything it depends on: every
//! bot's token, privacy mode, place in the team chat and threads, every operator's private
//! chat with the console bot, Xero and Talenox, and the database. Each check ends `OK`,
//! `DEGRADED` or `BROKEN` with its cause and the fix; the probes run concurrently under one
//! deadline, so a hanging one costs the whole audit at most that long. A report is stored
//! as a snapshot and compared with the one before it ([`Report::changes_since`]).

pub mod audit;
pub mod daily;
pub mod database;
pub mod prober;
pub mod sources;
pub mod telegram;

use serde::{Deserialize, Serialize};

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
