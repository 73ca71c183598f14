//! Inbound bookkeeping: which updates each bot has handled, and the `getUpdates` offset to
//! resume from. Both are written in the transaction that handles the update, so an update
//! seen twice (a replayed batch after a crash) is handled once.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

/// How a handled update ended (`processed_updates.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
pub enum Outcome {
    /// Its handler decided (answered, refused, ignored...).
    Handled,
    /// Its handler returned an error or panicked; its changes were rolled back.
    Failed,
    /// It did not parse.
    Unreadable,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Handled => "handled",
            Outcome::Failed => "failed",
            Outcome::Unreadable => "unreadable",
        }
    }
}

/// Marks `update_id` handled for `bot`. Returns false if it already was (a replay).
pub async fn mark_handled(
    conn: &mut SqliteConnection,
    bot: &str,
    update_id: i64,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    mark_handled_as(conn, bot, update_id, at, Outcome::Handled).await
}

/// Marks `update_id` handled for `bot` with `outcome`. Returns false if it already was.
pub async fn mark_handled_as(
    conn: &mut SqliteConnection,
    bot: &str,
    update_id: i64,
    at: DateTime<Utc>,
    outcome: Outcome,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO processed_updates (bot, update_id, handled_at, outcome) VALUES (?, ?, ?, ?)
         ON CONFLICT (bot, update_id) DO NOTHING",
    )
    .bind(bot)
    .bind(update_id)
    .bind(at.to_rfc3339())
    .bind(outcome)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Changes the outcome of an update marked handled (in the same transaction).
pub async fn set_outcome(
    conn: &mut SqliteConnection,
    bot: &str,
    update_id: i64,
    outcome: Outcome,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE processed_updates SET outcome = ? WHERE bot = ? AND update_id = ?")
        .bind(outcome)
        .bind(bot)
        .bind(update_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records that the next `getUpdates` for `bot` starts at `next_offset`: one past the update
/// just handled. It follows Telegram's ids wherever they go, down included: after a week
/// without updates Telegram numbers the next one at random, possibly below every id seen so
/// far, and an offset kept at its highest would then be "in the future" to the Bot API
/// server, which confirms nothing and answers every poll at once with the same updates.
/// Updates are handled in the order a poll returns them, so within a run of ids this only
/// moves forward.
pub async fn commit_offset(
    conn: &mut SqliteConnection,
    bot: &str,
    next_offset: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO poll_offsets (bot, next_offset) VALUES (?, ?)
         ON CONFLICT (bot) DO UPDATE SET next_offset = excluded.next_offset",
    )
    .bind(bot)
    .bind(next_offset)
    .execute(conn)
    .await?;
    Ok(())
}

/// The offset to pass to the next `getUpdates` for `bot` (0 when nothing was handled yet).
pub async fn next_offset(pool: &sqlx::SqlitePool, bot: &str) -> Result<i64, sqlx::Error> {
    let offset: Option<i64> =
        sqlx::query_scalar("SELECT next_offset FROM poll_offsets WHERE bot = ?")
            .bind(bot)
            .fetch_optional(pool)
            .await?;
    Ok(offset.unwrap_or(0))
}
