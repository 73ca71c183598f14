//! What can still be read of an update that teloxide could not read, or whose handler failed:
//! its ids, dug out of the raw JSON, and why it did not parse. teloxide reads an update whose
//! payload does not parse (a negative `from.id`, `"chat": {"id": "abc"}`, a missing field, a
//! kind it does not know) as `UpdateKind::Error` with an empty value, dropping both the ids and
//! the reason; herald audits them, so it reads them here.

use serde::de::DeserializeOwned;
use serde_json::Value;
use teloxide::types as tg;

/// The ids of an update as far as its JSON has them (wrong types count as absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawIds {
    pub update_id: Option<i64>,
    /// The update's kind: its first field other than `update_id` (`message`, `callback_query`...).
    pub kind: Option<String>,
    pub user_id: Option<i64>,
    pub chat_id: Option<i64>,
    pub thread_id: Option<i32>,
    /// The text of a message (or edit), for the command name in the audit.
    pub text: Option<String>,
    /// A button tap's id, to answer it, and its data.
    pub callback_query_id: Option<String>,
    pub callback_data: Option<String>,
}

impl RawIds {
    pub fn of(raw: &Value) -> Self {
        let update_id = raw.get("update_id").and_then(Value::as_i64);
        let Some((kind, payload)) = kind_of(raw) else {
            return Self {
                update_id,
                ..Self::default()
            };
        };
        let int = |v: &Value, path: &[&str]| -> Option<i64> {
            path.iter().try_fold(v, |v, key| v.get(key))?.as_i64()
        };
        let message = payload.get("message").unwrap_or(&Value::Null);
        let is_callback = kind == "callback_query";
        Self {
            update_id,
            kind: Some(kind.to_owned()),
            user_id: int(payload, &["from", "id"]).or_else(|| int(payload, &["user", "id"])),
            chat_id: int(payload, &["chat", "id"]).or_else(|| int(message, &["chat", "id"])),
            thread_id: int(payload, &["message_thread_id"])
                .or_else(|| int(message, &["message_thread_id"]))
                .and_then(|t| i32::try_from(t).ok()),
            text: payload
                .get("text")
                .and_then(Value::as_str)
                .map(str::to_owned),
            callback_query_id: is_callback
                .then(|| payload.get("id").and_then(Value::as_str))
                .flatten()
                .map(str::to_owned),
            callback_data: is_callback
                .then(|| payload.get("data").and_then(Value::as_str))
                .flatten()
                .map(str::to_owned),
        }
    }
}

/// The update's kind and payload: its first field other than `update_id`, as teloxide reads it.
fn kind_of(raw: &Value) -> Option<(&str, &Value)> {
    raw.as_object()?
        .iter()
        .find(|(key, _)| key.as_str() != "update_id")
        .map(|(key, value)| (key.as_str(), value))
}

