//! Who a command is for. In a group with several bots a bare `/help` reaches all of them in
//! privacy mode, so exactly one answers: the bot named by an `@suffix`, else the first
//! identity (in `bots/` declaration order) that enables the command in that thread, else the
//! thread's owner (the first identity allowed to post there), which says where to use it.

use std::collections::HashMap;

use crate::config::Config;
use crate::identity::IDENTITY_NAMES;

/// A parsed bot command with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Lower-case, without slash or suffix.
    pub name: String,
    /// Everything after the command word, trimmed.
    pub args: String,
    /// The `@botname` suffix, if any, without `@`.
    pub addressed_to: Option<String>,
    pub chat_id: i64,
    pub thread_id: Option<i32>,
    pub message_id: i64,
    pub user_id: i64,
    pub is_private: bool,
    /// The message this one replies to (a real reply, not the topic's root), if any.
    pub reply_to_message_id: Option<i64>,
    /// Who wrote the message replied to (with `reply_to_message_id`).
    pub reply_to_user_id: Option<i64>,
    /// When the member sent it (Telegram's date), not when herald handled it.
    pub sent_at: chrono::DateTime<chrono::Utc>,
}

/// Splits `/name@suffix args` into its parts. `None` for text that is no command.
pub fn parse_command(text: &str) -> Option<(String, Option<String>, String)> {
    let rest = text.strip_prefix('/')?;
    let (word, args) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    let (name, suffix) = match word.split_once('@') {
        Some((name, suffix)) => (name, Some(suffix.to_owned())),
        None => (word, None),
    };
    let valid = !name.is_empty()
        && name.len() <= 32
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then(|| (name.to_ascii_lowercase(), suffix, args.to_owned()))
}

/// For every thread, which bot answers a bare command there.
#[derive(Debug, Default)]
pub struct CommandRouting {
    answerer: HashMap<(Option<i32>, String), &'static str>,
    thread_owner: HashMap<Option<i32>, &'static str>,
}

impl CommandRouting {
    pub fn from_config(config: &Config) -> Self {
        let mut routing = Self::default();
        for &identity in IDENTITY_NAMES {
            let Some(bot) = config.bot(identity) else {
                continue;
            };
            let thread_id = |name: &str| config.roster.thread(name).map(|t| t.message_thread_id);
            for thread in bot.threads.iter().filter_map(|t| thread_id(t)) {
                routing.thread_owner.entry(thread).or_insert(identity);
            }
            for command in &bot.commands {
                let threads = if command.threads.is_empty() {
                    &bot.threads
                } else {
                    &command.threads
                };
                for thread in threads.iter().filter_map(|t| thread_id(t)) {
                    routing
                        .answerer
                        .entry((thread, command.name.clone()))
                        .or_insert(identity);
                }
            }
        }
        routing
    }

    /// The bot that answers a bare `/command` in `thread` (None = General topic).
    pub fn answerer(&self, thread: Option<i32>, command: &str) -> Option<&'static str> {
        self.answerer
            .get(&(thread, command.to_owned()))
            .or_else(|| self.thread_owner.get(&thread))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::parse_command;

    #[test]
    fn parses_commands_with_suffix_and_args() {
        assert_eq!(
            parse_command("/Volts@acme_bot 3 great work"),
            Some((
                "volts".into(),
                Some("acme_bot".into()),
                "3 great work".into()
            ))
        );
        assert_eq!(
            parse_command("/help"),
            Some(("help".into(), None, String::new()))
        );
        assert_eq!(parse_command("hello /help"), None);
        assert_eq!(parse_command("/"), None);
        assert_eq!(parse_command("/héllo"), None);
    }
}
