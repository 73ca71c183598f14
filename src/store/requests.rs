//! Operator requests to run or preview a job, queued in the command's transaction and taken
//! by the scheduler (see the migration for why this goes through a table). A run request is
//! taken in the transaction that claims its slot; a preview request stays until the
//! transaction that enqueues the preview ([`settle`]), so a crash while rendering loses
//! nothing: the next start renders it again.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::time_key;

/// What the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Run,
    Preview,
}

impl RequestKind {
    fn as_str(self) -> &'static str {
        match self {
            RequestKind::Run => "run",
            RequestKind::Preview => "preview",
        }
    }
}

/// One queued request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRequest {
    pub id: i64,
    pub job: String,
    pub kind: String,
    pub requested_by: String,
    pub chat_id: i64,
    pub requested_at: String,
}

impl JobRequest {
    pub fn kind(&self) -> RequestKind {
        if self.kind == "preview" {
            RequestKind::Preview
        } else {
            RequestKind::Run
        }
    }
}

pub async fn add(
    conn: &mut SqliteConnection,
    job: &str,
    kind: RequestKind,
    by: &str,
    chat_id: i64,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO job_requests (job, kind, requested_by, chat_id, requested_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(job)
    .bind(kind.as_str())
    .bind(by)
    .bind(chat_id)
    .bind(time_key(at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether any request waits besides `in_flight` (previews being rendered), a read for the
/// scheduler's quick look.
pub async fn any_waiting(pool: &sqlx::SqlitePool, in_flight: &[i64]) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM job_requests
                        WHERE id NOT IN (SELECT value FROM json_each(?)))",
    )
    .bind(serde_json::to_string(in_flight).unwrap_or_else(|_| "[]".to_owned()))
    .fetch_one(pool)
    .await
}

/// Removes and returns every queued run request, oldest first.
pub async fn take_runs(conn: &mut SqliteConnection) -> Result<Vec<JobRequest>, sqlx::Error> {
    let mut taken: Vec<JobRequest> =
        sqlx::query_as("DELETE FROM job_requests WHERE kind = 'run' RETURNING *")
            .fetch_all(conn)
            .await?;
    taken.sort_by_key(|r| r.id);
    Ok(taken)
}

/// Every queued preview request, oldest first; they stay queued until [`settle`]d.
pub async fn previews(conn: &mut SqliteConnection) -> Result<Vec<JobRequest>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM job_requests WHERE kind = 'preview' ORDER BY id")
        .fetch_all(conn)
        .await
}

/// Removes request `id` in the transaction that answers it. False if it was already gone
/// (answered by someone else): then the caller answers nothing.
pub async fn settle(conn: &mut SqliteConnection, id: i64) -> Result<bool, sqlx::Error> {
    let removed = sqlx::query("DELETE FROM job_requests WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(removed == 1)
}
