//! `setMyCommands` only when a bot's command list changed since it was last published:
//! calling it at every start can earn a long 429 lockout.

use serde_json::json;

use crate::config::model::BotFile;
use crate::identity::{BotIdentity, VerifiedBot};
use crate::store::Store;
use crate::telegram::TelegramClient;

/// The commands a bot shows in Telegram's menu: its configured ones and, for the console
/// identity, the console commands (in the menu of private chats with it).
pub fn menu(bot: &BotFile, is_console: bool) -> Vec<(String, String)> {
    let mut listed: Vec<(String, String)> = bot
        .commands
        .iter()
        .map(|c| (c.name.clone(), c.description.clone()))
        .collect();
    if is_console {
        for (name, description) in crate::inbound::console::menu() {
            if !listed.iter().any(|(n, _)| n == name) {
                listed.push((name.to_owned(), description.to_owned()));
            }
        }
    }
    listed
}

/// A stable digest of a command menu (name and description, in order).
pub fn digest(menu: &[(String, String)]) -> String {
    serde_json::to_string(menu).unwrap_or_default()
}

/// Publishes `bot`'s commands if they differ from what was last published. Failures are
/// logged and retried at the next start; they never stop the bot.
pub async fn publish_if_changed<I: BotIdentity>(
    store: &Store,
    client: &TelegramClient,
    verified: &VerifiedBot<I>,
    bot: &BotFile,
    is_console: bool,
) {
    let menu = menu(bot, is_console);
    let wanted = digest(&menu);
    let published = crate::store::bots::commands_digest(store, I::NAME).await;
    if published.as_deref() == Some(wanted.as_str()) {
        return;
    }
    let commands: Vec<_> = menu
        .iter()
        .map(|(name, description)| json!({"command": name, "description": description}))
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
