//! What start-up last learned about each bot: verified username and id, privacy mode, and
//! the digest of the command list last published with `setMyCommands`.

use chrono::{DateTime, Utc};

use super::Store;
use crate::identity::{BotIdentity, VerifiedBot};

/// Records a successful `getMe` verification of `I`.
pub async fn record_verified<I: BotIdentity>(
    store: &Store,
    username: &str,
    verified: &VerifiedBot<I>,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bot_status (bot, username, bot_user_id, can_read_all_group_messages, verified_at)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (bot) DO UPDATE SET username = excluded.username,
             bot_user_id = excluded.bot_user_id,
             can_read_all_group_messages = excluded.can_read_all_group_messages,
             verified_at = excluded.verified_at",
    )
    .bind(I::NAME)
    .bind(username)
    .bind(verified.bot_user_id)
    .bind(verified.can_read_all_group_messages)
    .bind(at.to_rfc3339())
    .execute(store.pool())
    .await?;
    Ok(())
}

/// The digest of the commands last published for `bot`, if any.
pub async fn commands_digest(store: &Store, bot: &str) -> Option<String> {
    sqlx::query_scalar("SELECT commands_digest FROM bot_status WHERE bot = ?")
        .bind(bot)
        .fetch_optional(store.pool())
        .await
        .ok()
        .flatten()
        .flatten()
}

pub async fn set_commands_digest(
    store: &Store,
    bot: &str,
    digest: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE bot_status SET commands_digest = ? WHERE bot = ?")
        .bind(digest)
        .bind(bot)
        .execute(store.pool())
        .await?;
    Ok(())
}
