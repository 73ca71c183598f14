//! Who is on leave on a given day. The laser-chase asks a [`LeaveSource`]: the roster file's
//! `[[leave]]` entries ([`RosterLeave`]), or Talenox when `[talenox]` is set
//! (`crate::sources::talenox::TalenoxLeave`). An answer says how sure it is ([`Certainty`]),
//! so that a job never chases people who may be on leave without saying so.

use std::sync::Arc;

use chrono::NaiveDate;
use futures::future::BoxFuture;

use crate::roster::{Member, Roster};

/// Why leave could not be read. The laser-chase fails (and tells the operator) rather than
/// chase people who may be on leave.
#[derive(Debug, thiserror::Error)]
#[error("leave source {source_name}: {reason}")]
pub struct LeaveError {
    pub source_name: &'static str,
    pub reason: String,
}

/// How sure a [`LeaveAnswer`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Certainty {
    /// Read from the source just now.
    Known,
    /// The source could not be read (`cause`); the answer is its last successful read, taken at
    /// `taken_at` (at most 24 h ago).
    FromSnapshot {
        cause: String,
        taken_at: chrono::DateTime<chrono::Utc>,
    },
    /// The source could not be read (`cause`) and no recent read covers the day: nobody is
    /// known to be on leave, and nobody can be known not to be.
    Unknown { cause: String },
}

/// Who is on leave, and how sure that is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveAnswer {
    /// Roster names of the members on leave.
    pub away: Vec<String>,
    pub certainty: Certainty,
}

impl LeaveAnswer {
    /// A fresh answer.
    pub fn known(away: Vec<String>) -> LeaveAnswer {
        LeaveAnswer {
            away,
            certainty: Certainty::Known,
        }
    }
}

/// Answers "is this member on leave on this local date?".
pub trait LeaveSource: Send + Sync {
    /// The members of `members` who are on leave on `date` (team-local calendar day).
    fn on_leave<'a>(
        &'a self,
        members: &'a [&'a Member],
        date: NaiveDate,
    ) -> BoxFuture<'a, Result<LeaveAnswer, LeaveError>>;
}

/// Leave as written in `bots/roster.toml` (`[[leave]]`, inclusive date ranges).
pub struct RosterLeave {
    roster: Arc<Roster>,
}

impl RosterLeave {
    pub fn new(roster: Arc<Roster>) -> Self {
        Self { roster }
    }
}

impl LeaveSource for RosterLeave {
    fn on_leave<'a>(
        &'a self,
        members: &'a [&'a Member],
        date: NaiveDate,
    ) -> BoxFuture<'a, Result<LeaveAnswer, LeaveError>> {
        let away = members
            .iter()
            .filter(|m| self.roster.on_leave(&m.name, date))
            .map(|m| m.name.clone())
            .collect();
        Box::pin(async move { Ok(LeaveAnswer::known(away)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn roster_leave_is_inclusive_of_both_dates() {
        let roster = Arc::new(crate::roster::tests_support::example());
        let Some(leave) = roster.leave().first().cloned() else {
            panic!("the example roster lists leave");
        };
        let source = RosterLeave::new(roster.clone());
        let members: Vec<&Member> = roster.members().iter().collect();
        let day = |d: NaiveDate| {
            let source = &source;
            let members = &members;
            async move { source.on_leave(members, d).await.unwrap().away }
        };
        assert!(day(leave.from).await.contains(&leave.member));
        assert!(day(leave.to).await.contains(&leave.member));
        assert!(!day(leave.to.succ_opt().unwrap())
            .await
            .contains(&leave.member));
        assert!(!day(leave.from.pred_opt().unwrap())
            .await
            .contains(&leave.member));
    }
}
