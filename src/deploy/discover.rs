//! `herald discover`: the ids a roster needs (the team chat, its forum topics, its people),
//! read from what the bots receive, so that nobody copies them by hand. It only reads:
//! no handler runs, nothing is written to the database, and no update is confirmed, so a
//! later `herald run` still receives and answers every one of them.
//!
//! Telegram confirms every update below the `offset` of a `getUpdates` call, and has no way
//! to wait for newer updates without confirming the older ones. So discover never sends an
//! offset: while nothing is waiting it long-polls (an event, no interval); once updates are
//! waiting, every call returns them at once, and it re-reads every [`REREAD`] until the time
//! is up. A call returns at most 100 updates; past that many waiting, the newest are not
//! seen (the report says so).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::config::model::RosterFile;
use crate::config::secrets::Token;
use crate::telegram::{CallError, TelegramClient};

/// How often waiting updates are read again.
pub const REREAD: Duration = Duration::from_secs(2);

/// A chat seen in an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSeen {
    pub kind: String,
    pub title: String,
    pub is_forum: bool,
}

/// A user seen in an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSeen {
    pub name: String,
    pub handle: Option<String>,
}

/// Everything seen, keyed by id, merged over every bot.
#[derive(Debug, Clone, Default)]
pub struct Sightings {
    pub chats: BTreeMap<i64, ChatSeen>,
    /// `(chat id, message_thread_id)` to the topic's title, when an update carried it.
    pub topics: BTreeMap<(i64, i32), Option<String>>,
    pub users: BTreeMap<i64, UserSeen>,
    pub updates: usize,
}

impl Sightings {
    /// Takes in one raw update.
    pub fn observe(&mut self, update: &Value) {
        self.updates += 1;
        for key in ["message", "edited_message"] {
            if let Some(message) = update.get(key) {
                self.message(message);
            }
        }
        if let Some(query) = update.get("callback_query") {
            self.user(query.get("from"));
            if let Some(message) = query.get("message") {
                self.message(message);
            }
        }
    }

    fn message(&mut self, message: &Value) {
        self.user(message.get("from"));
        let Some(chat) = message.get("chat") else {
            return;
        };
        let Some(chat_id) = chat.get("id").and_then(Value::as_i64) else {
            return;
        };
        let kind = chat.get("type").and_then(Value::as_str).unwrap_or("?");
        let title = match chat.get("title").and_then(Value::as_str) {
            Some(title) => title.to_owned(),
            None => person_name(chat),
        };
        let is_forum = chat.get("is_forum").and_then(Value::as_bool) == Some(true);
        self.chats.insert(
            chat_id,
            ChatSeen {
                kind: kind.to_owned(),
                title,
                is_forum,
            },
        );
        let thread = message
            .get("message_thread_id")
            .and_then(Value::as_i64)
            .and_then(|id| i32::try_from(id).ok());
        let in_topic = message.get("is_topic_message").and_then(Value::as_bool) == Some(true);
        if let (Some(thread), true) = (thread, in_topic || is_forum) {
            let named = |m: &Value| {
                ["forum_topic_created", "forum_topic_edited"]
                    .iter()
                    .find_map(|k| m.get(k)?.get("name")?.as_str().map(str::to_owned))
            };
            let title = named(message).or_else(|| message.get("reply_to_message").and_then(named));
            let known = self.topics.entry((chat_id, thread)).or_default();
            if title.is_some() {
                *known = title;
            }
        }
        if let Some(reply) = message.get("reply_to_message") {
            self.user(reply.get("from"));
        }
    }

    fn user(&mut self, user: Option<&Value>) {
        let Some(user) = user else { return };
        let Some(id) = user.get("id").and_then(Value::as_i64) else {
            return;
        };
        if user.get("is_bot").and_then(Value::as_bool) == Some(true) {
            return;
        }
        let handle = user
            .get("username")
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.users.insert(
            id,
            UserSeen {
                name: person_name(user),
                handle,
            },
        );
    }
}

