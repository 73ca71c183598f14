//! Daily updates filed in the daily-updates thread: one row per member and local day, written
//! in the transaction of the message (or edit) that filed it. The laser-chase reads it.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::SqliteConnection;

use super::time_key;

/// Records that `member` posted (or edited) in the daily-updates thread on `local_date`.
/// Returns true when this is the member's first update of that day.
pub async fn record(
    conn: &mut SqliteConnection,
    member: &str,
    local_date: NaiveDate,
    message_id: i64,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let at = time_key(at);
    let first = sqlx::query(
        "INSERT INTO daily_updates (member, local_date, first_message_id, first_at, last_at)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (member, local_date) DO NOTHING",
    )
    .bind(member)
    .bind(local_date.to_string())
    .bind(message_id)
    .bind(&at)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !first {
        sqlx::query(
            "UPDATE daily_updates SET last_at = max(last_at, ?3), messages = messages + 1
             WHERE member = ?1 AND local_date = ?2",
        )
        .bind(member)
        .bind(local_date.to_string())
        .bind(&at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(first)
}

/// The members who filed an update on `local_date`.
pub async fn filed_on(
    conn: &mut SqliteConnection,
    local_date: NaiveDate,
) -> Result<BTreeSet<String>, sqlx::Error> {
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT member FROM daily_updates WHERE local_date = ?")
            .bind(local_date.to_string())
            .fetch_all(conn)
            .await?;
    Ok(names.into_iter().map(|(n,)| n).collect())
}
