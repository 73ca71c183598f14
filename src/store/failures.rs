//! What went wrong lately, for the operator: failed or ambiguous sends and failed job runs,
//! newest first. `/status` shows the last few, the morning brief the last 24 hours; each
//! words them its own way.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{parse_time, time_key};

/// One failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A send that failed or whose outcome is unknown (`state`: `failed` or `ambiguous`).
    Send {
        at: DateTime<Utc>,
        id: i64,
        bot: String,
        state: String,
        error: String,
    },
    /// A job slot that failed.
    Run {
        at: DateTime<Utc>,
        job: String,
        slot: String,
        detail: String,
    },
}

impl Failure {
    /// When it was recorded.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Failure::Send { at, .. } | Failure::Run { at, .. } => *at,
        }
    }
}

/// The failures recorded since `since` (every one for `None`), newest first, at most `limit`
/// of each kind. The outbox keeps RFC 3339 times and the job slots `time_key`s: each is
/// compared as text with a cutoff in its own format.
pub async fn recent(
    conn: &mut SqliteConnection,
    since: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<Failure>, sqlx::Error> {
    let since = since.unwrap_or(DateTime::<Utc>::MIN_UTC);
    let sends: Vec<(String, i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT updated_at, id, bot, state, error FROM outbox
         WHERE state IN ('failed', 'ambiguous') AND updated_at >= ? ORDER BY id DESC LIMIT ?",
    )
    .bind(since.to_rfc3339())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let runs: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT IFNULL(finished_at, claimed_at), job, slot, detail FROM job_slots
         WHERE state = 'failed' AND IFNULL(finished_at, claimed_at) >= ?
         ORDER BY slot DESC LIMIT ?",
    )
    .bind(time_key(since))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let when = |text: &str| parse_time(text).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut failures: Vec<Failure> = sends
        .into_iter()
        .map(|(at, id, bot, state, error)| Failure::Send {
            at: when(&at),
            id,
            bot,
            state,
            error: error.unwrap_or_default(),
        })
        .chain(
            runs.into_iter()
                .map(|(at, job, slot, detail)| Failure::Run {
                    at: when(&at),
                    job,
                    slot,
                    detail: detail.unwrap_or_default(),
                }),
        )
        .collect();
    failures.sort_by_key(|f| std::cmp::Reverse(f.at()));
    Ok(failures)
}
