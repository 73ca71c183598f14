//! What a job does at most once per key (`job_once`): a note to the operators, a DM to a member.
//! The run claims the key in its own transaction, so whatever reruns the slot, it happens once.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::time_key;

/// Claims `key` for `job`: true the first time, false ever after.
pub async fn claim(
    conn: &mut SqliteConnection,
    job: &str,
    key: &str,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO job_once (job, key, claimed_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (job, key) DO NOTHING",
    )
    .bind(job)
    .bind(key)
    .bind(time_key(at))
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}