fn person_name(value: &Value) -> String {
    let part = |key| value.get(key).and_then(Value::as_str).unwrap_or("");
    [part("first_name"), part("last_name")]
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// What one bot's token said and saw.
#[derive(Debug, Clone)]
pub struct BotReport {
    pub identity: &'static str,
    /// The username in `bots/<identity>.toml` (may be blank).
    pub configured: String,
    /// getMe's answer, or why the bot could not listen.
    pub outcome: Result<String, String>,
    /// More updates were waiting than one call returns.
    pub truncated: bool,
}

/// Verifies `token` with getMe and listens until `deadline`, never confirming an update.
pub async fn listen(
    client: &TelegramClient,
    token: &Token,
    deadline: tokio::time::Instant,
    sightings: &std::sync::Mutex<Sightings>,
) -> (Result<String, String>, bool) {
    let me = match client.get_me(token, Duration::from_secs(5)).await {
        Ok(me) => me,
        Err(e) => return (Err(format!("getMe failed: {}", reason(&e))), false),
    };
    let username = me.username.unwrap_or_default();
    let mut seen_ids = std::collections::BTreeSet::new();
    let mut truncated = false;
    loop {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        if remaining.is_zero() {
            break;
        }
        let call = client.get_updates(token, None, remaining.as_secs().clamp(1, 50));
        let updates = match tokio::time::timeout_at(deadline, call).await {
            Err(_elapsed) => break,
            Ok(Ok(updates)) => updates,
            Ok(Err(e)) => {
                return (Err(format!("getUpdates failed: {}", reason(&e))), truncated);
            }
        };
        truncated |= updates.len() >= crate::telegram::UPDATES_PER_CALL;
        if let Ok(mut sightings) = sightings.lock() {
            for update in &updates {
                let id = update.get("update_id").and_then(Value::as_i64);
                if seen_ids.insert(id) {
                    sightings.observe(update);
                }
            }
        }
        if !updates.is_empty() {
            // Waiting updates come back at once on every call: read them again later.
            tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + REREAD)).await;
        }
    }
    (Ok(username), truncated)
}

fn reason(e: &CallError) -> String {
    match e {
        e if e.is_conflict() => format!(
            "{e} (another program is reading this bot's updates, or a webhook is set; stop it \
             and try again)"
        ),
        e => e.to_string(),
    }
}

/// Why discover could not listen at all.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("{0}")]
    Config(String),
    #[error("no bot token resolves, so no bot can listen:\n{0}")]
    NoTokens(String),
    #[error("{0}")]
    Client(#[from] crate::telegram::ClientBuildError),
}

/// What a discovery found: the report to print, and whether every bot listened.
#[derive(Debug)]
pub struct Discovery {
    pub report: String,
    pub all_listened: bool,
}

/// Listens with every bot whose token resolves in the deployment in `dir` for `seconds`, and
/// reports. Needs only the tokens: the rest of the configuration may still be blank (right
/// after `herald init`); a bot whose token does not resolve is reported, not fatal.
pub async fn discover(
    dir: &std::path::Path,
    secrets_override: Option<&std::path::Path>,
    api_url: &str,
    seconds: u64,
) -> Result<Discovery, DiscoverError> {
    let parts =
        crate::config::load::load_parts(dir).map_err(|e| DiscoverError::Config(e.to_string()))?;
    let deployment = parts.deployment.clone().ok_or_else(|| {
        DiscoverError::Config(format!(
            "{}: bots/herald.toml does not load; `herald check` says why",
            dir.display()
        ))
    })?;
    let store = crate::config::SecretStore::new(&deployment, dir, secrets_override);
    let (tokens, problems) = crate::config::secret_checks::resolve_parts(&parts.bots, &store);
    if tokens.is_empty() {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(DiscoverError::NoTokens(lines.join("\n")));
    }
    let roster: Option<RosterFile> = std::fs::read_to_string(dir.join("bots/roster.toml"))
        .ok()
        .and_then(|text| toml::from_str(&text).ok());
    let client = TelegramClient::new(api_url)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let sightings = std::sync::Mutex::new(Sightings::default());
    let listening = crate::identity::IDENTITY_NAMES.iter().map(|&identity| {
        let (client, sightings, token) = (&client, &sightings, tokens.get(identity));
        let configured = parts
            .bots
            .get(identity)
            .map(|b| b.username.clone())
            .unwrap_or_default();
        async move {
            let (outcome, truncated) = match token {
                Some(token) => listen(client, token, deadline, sightings).await,
                None => (
                    Err("its token does not resolve (`herald check` says why)".to_owned()),
                    false,
                ),
            };
            BotReport {
                identity,
                configured,
                outcome,
                truncated,
            }
        }
    });
    let bots = futures::future::join_all(listening).await;
    let seen = sightings
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Ok(Discovery {
        report: render(&bots, &seen, roster.as_ref(), seconds),
        all_listened: bots.iter().all(|b| b.outcome.is_ok()),
    })
}

