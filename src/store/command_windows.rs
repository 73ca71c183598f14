//! The per-user command rate limit: each (bot, user) has a fixed one-minute window, opened by
//! the first command after the previous one ended. Counted in the update's transaction.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::parse_time;

/// Where a command falls in its sender's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowCount {
    /// Within the limit.
    Allowed,
    /// The first command over the limit in this window: tell the user once.
    FirstExcess,
    /// Over the limit again: ignore it.
    Excess,
}

/// Counts one command by `user_id` to `bot` at `at`, against `limit` per minute.
pub async fn count(
    conn: &mut SqliteConnection,
    bot: &str,
    user_id: i64,
    at: DateTime<Utc>,
    limit: u32,
) -> Result<WindowCount, sqlx::Error> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT window_start, commands FROM command_windows WHERE bot = ? AND user_id = ?",
    )
    .bind(bot)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    let current = row.and_then(|(start, n)| {
        let start = parse_time(&start)?;
        (at < start + chrono::Duration::minutes(1)).then_some((start, n))
    });
    let (start, commands) = match current {
        Some((start, n)) => (start, n + 1),
        None => (at, 1),
    };
    sqlx::query(
        "INSERT INTO command_windows (bot, user_id, window_start, commands) VALUES (?, ?, ?, ?)
         ON CONFLICT (bot, user_id) DO UPDATE SET window_start = excluded.window_start,
             commands = excluded.commands",
    )
    .bind(bot)
    .bind(user_id)
    .bind(start.to_rfc3339())
    .bind(commands)
    .execute(conn)
    .await?;
    let limit = i64::from(limit);
    Ok(if commands <= limit {
        WindowCount::Allowed
    } else if commands == limit + 1 {
        WindowCount::FirstExcess
    } else {
        WindowCount::Excess
    })
}
