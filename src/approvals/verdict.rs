//! What every approval card shares, whatever it approves (an invoice for Claudia, an expense
//! claim for Claims): who may decide (the roster's approvers), how a button tap names its
//! card (`<prefix>a:<key>` approves, `<prefix>r:<key>` asks for a reason), how a reply to a
//! card reads ("approve", "reject REASON"), and how a database error met while looking a
//! card up travels to the update's endpoint to fail it.

use std::sync::{Arc, Mutex};

use teloxide::types::{CallbackQuery, Message};

use crate::inbound::{BotContext, HandlerError};
use crate::roster::{Member, Role};
use crate::text::{cut_plain, REASON_LIMIT};

/// What an approver decided about a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Reject(String),
}

/// A card's two buttons' data prefixes, e.g. `ap:a:` and `ap:r:`.
#[derive(Debug, Clone, Copy)]
pub struct ButtonPrefixes {
    pub approve: &'static str,
    pub reject: &'static str,
}

impl ButtonPrefixes {
    /// The card's inline keyboard for `key` (Telegram allows 64 bytes of callback data).
    pub fn keyboard(&self, key: &str) -> serde_json::Value {
        serde_json::json!({"inline_keyboard": [[
            {"text": "✅ Approve", "callback_data": format!("{}{key}", self.approve)},
            {"text": "❌ Reject", "callback_data": format!("{}{key}", self.reject)},
        ]]})
    }

    /// The tap on one of these cards' buttons, if `query` is one.
    pub fn tap(&self, query: &CallbackQuery) -> Option<CardTap> {
        let data = query.data.as_deref()?;
        let (key, approve) = match data.strip_prefix(self.approve) {
            Some(key) => (key, true),
            None => (data.strip_prefix(self.reject)?, false),
        };
        Some(CardTap {
            key: key.to_owned(),
            approve,
            query_id: query.id.0.clone(),
            user_id: query.from.id.0 as i64,
        })
    }
}

/// A tap on a card's button. *Reject* only asks for a reason, by reply.
#[derive(Debug, Clone)]
pub struct CardTap {
    /// What the card is about (an InvoiceID, a claim id).
    pub key: String,
    pub approve: bool,
    pub query_id: String,
    pub user_id: i64,
}

/// The approver `user_id` is, if they are one.
pub fn approver(context: &BotContext, user_id: i64) -> Option<Member> {
    context
        .roster
        .member_by_telegram_id(user_id)
        .filter(|m| m.has_role(Role::Approver))
        .cloned()
}

/// Parses "approve" or "reject REASON" (any case; trailing punctuation ignored).
pub fn parse_reply(text: &str) -> Result<Verdict, &'static str> {
    let mut words = text.splitn(2, char::is_whitespace);
    let word = words
        .next()
        .unwrap_or_default()
        .trim_end_matches(['.', '!'])
        .to_lowercase();
    let rest = words.next().unwrap_or_default().trim();
    match word.as_str() {
        "approve" | "approved" if rest.is_empty() => Ok(Verdict::Approve),
        "reject" | "rejected" if rest.is_empty() => Err("Say why: reply “reject REASON”."),
        "reject" | "rejected" => Ok(Verdict::Reject(cut_plain(rest, REASON_LIMIT))),
        _ => Err("Reply “approve”, or “reject REASON”."),
    }
}

/// A message that really replies to another (not a topic's root): the replied message's id.
pub fn replied_to(message: &Message) -> Option<i64> {
    let replied = message.reply_to_message()?;
    let thread_id = message.thread_id.map(|t| t.0 .0);
    (Some(replied.id.0) != thread_id).then_some(i64::from(replied.id.0))
}

/// A reply to a card, with what it said, for the endpoint that decides.
#[derive(Debug, Clone)]
pub struct ReplyToCard<C> {
    pub card: C,
    pub text: String,
    pub user_id: i64,
    pub chat_id: i64,
    pub thread_id: Option<i32>,
    pub message_id: i64,
}

impl<C> ReplyToCard<C> {
    pub fn new(card: C, message: &Message) -> Self {
        Self {
            card,
            text: message.text().unwrap_or_default().trim().to_owned(),
            user_id: message.from.as_ref().map_or(0, |u| u.id.0 as i64),
            chat_id: message.chat.id.0,
            thread_id: message.thread_id.map(|t| t.0 .0),
            message_id: i64::from(message.id.0),
        }
    }
}

/// A database error met while looking a card up, carried to the endpoint (dptree values are
/// cloned, `sqlx::Error` is not `Clone`): the endpoint takes it out once and fails the update
/// with it, so a reply is never passed over as "not a card reply" because a read failed.
#[derive(Debug, Clone)]
pub struct LookupFailure(Arc<Mutex<Option<sqlx::Error>>>);

impl LookupFailure {
    pub fn new(error: sqlx::Error) -> Self {
        tracing::error!(error = %error, "could not look up an approval card; the update fails");
        Self(Arc::new(Mutex::new(Some(error))))
    }

    /// The error, as the update's failure.
    pub fn into_error(self) -> HandlerError {
        let taken = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        HandlerError::Db(taken.unwrap_or_else(|| {
            sqlx::Error::Protocol("an approval card lookup failed (error already reported)".into())
        }))
    }
}

/// A card lookup's result as a dptree value: a reply to a card, or the lookup's failure.
#[derive(Debug, Clone)]
pub enum CardLookup<C> {
    Card(Box<ReplyToCard<C>>),
    Failed(LookupFailure),
}

impl<C> CardLookup<C> {
    /// The reply, or the update's failure.
    pub fn into_reply(self) -> Result<ReplyToCard<C>, HandlerError> {
        match self {
            Self::Card(reply) => Ok(*reply),
            Self::Failed(failure) => Err(failure.into_error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_to_decisions_or_usage() {
        assert_eq!(parse_reply("approve"), Ok(Verdict::Approve));
        assert_eq!(parse_reply("Approve."), Ok(Verdict::Approve));
        assert_eq!(
            parse_reply("reject wrong PO number"),
            Ok(Verdict::Reject("wrong PO number".into()))
        );
        assert!(parse_reply("reject").is_err());
        assert!(parse_reply("approve it please").is_err());
        assert!(parse_reply("lgtm").is_err());
    }
}