/// The report: ready-to-paste `roster.toml` snippets, each id compared with `roster` (the
/// folder's current one, when it parses).
pub fn render(
    bots: &[BotReport],
    seen: &Sightings,
    roster: Option<&RosterFile>,
    seconds: u64,
) -> String {
    let mut out = String::new();
    let listening = bots.iter().filter(|b| b.outcome.is_ok()).count();
    out.push_str(&format!(
        "# herald discover: {listening} of {} bots listened for {seconds} s and saw {} updates \
         (none confirmed: `herald run` still gets them).\n",
        bots.len(),
        seen.updates
    ));
    out.push_str("\n# Bots: `username` in bots/<identity>.toml\n");
    for bot in bots {
        let line = match &bot.outcome {
            Ok(username) if *username == bot.configured => {
                format!("# {}: username = {username:?}", bot.identity)
            }
            Ok(username) => format!(
                "# {}: username = {username:?}   <- differs: bots/{}.toml says {:?}",
                bot.identity, bot.identity, bot.configured
            ),
            Err(problem) => format!("# {}: NOT LISTENING: {problem}", bot.identity),
        };
        out.push_str(&line);
        if bot.truncated {
            out.push_str("   (over 100 updates waiting: the newest were not seen)");
        }
        out.push('\n');
    }

    out.push_str("\n# Chats seen\n");
    if seen.chats.is_empty() {
        out.push_str("# none: post in the team chat, or DM a bot, while discover listens\n");
    }
    for (id, chat) in &seen.chats {
        let forum = if chat.is_forum { ", forum" } else { "" };
        out.push_str(&format!("# {id}  {}{forum}  {:?}\n", chat.kind, chat.title));
    }
    let team_chat = roster.map(|r| r.team.chat_id);
    for (id, chat) in seen.chats.iter().filter(|(_, c)| c.is_forum) {
        let flag = match team_chat {
            Some(current) if current == *id => String::new(),
            Some(current) => format!("   # differs: roster has {current}"),
            None => String::new(),
        };
        out.push_str(&format!(
            "[team]\nchat_id = {id}{flag}   # {:?}\n",
            chat.title
        ));
    }

    let threads = roster.map_or(&[][..], |r| &r.threads[..]);
    for ((chat, thread), title) in &seen.topics {
        if !seen.chats.get(chat).is_some_and(|c| c.is_forum) {
            continue;
        }
        let by_id = threads
            .iter()
            .find(|t| t.message_thread_id == Some(*thread));
        let by_title = title.as_deref().and_then(|title| {
            threads.iter().find(|t| {
                t.title
                    .as_deref()
                    .is_some_and(|known| known.eq_ignore_ascii_case(title))
            })
        });
        let (name, flag) = match (by_id, by_title) {
            (Some(known), _) => (known.name.clone(), String::new()),
            (None, Some(known)) => (
                known.name.clone(),
                format!(
                    "   # differs: roster has {}",
                    known
                        .message_thread_id
                        .map_or("no id".to_owned(), |id| id.to_string())
                ),
            ),
            (None, None) => (
                slug(title.as_deref().unwrap_or("topic"), *thread),
                "   # new: not in the roster".to_owned(),
            ),
        };
        out.push_str(&format!(
            "\n[[threads]]   # in chat {chat}\nname = {name:?}\n"
        ));
        if let Some(title) = title {
            out.push_str(&format!("title = {title:?}\n"));
        }
        out.push_str(&format!("message_thread_id = {thread}{flag}\n"));
    }

    out.push_str("\n# People seen (roles are yours to choose)\n");
    if seen.users.is_empty() {
        out.push_str("# none: have every member DM a bot, or post, while discover listens\n");
    }
    let members = roster.map_or(&[][..], |r| &r.members[..]);
    for (id, user) in &seen.users {
        let by_id = members.iter().find(|m| m.telegram_id == *id);
        let by_handle_or_name = members.iter().find(|m| {
            let handle = match (&m.handle, &user.handle) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            };
            handle || m.name.eq_ignore_ascii_case(&user.name)
        });
        let (name, flag) = match (by_id, by_handle_or_name) {
            (Some(known), _) => (known.name.clone(), String::new()),
            (None, Some(known)) => (
                known.name.clone(),
                format!("   # differs: roster has {}", known.telegram_id),
            ),
            (None, None) => (user.name.clone(), "   # new: not in the roster".to_owned()),
        };
        out.push_str(&format!(
            "\n[[members]]\nname = {name:?}\ntelegram_id = {id}{flag}\n"
        ));
        if let Some(handle) = &user.handle {
            out.push_str(&format!("handle = {handle:?}\n"));
        }
    }
    out
}

