//! The Telegram probes. Per bot: its token (`getMe`, and the username it answers to), its
//! privacy mode when it must read the group, its place in the team chat (`getChatMember` of
//! itself: a member that may post), and every thread it posts in (`sendChatAction` typing
//! with the thread's id, which Telegram refuses with "message thread not found" for a deleted
//! topic). Per operator: whether the console bot can reach their private chat
//! (`sendChatAction` there; 403 means they never started the bot, or blocked it). Nothing is
//! posted; a member of the chat sees the bot "typing" for a moment.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::Check;
use crate::config::{Config, Token};
use crate::roster::Role;
use crate::telegram::{BotUser, CallError, TelegramClient};

/// What the probes need.
pub struct TelegramProbe<'a> {
    pub config: &'a Config,
    pub tokens: &'a BTreeMap<&'static str, Token>,
    pub client: &'a TelegramClient,
    /// Every call must be answered by then.
    pub deadline: Instant,
    /// The identities that must read every group message (privacy mode off).
    pub reads_group: &'a [&'static str],
    /// Besides the console, the identities whose jobs DM the operators (Happy's probe and
    /// brief): each must be able to reach every operator's private chat.
    pub dm_operators: &'a [&'static str],
}

/// One call under the deadline; a hang is an error that says so.
async fn call<T: serde::de::DeserializeOwned>(
    probe: &TelegramProbe<'_>,
    token: &Token,
    method: &str,
    body: Value,
) -> Result<T, String> {
    // The deadline below ends the call; the transport's own timeout only backs it up.
    let timeout = probe.deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
    let request = probe.client.call_as::<T>(token, method, &body, timeout);
    match tokio::time::timeout_at(probe.deadline, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(CallError::Rejected { description, .. })) => Err(description),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer to {method} in time")),
    }
}

/// The bot's own user id: the number before the colon of its token.
fn bot_user_id(token: &Token) -> Option<i64> {
    token.expose().split(':').next()?.parse().ok()
}

impl TelegramProbe<'_> {
    /// Every Telegram check, bots in identity order, then the operators.
    pub async fn run(&self) -> Vec<Check> {
        let bots = crate::identity::IDENTITY_NAMES
            .iter()
            .map(|&name| self.bot(name));
        let (bots, operators) = tokio::join!(join_all(bots), self.operators());
        bots.into_iter().flatten().chain(operators).collect()
    }

    async fn bot(&self, name: &'static str) -> Vec<Check> {
        let (Some(file), Some(token)) = (self.config.bots.get(name), self.tokens.get(name)) else {
            return Vec::new();
        };
        let chat = self.config.roster.chat_id();
        let me = call::<BotUser>(self, token, "getMe", json!({}));
        let member = async {
            if file.threads.is_empty() {
                return None;
            }
            let id = bot_user_id(token)?;
            let body = json!({"chat_id": chat, "user_id": id});
            Some(call::<Value>(self, token, "getChatMember", body).await)
        };
        let threads = join_all(file.threads.iter().map(|thread| async move {
            let id = self
                .config
                .roster
                .thread(thread)
                .and_then(|t| t.message_thread_id);
            let mut body = json!({"chat_id": chat, "action": "typing"});
            if let Some(id) = id {
                body["message_thread_id"] = json!(id);
            }
            (
                thread,
                call::<Value>(self, token, "sendChatAction", body).await,
            )
        }));
        let (me, member, threads) = tokio::join!(me, member, threads);

        let mut checks = Vec::new();
        let username = &file.username;
        let key = |what: &str| format!("{name}: {what}");
        match &me {
            Ok(me) => {
                let answered = me.username.as_deref().unwrap_or("");
                if answered.eq_ignore_ascii_case(username) {
                    checks.push(Check::ok(key("token"), format!("valid, @{answered}")));
                } else {
                    checks.push(Check::broken(
                        key("token"),
                        format!("belongs to @{answered}, not @{username}"),
                        format!("put @{username}'s token at bots/{name}.toml's reference, or correct its username"),
                    ));
                }
                if self.reads_group.contains(&name) {
                    checks.push(if me.can_read_all_group_messages {
                        Check::ok(key("privacy mode"), "off: reads every group message")
                    } else {
                        Check::degraded(
                            key("privacy mode"),
                            "on: sees only commands and replies in the group",
                            format!("@BotFather, /setprivacy, @{username}, Disable; then remove @{username} from the team chat and add it again"),
                        )
                    });
                }
            }
            Err(cause) => checks.push(Check::broken(
                key("token"),
                format!("getMe failed: {cause}"),
                format!("a new token for @{username} from @BotFather, in the secrets file"),
            )),
        }
        if let Some(member) = member {
            checks.push(membership(&key("member of team chat"), username, member));
        }
        for (thread, answer) in threads {
            let capability = key(&format!("thread {thread}"));
            checks.push(match answer {
                Ok(_) => Check::ok(capability, "can post"),
                Err(cause) if cause.contains("message thread not found") => Check::broken(
                    capability,
                    format!("the topic is gone ({cause})"),
                    format!("recreate the topic and set its message_thread_id in bots/roster.toml (`herald discover` shows it), or drop {thread} from bots/{name}.toml"),
                ),
                Err(cause) => {
                    let fix = if refused_in_chat(&cause) {
                        format!("add @{username} to the team chat with the right to post")
                    } else {
                        TRY_AGAIN.to_owned()
                    };
                    Check::broken(capability, cause, fix)
                }
            });
        }
        checks
    }

    /// Every operator's private chat with every identity that DMs them: the console, then
    /// [`TelegramProbe::dm_operators`].
    async fn operators(&self) -> Vec<Check> {
        let mut senders = vec![self.config.console()];
        for &bot in self.dm_operators {
            if !senders.contains(&bot) {
                senders.push(bot);
            }
        }
        let probes = senders.into_iter().flat_map(|bot| {
            let token = self.tokens.get(bot);
            self.config
                .roster
                .members_with_role(Role::Operator)
                .filter_map(move |member| Some((bot, member, token?)))
                .map(|(bot, member, token)| async move {
                    let body = json!({"chat_id": member.telegram_id, "action": "typing"});
                    (
                        bot,
                        member,
                        call::<Value>(self, token, "sendChatAction", body).await,
                    )
                })
        });
        join_all(probes)
            .await
            .into_iter()
            .map(|(bot, member, answer)| {
                let username = self
                    .config
                    .bots
                    .get(bot)
                    .map_or("", |b| b.username.as_str());
                let capability = format!("operator {}: reachable by {bot}", member.name);
                match answer {
                    Ok(_) => Check::ok(capability, format!("@{username} can DM them")),
                    Err(cause) if cause.starts_with("Forbidden") => Check::broken(
                        capability,
                        cause,
                        format!(
                            "{} opens @{username} in Telegram and presses Start (or unblocks it)",
                            member.name
                        ),
                    ),
                    Err(cause) => Check::broken(capability, cause, TRY_AGAIN),
                }
            })
            .collect()
    }
}

