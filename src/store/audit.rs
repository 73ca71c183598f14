//! The append-only audit log: everything the operator would ask "what did it do?" about.
//! Entries are written inside the transaction of the change they record.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

/// One audit entry. `kind` groups entries (`inbound`, `outbox`, `boot`, `config`, ...);
/// `decision` says what herald did and why, in a few words.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    pub kind: &'static str,
    pub bot: Option<String>,
    pub job: Option<String>,
    pub user_id: Option<i64>,
    pub chat_id: Option<i64>,
    pub thread_id: Option<i32>,
    pub command: Option<String>,
    pub decision: String,
    pub detail: Option<String>,
}

impl AuditEntry {
    pub fn new(kind: &'static str, decision: impl Into<String>) -> Self {
        Self {
            kind,
            decision: decision.into(),
            ..Self::default()
        }
    }

    pub fn bot(mut self, bot: &str) -> Self {
        self.bot = Some(bot.to_owned());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// Appends `entry` and returns its sequence number.
pub async fn record(
    conn: &mut SqliteConnection,
    at: DateTime<Utc>,
    entry: &AuditEntry,
) -> Result<i64, sqlx::Error> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO audit (at, kind, bot, job, user_id, chat_id, thread_id, command, decision, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
    )
    .bind(at.to_rfc3339())
    .bind(entry.kind)
    .bind(&entry.bot)
    .bind(&entry.job)
    .bind(entry.user_id)
    .bind(entry.chat_id)
    .bind(entry.thread_id)
    .bind(&entry.command)
    .bind(&entry.decision)
    .bind(&entry.detail)
    .fetch_one(conn)
    .await?;
    Ok(seq)
}

/// A stored audit entry, as read back.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: String,
    pub kind: String,
    pub bot: Option<String>,
    pub job: Option<String>,
    pub user_id: Option<i64>,
    pub chat_id: Option<i64>,
    pub thread_id: Option<i64>,
    pub command: Option<String>,
    pub decision: String,
    pub detail: Option<String>,
}

/// The newest `limit` entries, oldest first.
pub async fn recent(pool: &sqlx::SqlitePool, limit: i64) -> Result<Vec<AuditRow>, sqlx::Error> {
    let mut rows: Vec<AuditRow> = sqlx::query_as("SELECT * FROM audit ORDER BY seq DESC LIMIT ?")
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.reverse();
    Ok(rows)
}
