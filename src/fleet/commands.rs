//! `setMyCommands` only when a bot's command list changed since it was last published:
//! calling it at every start can earn a long 429 lockout.

use serde_json::json;

use crate::config::model::BotFile;
use crate::identity::{BotIdentity, VerifiedBot};
use crate::store::Store;
use crate::telegram::TelegramClient;

/// A stable digest of the command list (name and description, in order).
pub fn digest(bot: &BotFile) -> String {
    let listed: Vec<(&str, &str)> = bot
        .commands
        .iter()
        .map(|c| (c.name.as_str(), c.description.as_str()))
        .collect();
    serde_json::to_string(&listed).unwrap_or_default()
}

/// Publishes `bot`'s commands if they differ from what was last published. Failures are
/// logged and retried at the next start; they never stop the bot.
pub async fn publish_if_changed<I: BotIdentity>(
    store: &Store,
    client: &TelegramClient,
    verified: &VerifiedBot<I>,
    bot: &BotFile,
) {
    let wanted = digest(bot);
    let published = crate::store::bots::commands_digest(store, I::NAME).await;
    if published.as_deref() == Some(wanted.as_str()) {
        return;
    }
    let commands: Vec<_> = bot
        .commands
        .iter()
        .map(|c| json!({"command": c.name, "description": c.description}))
        .collect();
    let body = json!({ "commands": commands });
    match client
        .call(
            verified.token(),
            "setMyCommands",
            &body,
            std::time::Duration::from_secs(10),
        )
        .await
    {
        Ok(_) => {
            if let Err(e) = crate::store::bots::set_commands_digest(store, I::NAME, &wanted).await {
                tracing::error!(bot = I::NAME, error = %e, "could not record published commands");
            }
        }
        Err(e) => {
            tracing::warn!(bot = I::NAME, error = %e, "setMyCommands failed; will retry at next start")
        }
    }
}
