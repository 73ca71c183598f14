//! Volts: kudos one roster member gives another, with a reason and a link to the message.
//! A grant is written in the transaction of its `/volts` update; the daily budget and the
//! weekly leaderboard are read from here.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::SqliteConnection;

use super::time_key;

/// One grant, as `/volts` stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub giver: String,
    pub receiver: String,
    pub amount: u32,
    pub reason: String,
    pub given_at: DateTime<Utc>,
    /// The giver's local day (team timezone).
    pub local_date: NaiveDate,
    pub chat_id: i64,
    pub message_id: i64,
    pub link: String,
}

/// Stores `grant`; returns its id.
pub async fn grant(conn: &mut SqliteConnection, grant: &Grant) -> Result<i64, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO volts (giver, receiver, amount, reason, given_at, local_date, chat_id,
                            message_id, link)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&grant.giver)
    .bind(&grant.receiver)
    .bind(i64::from(grant.amount))
    .bind(&grant.reason)
    .bind(time_key(grant.given_at))
    .bind(grant.local_date.to_string())
    .bind(grant.chat_id)
    .bind(grant.message_id)
    .bind(&grant.link)
    .execute(conn)
    .await?;
    Ok(done.last_insert_rowid())
}

/// How many volts `giver` has given on `local_date`.
pub async fn given_on(
    conn: &mut SqliteConnection,
    giver: &str,
    local_date: NaiveDate,
) -> Result<u32, sqlx::Error> {
    let (total,): (i64,) = sqlx::query_as(
        "SELECT coalesce(sum(amount), 0) FROM volts WHERE giver = ? AND local_date = ?",
    )
    .bind(giver)
    .bind(local_date.to_string())
    .fetch_one(conn)
    .await?;
    Ok(u32::try_from(total).unwrap_or(u32::MAX))
}

/// How many volts anyone gave on `local_date`.
pub async fn total_on(
    conn: &mut SqliteConnection,
    local_date: NaiveDate,
) -> Result<u32, sqlx::Error> {
    let (total,): (i64,) =
        sqlx::query_as("SELECT coalesce(sum(amount), 0) FROM volts WHERE local_date = ?")
            .bind(local_date.to_string())
            .fetch_one(conn)
            .await?;
    Ok(u32::try_from(total).unwrap_or(u32::MAX))
}

/// Volts received per member in `[from, until)`, highest first (ties in name order).
pub async fn received_between(
    conn: &mut SqliteConnection,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<(String, u32)>, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT receiver, sum(amount) AS total FROM volts
         WHERE given_at >= ? AND given_at < ?
         GROUP BY receiver ORDER BY total DESC, receiver",
    )
    .bind(time_key(from))
    .bind(time_key(until))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, total)| (name, u32::try_from(total).unwrap_or(u32::MAX)))
        .collect())
}
