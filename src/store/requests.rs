//! Operator requests to run or preview a job, queued in the command's transaction and taken
//! by the scheduler (see the migration for why this goes through a table). A run request is
//! taken in the transaction that claims its slot; a preview request stays until the
//! transaction that enqueues the preview ([`settle`]), so a crash while rendering loses
//! nothing: the next start renders it again.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::time_key;

/// What the operator asked for (`job_requests.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
pub enum RequestKind {
    Run,
    Preview,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Run => "run",
            RequestKind::Preview => "preview",
        }
    }
}

impl std::fmt::Display for RequestKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One queued request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRequest {
    pub id: i64,
    pub job: String,
    pub kind: RequestKind,
    pub requested_by: String,
    pub chat_id: i64,
    pub requested_at: String,
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
    .bind(kind)
    .bind(by)
    .bind(chat_id)
    .bind(time_key(at))
    .execute(&mut *conn)
    .await?;
    super::signals::mark(conn, super::signals::Wake::Scheduler);
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
        sqlx::query_as("DELETE FROM job_requests WHERE kind = ? RETURNING *")
            .bind(RequestKind::Run)
            .fetch_all(conn)
            .await?;
    taken.sort_by_key(|r| r.id);
    Ok(taken)
}

/// Every queued preview request, oldest first; they stay queued until [`settle`]d.
pub async fn previews(conn: &mut SqliteConnection) -> Result<Vec<JobRequest>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM job_requests WHERE kind = ? ORDER BY id")
        .bind(RequestKind::Preview)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// Run and preview requests are stored as `run` and `preview` and read back typed: runs
    /// are taken, previews stay until settled.
    #[tokio::test]
    async fn kinds_are_stored_by_name_and_read_back_typed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let at = crate::store::parse_time("2026-11-23T03:00:00Z").unwrap();
        let mut conn = store.pool().acquire().await.unwrap();
        add(&mut conn, "a", RequestKind::Run, "Wei Ming", 1, at)
            .await
            .unwrap();
        add(&mut conn, "b", RequestKind::Preview, "Wei Ming", 1, at)
            .await
            .unwrap();
        let raw: Vec<String> = sqlx::query_scalar("SELECT kind FROM job_requests ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        assert_eq!(raw, vec!["run", "preview"]);
        let previews = previews(&mut conn).await.unwrap();
        assert_eq!(previews.len(), 1);
        assert_eq!(
            (previews[0].job.as_str(), previews[0].kind),
            ("b", RequestKind::Preview)
        );
        let runs = take_runs(&mut conn).await.unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(
            (runs[0].job.as_str(), runs[0].kind),
            ("a", RequestKind::Run)
        );
        assert_eq!(RequestKind::Preview.to_string(), "preview");
        assert!(any_waiting(store.pool(), &[]).await.unwrap());
        assert!(!any_waiting(store.pool(), &[previews[0].id]).await.unwrap());
    }
}
