//! The capability snapshots `herald audit` stores: one row per run, the checks as JSON, so
//! that `herald audit --diff` can compare a run with the one before it.

use chrono::{DateTime, Utc};

/// A stored snapshot: when, and its checks as JSON.
#[derive(Debug, Clone)]
pub struct StoredSnapshot {
    pub at: DateTime<Utc>,
    pub checks: String,
}

/// The newest snapshot, if any: of `source` (`audit` or `probe`), or of either.
pub async fn latest(
    conn: &mut sqlx::SqliteConnection,
    source: Option<&str>,
) -> Result<Option<StoredSnapshot>, sqlx::Error> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT at, checks FROM capability_snapshots WHERE ?1 IS NULL OR source = ?1
         ORDER BY id DESC LIMIT 1",
    )
    .bind(source)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(at, checks)| StoredSnapshot {
        at: super::parse_time(&at).unwrap_or(DateTime::<Utc>::MIN_UTC),
        checks,
    }))
}

/// Stores a snapshot taken by `source` (`audit` or `probe`).
pub async fn insert(
    conn: &mut sqlx::SqliteConnection,
    at: DateTime<Utc>,
    source: &str,
    checks: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO capability_snapshots (at, source, checks) VALUES (?, ?, ?)")
        .bind(at.to_rfc3339())
        .bind(source)
        .bind(checks)
        .execute(conn)
        .await?;
    Ok(())
}
