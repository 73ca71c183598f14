//! Notes a job gives the operators at most once per key (`job_notes`): the run claims the key
//! in its own transaction, so whatever reruns the slot, the note goes out once.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::time_key;

/// Claims `key` for `job`: true the first time, false ever after.
pub async fn first_time(
    conn: &mut SqliteConnection,
    job: &str,
    key: &str,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO job_notes (job, key, noted_at) VALUES (?1, ?2, ?3)
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