/// A thread name for a new topic: its title in lower case, runs of other characters as `-`.
fn slug(title: &str, thread: i32) -> String {
    let mut name = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-').to_owned();
    if name.is_empty() {
        format!("topic-{thread}")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Value {
        serde_json::from_str(include_str!(
            "../../tests/fixtures/telegram/telegram_update_message_in_topic.json"
        ))
        .unwrap()
    }

    #[test]
    fn a_topic_message_shows_the_chat_the_topic_with_its_title_and_the_person() {
        let mut seen = Sightings::default();
        seen.observe(&fixture());
        assert_eq!(
            seen.chats[&-1002233445566],
            ChatSeen {
                kind: "supergroup".into(),
                title: "Acme Ops".into(),
                is_forum: true
            }
        );
        assert_eq!(
            seen.topics[&(-1002233445566, 27)].as_deref(),
            Some("Invoice approvals")
        );
        assert_eq!(
            seen.users[&987654321],
            UserSeen {
                name: "Ravi Kumar".into(),
                handle: Some("ravik".into())
            }
        );
    }

    #[test]
    fn the_report_flags_ids_that_differ_from_the_roster() {
        let mut seen = Sightings::default();
        seen.observe(&fixture());
        let roster: RosterFile = toml::from_str(
            r#"
            [team]
            name = "Acme"
            chat_id = -1002233445566
            timezone = "Asia/Singapore"
            [[threads]]
            name = "approvals"
            title = "Invoice approvals"
            message_thread_id = 99
            [[members]]
            name = "Ravi Kumar"
            telegram_id = 1
            handle = "RaviK"
            "#,
        )
        .unwrap();
        let bots = [BotReport {
            identity: "claudia",
            configured: String::new(),
            outcome: Ok("acme_ops_bot".into()),
            truncated: false,
        }];
        let report = render(&bots, &seen, Some(&roster), 5);
        assert!(
            report.contains("# claudia: username = \"acme_ops_bot\"   <- differs"),
            "{report}"
        );
        assert!(
            report.contains("chat_id = -1002233445566   # \"Acme Ops\""),
            "{report}"
        );
        assert!(
            report.contains("name = \"approvals\"\ntitle = \"Invoice approvals\"\nmessage_thread_id = 27   # differs: roster has 99"),
            "{report}"
        );
        assert!(
            report.contains("telegram_id = 987654321   # differs: roster has 1"),
            "{report}"
        );
        let fresh = render(&bots, &seen, None, 5);
        assert!(fresh.contains("name = \"invoice-approvals\""), "{fresh}");
        assert!(fresh.contains("# new: not in the roster"), "{fresh}");
    }

    #[test]
    fn slugs_are_roster_thread_names() {
        assert_eq!(slug("Daily updates!", 3), "daily-updates");
        assert_eq!(slug("  ", 3), "topic-3");
        assert_eq!(slug("Volts ⚡ board", 3), "volts-board");
    }
}
