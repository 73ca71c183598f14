//! Boots, for the crash-loop guard. Each start records a row; a boot becomes healthy after
//! running a while without a fatal error; its end records how it ended. Boots that ended in
//! an error, or never recorded an end (killed, crashed), without becoming healthy, are
//! unhealthy: three in a row within ten minutes put the next start in diagnose mode.

use chrono::{DateTime, Duration, Utc};
use sqlx::SqliteConnection;

use super::time_key;

/// How many unhealthy boots in a row, within [`WINDOW_MINUTES`], trigger diagnose mode.
pub const UNHEALTHY_IN_A_ROW: usize = 3;
pub const WINDOW_MINUTES: i64 = 10;

/// A past boot that never became healthy.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UnhealthyBoot {
    pub started_at: String,
    /// The error it stopped on; None if it never recorded an end (killed or crashed).
    pub outcome: Option<String>,
}

/// Records a start and returns its id.
pub async fn record_start(
    conn: &mut SqliteConnection,
    at: DateTime<Utc>,
    diagnose: bool,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("INSERT INTO boots (started_at, diagnose) VALUES (?, ?) RETURNING id")
        .bind(time_key(at))
        .bind(diagnose)
        .fetch_one(conn)
        .await
}

pub async fn mark_healthy(
    conn: &mut SqliteConnection,
    id: i64,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE boots SET healthy_at = ? WHERE id = ?")
        .bind(time_key(at))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records how a boot ended: `stopped`, or the error.
pub async fn mark_ended(
    conn: &mut SqliteConnection,
    id: i64,
    at: DateTime<Utc>,
    outcome: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE boots SET ended_at = ?, outcome = ? WHERE id = ?")
        .bind(time_key(at))
        .bind(outcome)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The unhealthy boots that would put this start in diagnose mode: the last
/// [`UNHEALTHY_IN_A_ROW`] boots, if every one of them started within the window before `now`
/// and none became healthy or was stopped cleanly. Empty otherwise.
pub async fn crash_loop(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
) -> Result<Vec<UnhealthyBoot>, sqlx::Error> {
    let since = time_key(now - Duration::minutes(WINDOW_MINUTES));
    let last: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT started_at, healthy_at, outcome FROM boots ORDER BY id DESC LIMIT ?",
    )
    .bind(UNHEALTHY_IN_A_ROW as i64)
    .fetch_all(conn)
    .await?;
    let looping = last.len() == UNHEALTHY_IN_A_ROW
        && last.iter().all(|(started, healthy, outcome)| {
            *started >= since && healthy.is_none() && outcome.as_deref() != Some("stopped")
        });
    Ok(if looping {
        last.into_iter()
            .map(|(started_at, _, outcome)| UnhealthyBoot {
                started_at,
                outcome,
            })
            .collect()
    } else {
        Vec::new()
    })
}