/// Why teloxide could not read `raw`: the error of parsing its payload as the type its kind
/// names, or what is missing.
pub fn unreadable_reason(raw: &Value) -> String {
    if !raw.is_object() {
        return "the update is not a JSON object".to_owned();
    }
    let Some((kind, payload)) = kind_of(raw) else {
        return "the update has no payload (only update_id)".to_owned();
    };
    // teloxide's visitors want borrowed keys: parse from text, not from a Value.
    let text = payload.to_string();
    let error = match kind {
        "message"
        | "edited_message"
        | "channel_post"
        | "edited_channel_post"
        | "business_message"
        | "edited_business_message" => parse_error::<tg::Message>(&text),
        "business_connection" => parse_error::<tg::BusinessConnection>(&text),
        "deleted_business_messages" => parse_error::<tg::BusinessMessagesDeleted>(&text),
        "message_reaction" => parse_error::<tg::MessageReactionUpdated>(&text),
        "message_reaction_count" => parse_error::<tg::MessageReactionCountUpdated>(&text),
        "inline_query" => parse_error::<tg::InlineQuery>(&text),
        "chosen_inline_result" => parse_error::<tg::ChosenInlineResult>(&text),
        "callback_query" => parse_error::<tg::CallbackQuery>(&text),
        "shipping_query" => parse_error::<tg::ShippingQuery>(&text),
        "pre_checkout_query" => parse_error::<tg::PreCheckoutQuery>(&text),
        "purchased_paid_media" => parse_error::<tg::PaidMediaPurchased>(&text),
        "poll" => parse_error::<tg::Poll>(&text),
        "poll_answer" => parse_error::<tg::PollAnswer>(&text),
        "my_chat_member" | "chat_member" => parse_error::<tg::ChatMemberUpdated>(&text),
        "chat_join_request" => parse_error::<tg::ChatJoinRequest>(&text),
        "chat_boost" => parse_error::<tg::ChatBoostUpdated>(&text),
        "removed_chat_boost" => parse_error::<tg::ChatBoostRemoved>(&text),
        other => {
            return format!(
                "unknown update kind \"{}\"",
                crate::isolation::cut(other, 64)
            )
        }
    };
    match error {
        Some(error) => format!("{kind}: {error}"),
        None => format!("{kind}: teloxide could not read it"),
    }
}

fn parse_error<T: DeserializeOwned>(text: &str) -> Option<String> {
    serde_json::from_str::<T>(text).err().map(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_come_out_of_a_message_that_does_not_parse() {
        let raw = json!({
            "update_id": 77,
            "message": {
                "message_id": 5,
                "from": {"id": -12, "is_bot": false, "first_name": "X"},
                "chat": {"id": -100123, "type": "supergroup", "title": "T"},
                "message_thread_id": 4,
                "date": 1785809825,
                "text": "/help"
            }
        });
        let ids = RawIds::of(&raw);
        assert_eq!(ids.update_id, Some(77));
        assert_eq!(ids.kind.as_deref(), Some("message"));
        assert_eq!(ids.user_id, Some(-12));
        assert_eq!(ids.chat_id, Some(-100123));
        assert_eq!(ids.thread_id, Some(4));
        assert_eq!(ids.text.as_deref(), Some("/help"));
        let reason = unreadable_reason(&raw);
        assert!(reason.starts_with("message: "), "{reason}");
    }

    #[test]
    fn a_string_chat_id_is_absent_and_named_in_the_reason() {
        let raw = json!({
            "update_id": 78,
            "message": {
                "message_id": 5,
                "from": {"id": 12, "is_bot": false, "first_name": "X"},
                "chat": {"id": "abc", "type": "private"},
                "date": 1785809825,
                "text": "hi"
            }
        });
        let ids = RawIds::of(&raw);
        assert_eq!(ids.user_id, Some(12));
        assert_eq!(ids.chat_id, None);
        assert!(unreadable_reason(&raw).starts_with("message: "));
    }

    #[test]
    fn a_tap_gives_its_id_data_and_chat() {
        let raw = json!({
            "update_id": 79,
            "callback_query": {
                "id": "q1",
                "from": {"id": 12, "is_bot": false, "first_name": "X"},
                "message": {"chat": {"id": 12}},
                "data": "zzz:unknown"
            }
        });
        let ids = RawIds::of(&raw);
        assert_eq!(ids.callback_query_id.as_deref(), Some("q1"));
        assert_eq!(ids.callback_data.as_deref(), Some("zzz:unknown"));
        assert_eq!(ids.chat_id, Some(12));
    }

    #[test]
    fn unknown_kinds_and_empty_updates_are_named() {
        assert_eq!(
            unreadable_reason(&json!({"update_id": 1, "story_reaction": {}})),
            "unknown update kind \"story_reaction\""
        );
        assert_eq!(
            unreadable_reason(&json!({"update_id": 1})),
            "the update has no payload (only update_id)"
        );
        assert_eq!(
            unreadable_reason(&json!([1])),
            "the update is not a JSON object"
        );
        assert_eq!(RawIds::of(&json!("x")), RawIds::default());
    }
}
