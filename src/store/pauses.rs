//! The kill switch's table: one row per active pause, at three levels (all, one identity,
//! one job). Written by `herald pause`/`resume` (CLI or console) and read by the senders on
//! every claim and by the scheduler on every slot, so a pause committed here holds from the
//! next send on, in this process or another one sharing the database.

use std::fmt;

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use crate::store::audit::{self, AuditEntry};
use crate::store::signals::Wake;

/// What a pause covers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PauseScope {
    /// Every identity and job; only the console's DMs to operators still go out.
    All,
    /// One identity, by name (`clawrence`).
    Bot(String),
    /// One job, by name.
    Job(String),
}

impl PauseScope {
    /// The stored key: `all`, `bot:<name>` or `job:<name>`.
    pub fn key(&self) -> String {
        match self {
            PauseScope::All => "all".to_owned(),
            PauseScope::Bot(name) => format!("bot:{name}"),
            PauseScope::Job(name) => format!("job:{name}"),
        }
    }

    /// Parses a stored key.
    pub fn from_key(key: &str) -> Option<Self> {
        match key.split_once(':') {
            None if key == "all" => Some(PauseScope::All),
            Some(("bot", name)) => Some(PauseScope::Bot(name.to_owned())),
            Some(("job", name)) => Some(PauseScope::Job(name.to_owned())),
            _ => None,
        }
    }

    /// Parses the words after `pause`/`resume`: `all`, `bot NAME` or `job NAME`.
    pub fn parse_words(words: &[&str]) -> Result<Self, String> {
        match words {
            [] | ["all"] => Ok(PauseScope::All),
            ["bot", name] => Ok(PauseScope::Bot(name.to_ascii_lowercase())),
            ["job", name] => Ok(PauseScope::Job((*name).to_owned())),
            _ => Err(format!(
                "expected `all`, `bot NAME` or `job NAME`, got `{}`",
                words.join(" ")
            )),
        }
    }
}

/// What a scope names that this deployment does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnknownName {
    Identity(String),
    Job(String),
}

impl PauseScope {
    /// The identity or job this scope names, if it does not exist; `jobs` are every job's
    /// name. `all` always exists.
    pub fn unknown_name(&self, jobs: &[&str]) -> Option<UnknownName> {
        match self {
            PauseScope::All => None,
            PauseScope::Bot(name) => (!crate::identity::IDENTITY_NAMES.contains(&name.as_str()))
                .then(|| UnknownName::Identity(name.clone())),
            PauseScope::Job(name) => {
                (!jobs.contains(&name.as_str())).then(|| UnknownName::Job(name.clone()))
            }
        }
    }
}

impl fmt::Display for PauseScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PauseScope::All => f.write_str("all"),
            PauseScope::Bot(name) => write!(f, "bot {name}"),
            PauseScope::Job(name) => write!(f, "job {name}"),
        }
    }
}

/// One active pause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    pub scope: PauseScope,
    pub paused_at: String,
    pub paused_by: String,
}

/// The active pauses at a moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PauseState {
    pub pauses: Vec<Pause>,
}

impl PauseState {
    pub fn has(&self, scope: &PauseScope) -> bool {
        self.pauses.iter().any(|p| &p.scope == scope)
    }

    /// Whether a job of `bot` named `job` may run now, and if not, which pause holds it.
    pub fn holding_job(&self, bot: &str, job: &str) -> Option<&Pause> {
        self.pauses.iter().find(|p| match &p.scope {
            PauseScope::All => true,
            PauseScope::Bot(b) => b == bot,
            PauseScope::Job(j) => j == job,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.pauses.is_empty()
    }
}

/// Reads the active pauses.
pub async fn current(conn: &mut SqliteConnection) -> Result<PauseState, sqlx::Error> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT scope, paused_at, paused_by FROM pauses ORDER BY scope")
            .fetch_all(conn)
            .await?;
    Ok(PauseState {
        pauses: rows
            .into_iter()
            .filter_map(|(key, paused_at, paused_by)| {
                PauseScope::from_key(&key).map(|scope| Pause {
                    scope,
                    paused_at,
                    paused_by,
                })
            })
            .collect(),
    })
}

/// Pauses `scope`. Returns false (and changes nothing) if it was already paused.
pub async fn pause(
    conn: &mut SqliteConnection,
    scope: &PauseScope,
    by: &str,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO pauses (scope, paused_at, paused_by) VALUES (?, ?, ?)
         ON CONFLICT (scope) DO NOTHING",
    )
    .bind(scope.key())
    .bind(super::time_key(at))
    .bind(by)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        super::signals::mark(conn, Wake::AllSenders);
        super::signals::mark(conn, Wake::Scheduler);
    }
    let decision = if inserted {
        format!("paused {scope}")
    } else {
        format!("pause {scope}: already paused")
    };
    audit::record(conn, at, &scoped_entry(scope, decision, by)).await?;
    Ok(inserted)
}

/// Lifts the pause on `scope`. Returns false (and changes nothing) if it was not paused.
pub async fn resume(
    conn: &mut SqliteConnection,
    scope: &PauseScope,
    by: &str,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let removed = sqlx::query("DELETE FROM pauses WHERE scope = ?")
        .bind(scope.key())
        .execute(&mut *conn)
        .await?
        .rows_affected()
        == 1;
    if removed {
        super::signals::mark(conn, Wake::AllSenders);
        super::signals::mark(conn, Wake::Scheduler);
    }
    let decision = if removed {
        format!("resumed {scope}")
    } else {
        format!("resume {scope}: was not paused")
    };
    audit::record(conn, at, &scoped_entry(scope, decision, by)).await?;
    Ok(removed)
}

