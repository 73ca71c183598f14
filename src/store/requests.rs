//! Operator requests to run or preview a job, queued in the command's transaction and taken
//! by the scheduler (see the migration for why this goes through a table).

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

/// Whether any request waits (a read, for the scheduler's quick look).
pub async fn any(pool: &sqlx::SqlitePool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM job_requests)")
        .fetch_one(pool)
        .await
}

/// Removes and returns every queued request, oldest first.
pub async fn take_all(conn: &mut SqliteConnection) -> Result<Vec<JobRequest>, sqlx::Error> {
    let mut taken: Vec<JobRequest> = sqlx::query_as("DELETE FROM job_requests RETURNING *")
        .fetch_all(conn)
        .await?;
    taken.sort_by_key(|r| r.id);
    Ok(taken)
}
