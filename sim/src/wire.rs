//! Wire shapes the simulator sends back: Bot API objects and envelopes as typed structs.
//!
//! They are typed (not `serde_json::Value`) so that the JSON keeps the official server's field
//! order, as in `tests/fixtures/telegram/`: `serde_json` here sorts object keys, which
//! would make our payloads look unlike Telegram's.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// A `User` object (a human or a bot) as it appears in `from`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct User {
    pub id: i64,
    pub is_bot: bool,
    pub first_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
}

/// The result of `getMe`, field for field as `telegram_getMe_ok.json`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Me {
    pub id: i64,
    pub is_bot: bool,
    pub first_name: String,
    pub username: String,
    pub can_join_groups: bool,
    pub can_read_all_group_messages: bool,
    pub supports_inline_queries: bool,
    pub supports_guest_queries: bool,
    pub can_connect_to_business: bool,
    pub has_main_web_app: bool,
    pub has_topics_enabled: bool,
    pub allows_users_to_create_topics: bool,
    pub can_manage_bots: bool,
}

/// A `Chat` object: the forum supergroup or a private chat.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Chat {
    pub id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_forum: Option<bool>,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// A `MessageEntity`. Offsets and lengths are in UTF-16 code units; field order as the Bot
/// API server writes it (`offset`, `length`, `type`, then the type's own field).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Entity {
    pub offset: usize,
    pub length: usize,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_emoji_id: Option<String>,
}

impl Entity {
    pub fn new(kind: &'static str, offset: usize, length: usize) -> Self {
        Entity {
            offset,
            length,
            kind,
            url: None,
            user: None,
            language: None,
            custom_emoji_id: None,
        }
    }
}

/// `forum_topic_created` on a topic's creation message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ForumTopicCreated {
    pub name: String,
    pub icon_color: u32,
}

/// One inline keyboard button: `text` first, then whatever action field the bot gave
/// (`callback_data`, `url`, ...), kept as sent.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Button {
    pub text: String,
    #[serde(flatten)]
    pub action: BTreeMap<String, Value>,
}

/// `reply_markup` as it appears on a message: only inline keyboards are echoed back.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct InlineKeyboard {
    pub inline_keyboard: Vec<Vec<Button>>,
}

/// A `Message`. Field order follows the fixtures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Message {
    pub message_id: i64,
    pub from: User,
    pub chat: Chat,
    pub date: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edit_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_thread_id: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to_message: Option<Box<Message>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forum_topic_created: Option<ForumTopicCreated>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<Entity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo: Option<Vec<FileWire>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<FileWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub caption_entities: Vec<Entity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_markup: Option<InlineKeyboard>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_topic_message: Option<bool>,
}

/// A `Document`, or one `PhotoSize` of a photo: the file's ids and size, and what only a
/// document (name, type) or a photo (dimensions) has.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct FileWire {
    pub file_id: String,
    pub file_unique_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    pub file_size: u64,
}

impl Message {
    /// The copy embedded as another message's `reply_to_message`: Telegram nests one level only.
    pub fn as_reply_target(&self) -> Box<Message> {
        let mut copy = self.clone();
        copy.reply_to_message = None;
        Box::new(copy)
    }
}

/// A `CallbackQuery`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CallbackQuery {
    pub id: String,
    pub from: User,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    pub chat_instance: String,
    pub data: String,
}

/// An `Update`: exactly one of the optional fields is set.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Update {
    pub update_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_message: Option<Message>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_query: Option<CallbackQuery>,
}

/// One entry of a bot's update queue: an update the simulator built from what a human did,
/// or JSON a test pushed as it is (malformed on purpose, or of a kind nothing here builds).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum Queued {
    Built(Box<Update>),
    Raw(Value),
}

impl Queued {
    pub fn update_id(&self) -> i64 {
        match self {
            Queued::Built(update) => update.update_id,
            Queued::Raw(raw) => raw.get("update_id").and_then(Value::as_i64).unwrap_or(0),
        }
    }
}

/// A `ChatMember` of the group, field for field as the Bot API server writes it: `user`,
/// `status`, then the fields of that status (an administrator's rights, a restricted member's
/// permissions).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ChatMember {
    pub user: User,
    pub status: &'static str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub administrator: Option<AdministratorRights>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub restricted: Option<RestrictedPermissions>,
}

/// The fields of a `ChatMemberAdministrator` in a forum supergroup, in the server's order.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AdministratorRights {
    pub can_be_edited: bool,
    pub can_manage_chat: bool,
    pub can_change_info: bool,
    pub can_delete_messages: bool,
    pub can_invite_users: bool,
    pub can_restrict_members: bool,
    pub can_pin_messages: bool,
    pub can_manage_topics: bool,
    pub can_promote_members: bool,
    pub can_manage_video_chats: bool,
    pub can_post_stories: bool,
    pub can_edit_stories: bool,
    pub can_delete_stories: bool,
    pub can_manage_tags: bool,
    pub is_anonymous: bool,
    /// The old name of `can_manage_video_chats`, still written by the server.
    pub can_manage_voice_chats: bool,
}

/// The fields of a `ChatMemberRestricted` in a supergroup, in the server's order.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RestrictedPermissions {
    /// 0: restricted forever.
    pub until_date: i64,
    pub can_send_messages: bool,
    pub can_send_media_messages: bool,
    pub can_send_audios: bool,
    pub can_send_documents: bool,
    pub can_send_photos: bool,
    pub can_send_videos: bool,
    pub can_send_video_notes: bool,
    pub can_send_voice_notes: bool,
    pub can_send_polls: bool,
    pub can_send_other_messages: bool,
    pub can_add_web_page_previews: bool,
    pub can_react_to_messages: bool,
    pub can_edit_tag: bool,
    pub can_change_info: bool,
    pub can_invite_users: bool,
    pub can_pin_messages: bool,
    pub can_manage_topics: bool,
    pub is_member: bool,
}

/// `getWebhookInfo` result: the simulator never has a webhook.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WebhookInfo {
    pub url: &'static str,
    pub has_custom_certificate: bool,
    pub pending_update_count: usize,
}

/// One `BotCommand`, for `getMyCommands`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BotCommand {
    pub command: String,
    pub description: String,
}

/// `{"ok":true,"result":...}`.
#[derive(Serialize)]
pub(crate) struct OkEnvelope<'a, T: Serialize> {
    pub ok: bool,
    pub result: &'a T,
}

/// `parameters` of an error envelope.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct ResponseParameters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrate_to_chat_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u32>,
}

/// `{"ok":false,"error_code":N,"description":"...","parameters":{...}}`.
#[derive(Serialize)]
pub(crate) struct ErrEnvelope<'a> {
    pub ok: bool,
    pub error_code: u16,
    pub description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<ResponseParameters>,
}