/// A change of the pauses, as told to operators (`pause_notices.change`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
pub enum PauseChange {
    Pause,
    Resume,
}

/// One operator already told about one change (see the `pause_notices` migration).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PauseNotice {
    /// The scope's stored key (`all`, `bot:<name>`, `job:<name>`).
    pub scope: String,
    pub change: PauseChange,
    /// `paused_at` of the pause made or lifted.
    pub paused_at: String,
    pub operator: i64,
}

/// Records that `operator` was told about `change` of the pause on `scope` made at
/// `paused_at`, in the transaction of that change.
pub async fn told(
    conn: &mut SqliteConnection,
    scope: &PauseScope,
    change: PauseChange,
    paused_at: &str,
    operator: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO pause_notices (scope, change, paused_at, operator) VALUES (?, ?, ?, ?)
         ON CONFLICT DO NOTHING",
    )
    .bind(scope.key())
    .bind(change)
    .bind(paused_at)
    .bind(operator)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every notice recorded since the last call, removed.
pub async fn take_notices(conn: &mut SqliteConnection) -> Result<Vec<PauseNotice>, sqlx::Error> {
    let rows: Vec<(String, PauseChange, String, i64)> =
        sqlx::query_as("DELETE FROM pause_notices RETURNING scope, change, paused_at, operator")
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(scope, change, paused_at, operator)| PauseNotice {
            scope,
            change,
            paused_at,
            operator,
        })
        .collect())
}

fn scoped_entry(scope: &PauseScope, decision: String, by: &str) -> AuditEntry {
    let mut entry = AuditEntry::new("pause", decision).detail(format!("by {by}"));
    match scope {
        PauseScope::All => {}
        PauseScope::Bot(bot) => entry.bot = Some(bot.clone()),
        PauseScope::Job(job) => entry = entry.job(job),
    }
    entry
}

/// The SQL condition (on an `outbox` row aliased `o`) that the row is held by no pause.
/// `?3` must be bound to 1 for the console identity and `?5` to the JSON array of operator
/// ids: the console's DMs and button answers to operators are never held, so the operator
/// still hears about (and can lift) a pause.
pub(crate) const UNPAUSED_ROW: &str = "((?3 = 1 AND (o.chat_id IN (SELECT value FROM json_each(?5))
                  OR o.kind = 'answer_callback'))
     OR NOT EXISTS (SELECT 1 FROM pauses p WHERE p.scope = 'all' OR p.scope = 'bot:' || o.bot
                    OR (o.job IS NOT NULL AND p.scope = 'job:' || o.job)))";

/// The SQL condition that a row may go out in the current mode: `?6` is 1 in diagnose mode,
/// where only DMs to operators (`?5`) and button answers leave.
pub(crate) const ALLOWED_IN_MODE: &str = "(?6 = 0 OR o.chat_id IN (SELECT value FROM json_each(?5))
     OR o.kind = 'answer_callback')";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_and_parse() {
        for scope in [
            PauseScope::All,
            PauseScope::Bot("clawrence".into()),
            PauseScope::Job("laser-chase".into()),
        ] {
            assert_eq!(PauseScope::from_key(&scope.key()), Some(scope));
        }
        assert_eq!(PauseScope::parse_words(&[]), Ok(PauseScope::All));
        assert_eq!(
            PauseScope::parse_words(&["bot", "Clawrence"]),
            Ok(PauseScope::Bot("clawrence".into()))
        );
        assert!(PauseScope::parse_words(&["bots", "x"]).is_err());
        assert!(PauseScope::parse_words(&["job"]).is_err());
    }

    #[test]
    fn unknown_names_are_found() {
        let jobs = ["team-pulse"];
        assert_eq!(PauseScope::All.unknown_name(&jobs), None);
        assert_eq!(PauseScope::Bot("happy".into()).unknown_name(&jobs), None);
        assert_eq!(
            PauseScope::Bot("nobody".into()).unknown_name(&jobs),
            Some(UnknownName::Identity("nobody".into()))
        );
        assert_eq!(
            PauseScope::Job("team-pulse".into()).unknown_name(&jobs),
            None
        );
        assert_eq!(
            PauseScope::Job("nope".into()).unknown_name(&jobs),
            Some(UnknownName::Job("nope".into()))
        );
    }

    #[test]
    fn holding_job_checks_every_level() {
        let state = |scope| PauseState {
            pauses: vec![Pause {
                scope,
                paused_at: String::new(),
                paused_by: String::new(),
            }],
        };
        assert!(state(PauseScope::All)
            .holding_job("happy", "brief")
            .is_some());
        assert!(state(PauseScope::Bot("happy".into()))
            .holding_job("happy", "brief")
            .is_some());
        assert!(state(PauseScope::Bot("claudia".into()))
            .holding_job("happy", "brief")
            .is_none());
        assert!(state(PauseScope::Job("brief".into()))
            .holding_job("happy", "brief")
            .is_some());
        assert!(PauseState::default()
            .holding_job("happy", "brief")
            .is_none());
    }
}