/// The fix for a probe that failed on the way rather than in the chat.
const TRY_AGAIN: &str = "run `herald audit` again; if it persists, check this machine's network \
                         to Telegram";

/// Telegram refused the bot for its place in the chat (403 Forbidden, missing rights).
fn refused_in_chat(cause: &str) -> bool {
    cause.starts_with("Forbidden") || cause.contains("not enough rights")
}

/// A `getChatMember` answer about the bot itself.
fn membership(capability: &str, username: &str, answer: Result<Value, String>) -> Check {
    let fix = format!("add @{username} to the team chat as a member who may post");
    let member = match answer {
        Ok(member) => member,
        Err(cause) if refused_in_chat(&cause) => return Check::broken(capability, cause, fix),
        Err(cause) => return Check::broken(capability, cause, TRY_AGAIN),
    };
    let status = member.get("status").and_then(Value::as_str).unwrap_or("");
    match status {
        "creator" | "administrator" | "member" => Check::ok(capability, status),
        "restricted" => {
            let may_post = member.get("can_send_messages").and_then(Value::as_bool);
            let in_chat = member.get("is_member").and_then(Value::as_bool) != Some(false);
            if may_post == Some(true) && in_chat {
                Check::ok(capability, "restricted, may post")
            } else if !in_chat {
                Check::broken(capability, "not in the chat (restricted)", fix)
            } else {
                Check::broken(capability, "restricted: may not send messages", fix)
            }
        }
        "kicked" => Check::broken(capability, "kicked", fix),
        "left" => Check::broken(capability, "not in the chat", fix),
        other => Check::broken(capability, format!("unexpected status {other:?}"), fix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_reads_telegrams_statuses() {
        use super::super::Verdict::{Broken, Ok as Fine};
        let check = |answer: Result<Value, String>| membership("k", "bot", answer).verdict;
        assert_eq!(check(Result::Ok(json!({"status": "member"}))), Fine);
        assert_eq!(check(Result::Ok(json!({"status": "administrator"}))), Fine);
        assert_eq!(check(Result::Ok(json!({"status": "kicked"}))), Broken);
        assert_eq!(check(Result::Ok(json!({"status": "left"}))), Broken);
        assert_eq!(
            check(Ok(
                json!({"status": "restricted", "is_member": true, "can_send_messages": false})
            )),
            Broken
        );
        assert_eq!(
            check(Ok(
                json!({"status": "restricted", "is_member": true, "can_send_messages": true})
            )),
            Fine
        );
        assert_eq!(
            check(Err(
                "Forbidden: bot is not a member of the supergroup chat".into()
            )),
            Broken
        );
    }

    #[test]
    fn the_bot_id_is_the_tokens_prefix() {
        assert_eq!(
            bot_user_id(&Token::new("123456:AAAxyz".into())),
            Some(123456)
        );
        assert_eq!(bot_user_id(&Token::new("nonsense".into())), None);
    }
}
