//! The last successful read of approved leave from an HR system (`leave_snapshots`), kept so
//! that a laser-chase can still leave out people on leave while the system is down.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::SqliteConnection;

use super::{parse_time, time_key};

/// One member's leave, inclusive of both days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveSpan {
    /// A roster member's name.
    pub member: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// A read of `source`'s approved leave for the days `from..=to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveSnapshot {
    pub taken_at: DateTime<Utc>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub leave: Vec<LeaveSpan>,
}

impl LeaveSnapshot {
    /// True when the read covered `day`.
    pub fn covers(&self, day: NaiveDate) -> bool {
        self.from <= day && day <= self.to
    }

    /// The members on leave on `day`, by the snapshot.
    pub fn away_on(&self, day: NaiveDate) -> Vec<String> {
        let mut away: Vec<String> = self
            .leave
            .iter()
            .filter(|s| s.from <= day && day <= s.to)
            .map(|s| s.member.clone())
            .collect();
        away.sort();
        away.dedup();
        away
    }
}

/// Replaces `source`'s snapshot.
pub async fn save(
    conn: &mut SqliteConnection,
    source: &str,
    snapshot: &LeaveSnapshot,
) -> Result<(), sqlx::Error> {
    let leave =
        serde_json::to_string(&snapshot.leave).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO leave_snapshots (source, taken_at, from_day, to_day, leave)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (source) DO UPDATE SET taken_at = ?2, from_day = ?3, to_day = ?4, leave = ?5",
    )
    .bind(source)
    .bind(time_key(snapshot.taken_at))
    .bind(snapshot.from.to_string())
    .bind(snapshot.to.to_string())
    .bind(leave)
    .execute(conn)
    .await?;
    Ok(())
}

/// `source`'s snapshot, if one was ever saved.
pub async fn latest(
    conn: &mut SqliteConnection,
    source: &str,
) -> Result<Option<LeaveSnapshot>, sqlx::Error> {
    let row: Option<(String, String, String, String)> = sqlx::query_as(
        "SELECT taken_at, from_day, to_day, leave FROM leave_snapshots WHERE source = ?",
    )
    .bind(source)
    .fetch_optional(conn)
    .await?;
    let Some((taken_at, from, to, leave)) = row else {
        return Ok(None);
    };
    let decode = |what: &str, e: String| {
        sqlx::Error::Decode(format!("leave_snapshots.{what} of {source}: {e}").into())
    };
    Ok(Some(LeaveSnapshot {
        taken_at: parse_time(&taken_at)
            .ok_or_else(|| decode("taken_at", format!("\"{taken_at}\" is not a time")))?,
        from: from
            .parse()
            .map_err(|e: chrono::ParseError| decode("from_day", e.to_string()))?,
        to: to
            .parse()
            .map_err(|e: chrono::ParseError| decode("to_day", e.to_string()))?,
        leave: serde_json::from_str(&leave).map_err(|e| decode("leave", e.to_string()))?,
    }))
}
