//! The simulator's world: bots, the forum group, messages, update queues and what was sent.
//!
//! Exists to keep every rule of the simulated Bot API in plain synchronous code behind one
//! mutex, so the HTTP layer only parses, locks, calls one method and answers. Nothing here
//! awaits; long-polling waits outside the lock on a per-bot `watch` channel.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tokio::sync::watch;

use super::api::{value_bool, value_int, ApiError, Params};
use super::entities::{leading_command, mentions, user_entities, utf16_len};
use super::ratelimit::RateLimiter;
use super::wire::FileWire;
use super::wire::{
    AdministratorRights, BotCommand, Button, CallbackQuery, Chat, ChatMember, Entity,
    ForumTopicCreated, InlineKeyboard, Me, Message, Queued, RestrictedPermissions, Update, User,
};
use super::{
    CallbackAnswer, Fault, Rejection, SentDocument, SentRecord, SimBot, SimConfig, SimFile,
    SimGroup, SimPlace, SimUser,
};
use crate::clock::SimClock;
use crate::html;

/// Maximum visible message length, in UTF-16 units.
pub(crate) const MAX_TEXT: usize = 4096;
/// Longest media caption, in UTF-16 units after entity parsing.
pub(crate) const MAX_CAPTION: usize = 1024;
/// Maximum text of a button-tap answer, in UTF-16 units.
pub(crate) const MAX_CALLBACK_ANSWER: usize = 200;
/// Maximum `callback_data` length, in bytes.
pub(crate) const MAX_CALLBACK_DATA: usize = 64;
const FIRST_UPDATE_ID: i64 = 874_512_301;
const FIRST_CALLBACK_ID: u64 = 4_623_891_725_364_519_837;
/// Telegram's palette of forum topic icon colours.
const TOPIC_COLORS: [u32; 6] = [7322096, 16766590, 13338331, 9367192, 16749490, 16478047];
const NOT_MODIFIED: &str = "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message";
const QUERY_TOO_OLD: &str = "query is too old and response timeout expired or query ID is invalid";
const THREAD_NOT_FOUND: &str = "message thread not found";
/// The `action`s of `sendChatAction` the Bot API server accepts (any case), aliases included.
const CHAT_ACTIONS: &[&str] = &[
    "cancel",
    "typing",
    "record_video",
    "upload_video",
    "record_audio",
    "record_voice",
    "upload_audio",
    "upload_voice",
    "upload_photo",
    "upload_document",
    "choose_sticker",
    "pick_up_location",
    "find_location",
    "record_video_note",
    "upload_video_note",
];

/// Where a bot stands in the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Membership {
    Member,
    Administrator,
    /// A member with restricted permissions.
    Restricted {
        can_send_messages: bool,
    },
    /// Removed, or left on its own.
    Left,
    /// Banned from the group.
    Kicked,
}

impl Membership {
    fn in_group(self) -> bool {
        !matches!(self, Membership::Left | Membership::Kicked)
    }
}

/// Which conversation a message lives in. Private chats are per bot: each bot has its own
/// dialog (and message ids) with a user, although the chat id is the user's id for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ChatKey {
    Group,
    Private { bot: usize, user: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    Bot(usize),
    User(i64),
}

struct Stored {
    msg: Message,
    sender: Sender,
}

pub(crate) struct BotRt {
    pub cfg: SimBot,
    queue: VecDeque<Queued>,
    next_update_id: i64,
    poll_gen: u64,
    commands: Option<Vec<(String, String)>>,
    membership: Membership,
}

struct CallbackRt {
    bot: usize,
    answered: bool,
}

/// What a long-poll sees when it looks.
pub(crate) enum PollCheck {
    /// A newer `getUpdates` for the same bot took over: answer 409.
    Conflict,
    /// The simulator is shutting down: answer what there is.
    Shutdown(Vec<Queued>),
    /// Pending updates (possibly none).
    Batch(Vec<Queued>),
}

pub(crate) struct State {
    pub bots: Vec<BotRt>,
    group: SimGroup,
    users: HashMap<i64, SimUser>,
    strangers: HashMap<i64, SimUser>,
    clock: SimClock,
    pub rate_limits: bool,
    watchers: Arc<[watch::Sender<u64>]>,
    messages: HashMap<(ChatKey, i64), Stored>,
    next_message_id: HashMap<ChatKey, i64>,
    dm_opened: HashSet<(usize, i64)>,
    /// (bot, user): a configured user who never started that bot (until they write to it).
    never_started: HashSet<(usize, i64)>,
    /// (bot, user): the user blocked the bot.
    blocked: HashSet<(usize, i64)>,
    /// Users who deleted their account.
    deactivated: HashSet<i64>,
    pub sent: Vec<SentRecord>,
    calls: HashMap<String, usize>,
    callbacks: HashMap<String, CallbackRt>,
    next_callback: u64,
    pub callback_answers: Vec<CallbackAnswer>,
    pub rejections: Vec<Rejection>,
    pub too_many: usize,
    faults: Vec<(usize, String, Fault)>,
    limiter: RateLimiter,
    /// When set, the instant the flood limits take as "now" (moved only by tests).
    pub limits_frozen_at: Option<Instant>,
    pub shutdown: bool,
}

fn lower_name(s: &str) -> String {
    s.trim_start_matches('@').to_ascii_lowercase()
}

impl State {
    pub fn new(config: SimConfig, watchers: Arc<[watch::Sender<u64>]>) -> State {
        let clock = config.clock.clone().unwrap_or_else(SimClock::system);
        let mut state = State {
            bots: config
                .bots
                .iter()
                .map(|b| BotRt {
                    cfg: b.clone(),
                    queue: VecDeque::new(),
                    next_update_id: FIRST_UPDATE_ID,
                    poll_gen: 0,
                    commands: None,
                    membership: Membership::Member,
                })
                .collect(),
            group: config.group.clone(),
            users: config
                .users
                .iter()
                .map(|u| (u.user_id, u.clone()))
                .collect(),
            strangers: HashMap::new(),
            clock,
            rate_limits: config.rate_limits,
            watchers,
            messages: HashMap::new(),
            next_message_id: HashMap::new(),
            dm_opened: HashSet::new(),
            never_started: HashSet::new(),
            blocked: HashSet::new(),
            deactivated: HashSet::new(),
            sent: Vec::new(),
            calls: HashMap::new(),
            callbacks: HashMap::new(),
            next_callback: FIRST_CALLBACK_ID,
            callback_answers: Vec::new(),
            rejections: Vec::new(),
            too_many: 0,
            faults: Vec::new(),
            limiter: RateLimiter::default(),
            limits_frozen_at: None,
            shutdown: false,
        };
        state.create_topics();
        state
    }

    /// Each topic's creation message, whose id is the topic's thread id.
    fn create_topics(&mut self) {
        let creator = match self.users.values().min_by_key(|u| u.user_id) {
            Some(u) => human(u),
            None => User {
                id: 1,
                is_bot: false,
                first_name: "Group Owner".into(),
                last_name: None,
                username: None,
                language_code: Some("en".into()),
            },
        };
        let date = self.now_unix();
        let mut max_id = 0i64;
        for (n, topic) in self.group.topics.iter().enumerate() {
            let id = i64::from(topic.thread_id);
            max_id = max_id.max(id);
            let msg = Message {
                message_id: id,
                from: creator.clone(),
                chat: self.group_chat(),
                date,
                edit_date: None,
                message_thread_id: Some(topic.thread_id),
                reply_to_message: None,
                forum_topic_created: Some(ForumTopicCreated {
                    name: topic.name.clone(),
                    icon_color: TOPIC_COLORS[n % TOPIC_COLORS.len()],
                }),
                text: None,
                entities: Vec::new(),
                photo: None,
                document: None,
                caption: None,
                caption_entities: Vec::new(),
                reply_markup: None,
                is_topic_message: Some(true),
            };
            self.messages.insert(
                (ChatKey::Group, id),
                Stored {
                    msg,
                    sender: Sender::User(creator.id),
                },
            );
        }
        self.next_message_id.insert(ChatKey::Group, max_id + 1);
    }

    fn now_unix(&self) -> i64 {
        self.clock.now().timestamp()
    }

    // ----- lookups -------------------------------------------------------------------------

    pub fn bot_by_token(&self, token: &str) -> Option<usize> {
        self.bots.iter().position(|b| b.cfg.token == token)
    }

    pub fn bot_by_username(&self, username: &str) -> Option<usize> {
        let wanted = lower_name(username);
        self.bots
            .iter()
            .position(|b| b.cfg.username.to_ascii_lowercase() == wanted)
    }

    pub fn username(&self, bot: usize) -> &str {
        &self.bots[bot].cfg.username
    }

    fn bot_user(&self, bot: usize) -> User {
        let cfg = &self.bots[bot].cfg;
        User {
            id: cfg.user_id,
            is_bot: true,
            first_name: cfg.first_name.clone(),
            last_name: None,
            username: Some(cfg.username.clone()),
            language_code: None,
        }
    }

    /// A human by id; one not in the config is made up (and remembered) as a stranger.
    fn user(&mut self, user_id: i64) -> User {
        if let Some(u) = self.users.get(&user_id) {
            return human(u);
        }
        let u = self.strangers.entry(user_id).or_insert_with(|| SimUser {
            user_id,
            first_name: format!("User {user_id}"),
            last_name: None,
            username: None,
        });
        human(u)
    }

    /// [`render`] with the humans and bots this simulator knows.
    fn render(
        &self,
        raw: &str,
        parse_mode: Option<&str>,
    ) -> Result<(String, Vec<Entity>), ApiError> {
        let known = |id: i64| {
            self.users
                .get(&id)
                .or_else(|| self.strangers.get(&id))
                .map(human)
                .or_else(|| {
                    let bot = self.bots.iter().position(|b| b.cfg.user_id == id)?;
                    Some(self.bot_user(bot))
                })
        };
        render(raw, parse_mode, &known)
    }

    fn group_chat(&self) -> Chat {
        Chat {
            id: self.group.chat_id,
            title: Some(self.group.title.clone()),
            username: None,
            first_name: None,
            last_name: None,
            is_forum: Some(true),
            kind: "supergroup",
        }
    }

    fn private_chat(&mut self, user_id: i64) -> Chat {
        let u = self.user(user_id);
        Chat {
            id: u.id,
            title: None,
            username: u.username,
            first_name: Some(u.first_name),
            last_name: u.last_name,
            is_forum: None,
            kind: "private",
        }
    }

    fn chat_for(&mut self, key: ChatKey) -> Chat {
        match key {
            ChatKey::Group => self.group_chat(),
            ChatKey::Private { user, .. } => self.private_chat(user),
        }
    }

    fn is_topic(&self, thread_id: i64) -> bool {
        self.group
            .topics
            .iter()
            .any(|t| i64::from(t.thread_id) == thread_id)
    }

    fn alloc_message_id(&mut self, key: ChatKey, commit: bool) -> i64 {
        let next = self.next_message_id.entry(key).or_insert(1);
        let id = *next;
        if commit {
            *next += 1;
        }
        id
    }

    /// The `reply_to_message` a group message carries: the explicit target, else (in a topic)
    /// the topic's creation message.
    fn group_reply(&self, thread: Option<i32>, target: Option<&Message>) -> Option<Box<Message>> {
        match (target, thread) {
            (Some(t), _) => Some(t.as_reply_target()),
            (None, Some(th)) => self
                .messages
                .get(&(ChatKey::Group, i64::from(th)))
                .map(|s| s.msg.as_reply_target()),
            (None, None) => None,
        }
    }

    // ----- updates -------------------------------------------------------------------------

    fn push_update(&mut self, bot: usize, fill: impl FnOnce(&mut Update)) {
        let rt = &mut self.bots[bot];
        let mut update = Update {
            update_id: rt.next_update_id,
            message: None,
            edited_message: None,
            callback_query: None,
        };
        fill(&mut update);
        rt.next_update_id += 1;
        rt.queue.push_back(Queued::Built(Box::new(update)));
        self.watchers[bot].send_modify(|v| *v += 1);
    }

    /// Queues `update` for `bot` as it is, with the next `update_id` set first. A
    /// `callback_query` with a string `id` becomes a tap that can be answered, and a private
    /// message opens the DM with its chat, as a real one would. Returns the update id.
    pub fn push_raw(&mut self, bot: usize, update: Value) -> Result<i64, String> {
        let Value::Object(fields) = update else {
            return Err("an update is a JSON object".into());
        };
        let rt = &mut self.bots[bot];
        let update_id = rt.next_update_id;
        rt.next_update_id += 1;
        let mut raw = serde_json::Map::new();
        raw.insert("update_id".into(), Value::from(update_id));
        raw.extend(fields.into_iter().filter(|(k, _)| k != "update_id"));
        if let Some(id) = raw
            .get("callback_query")
            .and_then(|q| q.get("id"))
            .and_then(Value::as_str)
        {
            self.callbacks.insert(
                id.to_owned(),
                CallbackRt {
                    bot,
                    answered: false,
                },
            );
        }
        let chat = raw.get("message").and_then(|m| m.get("chat"));
        if let Some(chat) =
            chat.filter(|c| c.get("type").and_then(Value::as_str) == Some("private"))
        {
            if let Some(id) = chat.get("id").and_then(Value::as_i64).filter(|id| *id > 0) {
                self.dm_opened.insert((bot, id));
            }
        }
        self.bots[bot]
            .queue
            .push_back(Queued::Raw(Value::Object(raw)));
        self.watchers[bot].send_modify(|v| *v += 1);
        Ok(update_id)
    }

    /// Records an error answer to a call that would have changed something.
    pub fn reject(&mut self, bot: usize, method: &str, error: &ApiError) {
        self.rejections.push(Rejection {
            bot: self.bots[bot].cfg.username.clone(),
            method: method.to_owned(),
            code: error.code,
            description: error.description.clone(),
        });
    }

    /// Bots that receive a group message: of the bots in the group, all that read everything
    /// and all administrators (privacy mode does not apply to them on Telegram); bots in privacy
    /// mode only for commands (addressed to them, or to nobody), replies to them and mentions.
    /// A bot removed or kicked from the group receives nothing.
    fn group_audience(&self, msg: &Message) -> Vec<usize> {
        let text = msg.text.as_deref().or(msg.caption.as_deref()).unwrap_or("");
        let command = leading_command(text);
        let mentioned: Vec<String> = mentions(text)
            .into_iter()
            .map(|m| m.to_ascii_lowercase())
            .collect();
        let replied_to = msg.reply_to_message.as_ref().map(|r| r.from.id);
        (0..self.bots.len())
            .filter(|&i| {
                let cfg = &self.bots[i].cfg;
                if !self.bots[i].membership.in_group() {
                    return false;
                }
                let name = cfg.username.to_ascii_lowercase();
                cfg.can_read_all_group_messages
                    || self.bots[i].membership == Membership::Administrator
                    || command.as_ref().is_some_and(|(_, to)| {
                        to.as_ref().is_none_or(|to| to.to_ascii_lowercase() == name)
                    })
                    || replied_to == Some(cfg.user_id)
                    || mentioned.contains(&name)
            })
            .collect()
    }

    pub fn group_chat_id(&self) -> i64 {
        self.group.chat_id
    }

    /// Numbers `bot`'s next update `next_id`, as Telegram does after a week without updates:
    /// "the identifier of the next update will be chosen randomly instead of sequentially",
    /// so it may be lower than every id the bot has seen.
    pub fn restart_update_ids(&mut self, bot: usize, next_id: i64) {
        self.bots[bot].next_update_id = next_id;
    }

    pub fn pending(&self, bot: usize) -> usize {
        self.bots[bot].queue.len()
    }

    /// How many `getUpdates` the bot has made.
    pub fn polls(&self, bot: usize) -> u64 {
        self.bots[bot].poll_gen
    }

    /// Starts a `getUpdates`: confirms updates below `offset` and takes over from any older
    /// request of the same bot (which will then answer 409). Returns this request's ticket.
    ///
    /// As the Bot API server's update queue (tdlib's `TQueue::get`): an offset more than 10
    /// past the next update id is "in the future" and confirms nothing; the answer then
    /// starts at the oldest waiting update. That is what a client whose stored offset
    /// outlived a restart of the ids ([`State::restart_update_ids`]) meets.
    pub fn poll_begin(&mut self, bot: usize, offset: Option<i64>) -> u64 {
        let rt = &mut self.bots[bot];
        match offset {
            Some(o) if o > rt.next_update_id + 10 => {}
            Some(o) if o > 0 => rt.queue.retain(|u| u.update_id() >= o),
            Some(o) if o < 0 => {
                let keep = usize::try_from(o.unsigned_abs()).unwrap_or(usize::MAX);
                while rt.queue.len() > keep {
                    rt.queue.pop_front();
                }
            }
            _ => {}
        }
        rt.poll_gen += 1;
        let ticket = rt.poll_gen;
        self.watchers[bot].send_modify(|v| *v += 1);
        ticket
    }

    pub fn poll_check(&self, bot: usize, ticket: u64, limit: usize) -> PollCheck {
        let rt = &self.bots[bot];
        if rt.poll_gen != ticket {
            return PollCheck::Conflict;
        }
        let batch: Vec<Queued> = rt.queue.iter().take(limit).cloned().collect();
        if self.shutdown {
            PollCheck::Shutdown(batch)
        } else {
            PollCheck::Batch(batch)
        }
    }

    // ----- bookkeeping -----------------------------------------------------------------------

    pub fn count_call(&mut self, method: &str) {
        *self.calls.entry(method.to_ascii_lowercase()).or_default() += 1;
    }

    pub fn calls(&self, method: &str) -> usize {
        self.calls
            .get(&method.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    pub fn add_fault(&mut self, bot: usize, method: &str, fault: Fault) {
        self.faults.push((bot, method.to_ascii_lowercase(), fault));
    }

    pub fn take_fault(&mut self, bot: usize, method_lower: &str) -> Option<Fault> {
        let at = self
            .faults
            .iter()
            .position(|(b, m, _)| *b == bot && m == method_lower)?;
        Some(self.faults.remove(at).2)
    }

    pub fn my_commands(&self, bot: usize) -> Option<Vec<(String, String)>> {
        self.bots[bot].commands.clone()
    }

    // ----- injection (what humans do) ----------------------------------------------------------

    /// A user blocks a bot: its messages to them are refused from now on.
    pub fn user_blocks(&mut self, user_id: i64, bot: usize) {
        self.blocked.insert((bot, user_id));
    }

    /// A user deletes their account: every bot's messages to them are refused.
    pub fn deactivate_user(&mut self, user_id: i64) {
        self.deactivated.insert(user_id);
    }

    /// Puts a bot in the group (as a plain member), takes it out (`Left`, `Kicked`), restricts
    /// or promotes it.
    pub fn set_membership(&mut self, bot: usize, membership: Membership) {
        self.bots[bot].membership = membership;
    }

    /// Privacy mode on: the bot sees only the group messages meant for it.
    pub fn set_privacy_mode(&mut self, bot: usize, on: bool) {
        self.bots[bot].cfg.can_read_all_group_messages = !on;
    }

    /// A user has never pressed Start with a bot: it cannot write to them until they write to
    /// it (which [`State::user_dms`] does).
    pub fn user_never_started(&mut self, user_id: i64, bot: usize) {
        self.never_started.insert((bot, user_id));
        self.dm_opened.remove(&(bot, user_id));
    }

    /// An admin deletes a topic, and with it every message in it (its creation message too).
    pub fn delete_topic(&mut self, thread_id: i32) -> Result<(), String> {
        if !self.is_topic(i64::from(thread_id)) {
            return Err(format!(
                "thread {thread_id} is not a topic of the simulated group"
            ));
        }
        self.group.topics.retain(|t| t.thread_id != thread_id);
        self.messages.retain(|(key, id), stored| {
            *key != ChatKey::Group
                || (*id != i64::from(thread_id) && stored.msg.message_thread_id != Some(thread_id))
        });
        Ok(())
    }

    /// A human posts in the group (General when `thread` is None), optionally replying.
    pub fn user_says(
        &mut self,
        user_id: i64,
        thread: Option<i32>,
        reply_to: Option<i64>,
        text: &str,
    ) -> Result<i64, String> {
        if let Some(t) = thread {
            if !self.is_topic(i64::from(t)) {
                return Err(format!("thread {t} is not a topic of the simulated group"));
            }
        }
        let target = match reply_to {
            None => None,
            Some(id) => Some(
                self.messages
                    .get(&(ChatKey::Group, id))
                    .map(|s| s.msg.clone())
                    .ok_or_else(|| format!("no message {id} in the simulated group"))?,
            ),
        };
        let from = self.user(user_id);
        let id = self.alloc_message_id(ChatKey::Group, true);
        let msg = Message {
            message_id: id,
            from,
            chat: self.group_chat(),
            date: self.now_unix(),
            edit_date: None,
            message_thread_id: thread,
            reply_to_message: self.group_reply(thread, target.as_ref()),
            forum_topic_created: None,
            text: Some(text.to_owned()),
            entities: user_entities(text),
            photo: None,
            document: None,
            caption: None,
            caption_entities: Vec::new(),
            reply_markup: None,
            is_topic_message: thread.map(|_| true),
        };
        for bot in self.group_audience(&msg) {
            let m = msg.clone();
            self.push_update(bot, |u| u.message = Some(m));
        }
        self.messages.insert(
            (ChatKey::Group, id),
            Stored {
                msg,
                sender: Sender::User(user_id),
            },
        );
        Ok(id)
    }

    /// A human edits one of their messages (group first, then their private chats).
    pub fn user_edits(&mut self, user_id: i64, message_id: i64, text: &str) -> Result<(), String> {
        let mut key = ChatKey::Group;
        let own = |s: &Stored| s.sender == Sender::User(user_id);
        if !self
            .messages
            .get(&(ChatKey::Group, message_id))
            .is_some_and(own)
        {
            key = (0..self.bots.len())
                .map(|bot| ChatKey::Private { bot, user: user_id })
                .find(|k| self.messages.get(&(*k, message_id)).is_some_and(own))
                .ok_or_else(|| format!("user {user_id} has no message {message_id}"))?;
        }
        let date = self.now_unix();
        let msg = {
            let Some(stored) = self.messages.get_mut(&(key, message_id)) else {
                return Err(format!("user {user_id} has no message {message_id}"));
            };
            stored.msg.text = Some(text.to_owned());
            stored.msg.entities = user_entities(text);
            stored.msg.edit_date = Some(date);
            stored.msg.clone()
        };
        let audience = match key {
            ChatKey::Group => self.group_audience(&msg),
            ChatKey::Private { bot, .. } => vec![bot],
        };
        for bot in audience {
            let m = msg.clone();
            self.push_update(bot, |u| u.edited_message = Some(m));
        }
        Ok(())
    }

    /// A human writes to a bot in private.
    pub fn user_dms(
        &mut self,
        user_id: i64,
        bot_username: &str,
        text: &str,
    ) -> Result<i64, String> {
        let bot = self
            .bot_by_username(bot_username)
            .ok_or_else(|| format!("no simulated bot @{bot_username}"))?;
        let key = ChatKey::Private { bot, user: user_id };
        let id = self.alloc_message_id(key, true);
        let msg = Message {
            message_id: id,
            from: self.user(user_id),
            chat: self.private_chat(user_id),
            date: self.now_unix(),
            edit_date: None,
            message_thread_id: None,
            reply_to_message: None,
            forum_topic_created: None,
            text: Some(text.to_owned()),
            entities: user_entities(text),
            photo: None,
            document: None,
            caption: None,
            caption_entities: Vec::new(),
            reply_markup: None,
            is_topic_message: None,
        };
        self.dm_opened.insert((bot, user_id));
        let m = msg.clone();
        self.push_update(bot, |u| u.message = Some(m));
        self.messages.insert(
            (key, id),
            Stored {
                msg,
                sender: Sender::User(user_id),
            },
        );
        Ok(id)
    }

    /// A human sends a photo or document (see [`crate::Simulator::user_sends_file`]).
    pub fn user_sends_file(
        &mut self,
        user_id: i64,
        place: SimPlace<'_>,
        reply_to: Option<i64>,
        file: SimFile,
        caption: Option<&str>,
    ) -> Result<(i64, String), String> {
        let (key, thread) = match place {
            SimPlace::Group(thread) => {
                if let Some(t) = thread {
                    if !self.is_topic(i64::from(t)) {
                        return Err(format!("thread {t} is not a topic of the simulated group"));
                    }
                }
                (ChatKey::Group, thread)
            }
            SimPlace::Dm(username) => {
                let bot = self
                    .bot_by_username(username)
                    .ok_or_else(|| format!("no simulated bot @{username}"))?;
                (ChatKey::Private { bot, user: user_id }, None)
            }
        };
        let target = match reply_to {
            None => None,
            Some(id) => Some(
                self.messages
                    .get(&(key, id))
                    .map(|s| s.msg.clone())
                    .ok_or_else(|| format!("no message {id} in that chat"))?,
            ),
        };
        let id = self.alloc_message_id(key, true);
        let serial = self.messages.len();
        let file_id = |size: &str| format!("AgACAgUAAxkB{serial:08}{size}");
        let (photo, document, file_id) = match file {
            SimFile::Photo => {
                let sizes: Vec<FileWire> = [(90, 67, "s"), (320, 240, "m"), (1280, 960, "y")]
                    .into_iter()
                    .map(|(width, height, size)| FileWire {
                        file_id: file_id(size),
                        file_unique_id: format!("AQAD{serial:08}{size}"),
                        file_name: None,
                        mime_type: None,
                        width: Some(width),
                        height: Some(height),
                        file_size: u64::from(width * height / 10),
                    })
                    .collect();
                let largest = file_id("y");
                (Some(sizes), None, largest)
            }
            SimFile::Document(name) => {
                let id = format!("BQACAgUAAxkB{serial:08}d");
                let document = FileWire {
                    file_id: id.clone(),
                    file_unique_id: format!("AgAD{serial:08}d"),
                    mime_type: Some(if name.ends_with(".pdf") {
                        "application/pdf".to_owned()
                    } else {
                        "application/octet-stream".to_owned()
                    }),
                    file_name: Some(name),
                    width: None,
                    height: None,
                    file_size: 48_213,
                };
                (None, Some(document), id)
            }
        };
        let (chat, reply_to_message) = match key {
            ChatKey::Group => (self.group_chat(), self.group_reply(thread, target.as_ref())),
            ChatKey::Private { .. } => (
                self.private_chat(user_id),
                target.as_ref().map(Message::as_reply_target),
            ),
        };
        let msg = Message {
            message_id: id,
            from: self.user(user_id),
            chat,
            date: self.now_unix(),
            edit_date: None,
            message_thread_id: thread,
            reply_to_message,
            forum_topic_created: None,
            text: None,
            entities: Vec::new(),
            photo,
            document,
            caption: caption.map(str::to_owned),
            caption_entities: caption.map(user_entities).unwrap_or_default(),
            reply_markup: None,
            is_topic_message: thread.map(|_| true),
        };
        let audience = match key {
            ChatKey::Group => self.group_audience(&msg),
            ChatKey::Private { bot, .. } => {
                self.dm_opened.insert((bot, user_id));
                vec![bot]
            }
        };
        for bot in audience {
            let m = msg.clone();
            self.push_update(bot, |u| u.message = Some(m));
        }
        self.messages.insert(
            (key, id),
            Stored {
                msg,
                sender: Sender::User(user_id),
            },
        );
        Ok((id, file_id))
    }

    /// A human taps an inline button of one of the bot's messages.
    pub fn user_taps(
        &mut self,
        user_id: i64,
        bot_username: &str,
        chat_id: i64,
        message_id: i64,
        data: &str,
    ) -> Result<String, String> {
        let bot = self
            .bot_by_username(bot_username)
            .ok_or_else(|| format!("no simulated bot @{bot_username}"))?;
        let key = if chat_id == self.group.chat_id {
            ChatKey::Group
        } else {
            ChatKey::Private { bot, user: chat_id }
        };
        let stored = self
            .messages
            .get(&(key, message_id))
            .ok_or_else(|| format!("no message {message_id} in chat {chat_id}"))?;
        if stored.sender != Sender::Bot(bot) {
            return Err(format!(
                "message {message_id} in chat {chat_id} was not sent by @{bot_username}"
            ));
        }
        let message = stored.msg.clone();
        let id = self.next_callback.to_string();
        self.next_callback += 1;
        self.callbacks.insert(
            id.clone(),
            CallbackRt {
                bot,
                answered: false,
            },
        );
        let query = CallbackQuery {
            id: id.clone(),
            from: self.user(user_id),
            message: Some(message),
            chat_instance: chat_instance(chat_id, self.bots[bot].cfg.user_id),
            data: data.to_owned(),
        };
        self.push_update(bot, |u| u.callback_query = Some(query));
        Ok(id)
    }

    // ----- Bot API methods -------------------------------------------------------------------

    pub fn get_me(&self, bot: usize) -> Me {
        let cfg = &self.bots[bot].cfg;
        Me {
            id: cfg.user_id,
            is_bot: true,
            first_name: cfg.first_name.clone(),
            username: cfg.username.clone(),
            can_join_groups: true,
            can_read_all_group_messages: cfg.can_read_all_group_messages,
            supports_inline_queries: false,
            supports_guest_queries: false,
            can_connect_to_business: false,
            has_main_web_app: false,
            has_topics_enabled: false,
            allows_users_to_create_topics: false,
            can_manage_bots: false,
        }
    }

    /// `getChatMember` in the group: where `user_id` stands. The bot must be in the group
    /// itself; any other chat is not found (see [`crate::Simulator::remove_bot_from_group`]).
    /// Configured users are members, the simulator's bots are where the tests put them, anyone
    /// else has left.
    pub fn get_chat_member(&self, bot: usize, p: &Params) -> Result<ChatMember, ApiError> {
        // The server reads `user_id` before it looks at the chat.
        let user_id = p
            .int("user_id")
            .ok()
            .flatten()
            .filter(|id| *id > 0)
            .ok_or_else(|| ApiError::bad("invalid user_id specified"))?;
        let chat_id = match p.int("chat_id") {
            Ok(Some(id)) => id,
            Ok(None) => return Err(ApiError::bad("chat_id is empty")),
            Err(()) => return Err(ApiError::bad("chat not found")),
        };
        if chat_id != self.group.chat_id {
            return Err(ApiError::bad("chat not found"));
        }
        self.group_access(bot)?;
        let (user, membership) = match self.bots.iter().position(|b| b.cfg.user_id == user_id) {
            Some(other) => (self.bot_user(other), self.bots[other].membership),
            None => match self.users.get(&user_id) {
                Some(u) => (human(u), Membership::Member),
                // Not remembered: asking about someone does not make them known.
                None => {
                    let stranger = self.strangers.get(&user_id).map_or_else(
                        || User {
                            id: user_id,
                            is_bot: false,
                            first_name: format!("User {user_id}"),
                            last_name: None,
                            username: None,
                            language_code: None,
                        },
                        human,
                    );
                    (stranger, Membership::Left)
                }
            },
        };
        Ok(chat_member(user, membership))
    }

    /// `sendChatAction`: `true`, with the checks of `sendMessage` on the chat and the thread;
    /// nothing is posted or recorded.
    pub fn send_chat_action(&self, bot: usize, p: &Params) -> Result<bool, ApiError> {
        // The server checks the action before the chat.
        let action = p.string("action").unwrap_or_default().to_ascii_lowercase();
        if !CHAT_ACTIONS.contains(&action.as_str()) {
            return Err(ApiError::bad("wrong parameter action in request"));
        }
        let (key, _) = self.resolve_chat(bot, p)?;
        self.thread(key, p)?;
        Ok(true)
    }

    /// The chat a bot addresses with `chat_id`.
    fn resolve_chat(&self, bot: usize, p: &Params) -> Result<(ChatKey, i64), ApiError> {
        let chat_id = match p.int("chat_id") {
            Ok(Some(id)) => id,
            Ok(None) => return Err(ApiError::bad("chat_id is empty")),
            Err(()) => return Err(ApiError::bad("chat not found")),
        };
        if chat_id == self.group.chat_id {
            self.group_access(bot)?;
            return Ok((ChatKey::Group, chat_id));
        }
        if chat_id <= 0 {
            return Err(ApiError::bad("chat not found"));
        }
        if self.bots.iter().any(|b| b.cfg.user_id == chat_id) {
            return Err(ApiError::forbidden("bot can't send messages to bots"));
        }
        if self.deactivated.contains(&chat_id) {
            return Err(ApiError::forbidden("user is deactivated"));
        }
        if self.blocked.contains(&(bot, chat_id)) {
            return Err(ApiError::forbidden("bot was blocked by the user"));
        }
        let started =
            self.users.contains_key(&chat_id) && !self.never_started.contains(&(bot, chat_id));
        if started || self.dm_opened.contains(&(bot, chat_id)) {
            return Ok((ChatKey::Private { bot, user: chat_id }, chat_id));
        }
        Err(ApiError::forbidden(
            "bot can't initiate conversation with a user",
        ))
    }

    /// The bot may act in the group only while it is in it, as on Telegram (the group is a
    /// private supergroup: even reading needs membership).
    fn group_access(&self, bot: usize) -> Result<(), ApiError> {
        match self.bots[bot].membership {
            Membership::Kicked => Err(ApiError::forbidden(
                "bot was kicked from the supergroup chat",
            )),
            Membership::Left => Err(ApiError::forbidden(
                "bot is not a member of the supergroup chat",
            )),
            _ => Ok(()),
        }
    }

    /// `message_thread_id` of a call into chat `key`: a topic of the group (one deleted is not
    /// found any more), never a private chat.
    fn thread(&self, key: ChatKey, p: &Params) -> Result<Option<i64>, ApiError> {
        let thread = p
            .int("message_thread_id")
            .map_err(|()| ApiError::bad(THREAD_NOT_FOUND))?;
        if let Some(t) = thread {
            if key != ChatKey::Group || !self.is_topic(t) {
                return Err(ApiError::bad(THREAD_NOT_FOUND));
            }
        }
        Ok(thread)
    }

    fn check_rate(&mut self, bot: usize, chat_id: i64, now: Instant) -> Result<(), ApiError> {
        if !self.rate_limits {
            return Ok(());
        }
        let is_group = chat_id == self.group.chat_id;
        let now = self.limits_frozen_at.unwrap_or(now);
        self.limiter
            .check(bot, chat_id, is_group, now)
            .map_err(|secs| {
                self.too_many += 1;
                ApiError::too_many(secs)
            })
    }

    /// `sendMessage`. With `commit == false` the answer is computed but nothing is stored,
    /// recorded or counted (the `Timeout` fault).
    pub fn send_message(
        &mut self,
        bot: usize,
        p: &Params,
        commit: bool,
        now: Instant,
    ) -> Result<Message, ApiError> {
        self.send(bot, p, commit, now, None)
    }

    /// `sendDocument`: a document (uploaded, or an earlier `file_id` sent again) with an
    /// optional HTML caption of at most 1024 units; otherwise as [`State::send_message`].
    pub fn send_document(
        &mut self,
        bot: usize,
        p: &Params,
        commit: bool,
        now: Instant,
    ) -> Result<Message, ApiError> {
        let document = match (p.upload("document"), p.string("document")) {
            (Some(upload), _) => SentDocument {
                file_name: upload.file_name.clone(),
                content: upload.content.clone(),
            },
            (None, Some(file_id)) if !file_id.trim().is_empty() => SentDocument {
                file_name: file_id,
                content: Vec::new(),
            },
            _ => return Err(ApiError::bad("there is no document in the request")),
        };
        self.send(bot, p, commit, now, Some(document))
    }

    /// A new message of the bot: text, or a document with a caption.
    fn send(
        &mut self,
        bot: usize,
        p: &Params,
        commit: bool,
        now: Instant,
        document: Option<SentDocument>,
    ) -> Result<Message, ApiError> {
        let (key, chat_id) = self.resolve_chat(bot, p)?;
        let raw_text = match &document {
            None => p.string("text").unwrap_or_default(),
            Some(_) => p.string("caption").unwrap_or_default(),
        };
        let parse_mode = p.string("parse_mode").filter(|m| !m.is_empty());
        let (text, entities) = match &document {
            None => self.render(&raw_text, parse_mode.as_deref())?,
            Some(_) if raw_text.trim().is_empty() => (String::new(), Vec::new()),
            Some(_) => {
                let (caption, entities) = self.render(&raw_text, parse_mode.as_deref())?;
                if utf16_len(&caption) > MAX_CAPTION {
                    return Err(ApiError::bad("message caption is too long"));
                }
                (caption, entities)
            }
        };
        let (markup, raw_markup) = parse_markup(p)?;

        let mut thread = self.thread(key, p)?;
        if key == ChatKey::Group
            && self.bots[bot].membership
                == (Membership::Restricted {
                    can_send_messages: false,
                })
        {
            return Err(ApiError::bad(
                "not enough rights to send text messages to the chat",
            ));
        }

        let reply_params = p
            .json("reply_parameters")
            .map_err(|()| ApiError::bad("can't parse reply parameters JSON object"))?;
        let reply_to = match &reply_params {
            Some(rp) => Some(
                rp.get("message_id")
                    .and_then(value_int)
                    .ok_or_else(|| ApiError::bad("message to be replied not found"))?,
            ),
            None => p
                .int("reply_to_message_id")
                .map_err(|()| ApiError::bad("message to be replied not found"))?,
        };
        let allow_without_reply = reply_params
            .as_ref()
            .and_then(|rp| rp.get("allow_sending_without_reply"))
            .and_then(value_bool)
            .or_else(|| p.boolean("allow_sending_without_reply"))
            .unwrap_or(false);
        let target = match reply_to {
            None => None,
            Some(id) => match self.messages.get(&(key, id)) {
                Some(s) => Some(s.msg.clone()),
                None if allow_without_reply => None,
                None => return Err(ApiError::bad("message to be replied not found")),
            },
        };
        if thread.is_none() {
            // A reply to a message in a topic lands in that topic.
            thread = target
                .as_ref()
                .and_then(|t| t.message_thread_id)
                .map(i64::from);
        }
        let thread = thread.and_then(|t| i32::try_from(t).ok());

        if commit {
            self.check_rate(bot, chat_id, now)?;
        }

        let message_id = self.alloc_message_id(key, commit);
        let reply_to_message = match key {
            ChatKey::Group => self.group_reply(thread, target.as_ref()),
            ChatKey::Private { .. } => target.as_ref().map(Message::as_reply_target),
        };
        let msg = Message {
            message_id,
            from: self.bot_user(bot),
            chat: self.chat_for(key),
            date: self.now_unix(),
            edit_date: None,
            message_thread_id: thread,
            reply_to_message,
            forum_topic_created: None,
            photo: None,
            document: None,
            caption: None,
            caption_entities: Vec::new(),
            text: None,
            entities: Vec::new(),
            reply_markup: markup,
            is_topic_message: thread.map(|_| true),
        };
        let mut msg = msg;
        match &document {
            None => {
                msg.text = Some(text);
                msg.entities = entities;
            }
            Some(sent) => {
                let file_id = self.file_id(&sent.file_name, &sent.content);
                msg.document = Some(FileWire {
                    file_unique_id: format!("u{file_id}"),
                    file_id,
                    file_name: Some(sent.file_name.clone()),
                    mime_type: None,
                    width: None,
                    height: None,
                    file_size: sent.content.len() as u64,
                });
                if !text.is_empty() {
                    msg.caption = Some(text);
                    msg.caption_entities = entities;
                }
            }
        }
        if commit {
            self.messages.insert(
                (key, message_id),
                Stored {
                    msg: msg.clone(),
                    sender: Sender::Bot(bot),
                },
            );
            let method = if document.is_some() {
                "sendDocument"
            } else {
                "sendMessage"
            };
            self.record(
                bot, method, &msg, raw_text, parse_mode, reply_to, raw_markup, now,
            );
            if let Some(sent) = self.sent.last_mut() {
                sent.document = document;
            }
        }
        Ok(msg)
    }

    /// `editMessageText`, with the same `commit` meaning as [`State::send_message`].
    pub fn edit_message_text(
        &mut self,
        bot: usize,
        p: &Params,
        commit: bool,
        now: Instant,
    ) -> Result<Message, ApiError> {
        if p.get("inline_message_id").is_some() {
            return Err(ApiError::bad("message to edit not found"));
        }
        let (key, chat_id) = self.resolve_chat(bot, p)?;
        let message_id = match p.int("message_id") {
            Ok(Some(id)) => id,
            Ok(None) => return Err(ApiError::bad("message identifier is not specified")),
            Err(()) => return Err(ApiError::bad("message to edit not found")),
        };
        let current = match self.messages.get(&(key, message_id)) {
            None => return Err(ApiError::bad("message to edit not found")),
            Some(s) if s.sender != Sender::Bot(bot) => {
                return Err(ApiError::bad("message can't be edited"))
            }
            Some(s) => s.msg.clone(),
        };
        let raw_text = p.string("text").unwrap_or_default();
        let parse_mode = p.string("parse_mode").filter(|m| !m.is_empty());
        let (text, entities) = self.render(&raw_text, parse_mode.as_deref())?;
        // Without `reply_markup`, an edit removes the inline keyboard, as on Telegram.
        let (markup, raw_markup) = parse_markup(p)?;
        if current.text.as_deref() == Some(text.as_str())
            && current.entities == entities
            && current.reply_markup == markup
        {
            return Err(ApiError::bad(NOT_MODIFIED));
        }
        if commit {
            self.check_rate(bot, chat_id, now)?;
        }
        let mut msg = current;
        msg.text = Some(text);
        msg.entities = entities;
        msg.reply_markup = markup;
        msg.edit_date = Some(self.now_unix());
        if commit {
            if let Some(stored) = self.messages.get_mut(&(key, message_id)) {
                stored.msg = msg.clone();
            }
            self.record(
                bot,
                "editMessageText",
                &msg,
                raw_text,
                parse_mode,
                None,
                raw_markup,
                now,
            );
        }
        Ok(msg)
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        bot: usize,
        method: &str,
        msg: &Message,
        text: String,
        parse_mode: Option<String>,
        reply_to_message_id: Option<i64>,
        reply_markup: Option<Value>,
        now: Instant,
    ) {
        self.limiter
            .record(bot, msg.chat.id, self.limits_frozen_at.unwrap_or(now));
        self.sent.push(SentRecord {
            bot: self.bots[bot].cfg.username.clone(),
            method: method.to_owned(),
            chat_id: msg.chat.id,
            thread_id: msg.message_thread_id,
            message_id: msg.message_id,
            text,
            parse_mode,
            reply_to_message_id,
            reply_markup,
            document: None,
            at: now,
        });
    }

    /// A `file_id` for a file's bytes: the same bytes get the same id, as Telegram reuses one.
    fn file_id(&self, name: &str, content: &[u8]) -> String {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        name.hash(&mut hasher);
        content.hash(&mut hasher);
        format!("BQACAgUAAxkB{:016x}", hasher.finish())
    }

    /// `answerCallbackQuery`: each query of this bot can be answered once.
    pub fn answer_callback(
        &mut self,
        bot: usize,
        p: &Params,
        commit: bool,
    ) -> Result<bool, ApiError> {
        let id = p.string("callback_query_id").unwrap_or_default();
        let text = p.string("text").filter(|t| !t.is_empty());
        if text
            .as_deref()
            .is_some_and(|t| utf16_len(t) > MAX_CALLBACK_ANSWER)
        {
            return Err(ApiError::bad("MESSAGE_TOO_LONG"));
        }
        match self.callbacks.get_mut(&id) {
            Some(cb) if cb.bot == bot && !cb.answered => {
                if commit {
                    cb.answered = true;
                    self.callback_answers.push(CallbackAnswer {
                        bot: self.bots[bot].cfg.username.clone(),
                        callback_query_id: id,
                        text,
                        show_alert: p.boolean("show_alert").unwrap_or(false),
                        url: p.string("url").filter(|u| !u.is_empty()),
                        at: Instant::now(),
                    });
                }
                Ok(true)
            }
            _ => Err(ApiError::bad(QUERY_TOO_OLD)),
        }
    }

    /// `setMyCommands` (the scope is ignored: the last call wins).
    pub fn set_my_commands(
        &mut self,
        bot: usize,
        p: &Params,
        commit: bool,
    ) -> Result<bool, ApiError> {
        let list = match p.json("commands") {
            Ok(Some(Value::Array(list))) => list,
            Ok(None) => return Err(ApiError::bad("parameter \"commands\" is required")),
            _ => return Err(ApiError::bad("can't parse commands JSON object")),
        };
        let mut commands = Vec::with_capacity(list.len());
        for c in &list {
            let command = c.get("command").and_then(Value::as_str).unwrap_or("");
            let description = c.get("description").and_then(Value::as_str).unwrap_or("");
            let command = command.strip_prefix('/').unwrap_or(command);
            let valid = (1..=32).contains(&command.len())
                && command
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid {
                return Err(ApiError::bad("BOT_COMMAND_INVALID"));
            }
            if !(1..=256).contains(&description.chars().count()) {
                return Err(ApiError::bad("command description is empty or too long"));
            }
            commands.push((command.to_owned(), description.to_owned()));
        }
        if commands.len() > 100 {
            return Err(ApiError::bad("too many commands"));
        }
        if commit {
            self.bots[bot].commands = Some(commands);
        }
        Ok(true)
    }

    pub fn get_my_commands(&self, bot: usize) -> Vec<BotCommand> {
        self.bots[bot]
            .commands
            .iter()
            .flatten()
            .map(|(command, description)| BotCommand {
                command: command.clone(),
                description: description.clone(),
            })
            .collect()
    }

    pub fn count_too_many(&mut self) {
        self.too_many += 1;
    }
}

/// The `ChatMember` object of `user` standing as `membership` in the forum supergroup.
fn chat_member(user: User, membership: Membership) -> ChatMember {
    let status = match membership {
        Membership::Member => "member",
        Membership::Administrator => "administrator",
        Membership::Restricted { .. } => "restricted",
        Membership::Left => "left",
        Membership::Kicked => "kicked",
    };
    // What a bot promoted with the usual rights of a team bot holds; a bot cannot edit its own
    // rights, and no one here can edit another admin's.
    let administrator = (membership == Membership::Administrator).then_some(AdministratorRights {
        can_be_edited: false,
        can_manage_chat: true,
        can_change_info: false,
        can_delete_messages: true,
        can_invite_users: true,
        can_restrict_members: false,
        can_pin_messages: true,
        can_manage_topics: true,
        can_promote_members: false,
        can_manage_video_chats: false,
        can_post_stories: false,
        can_edit_stories: false,
        can_delete_stories: false,
        can_manage_tags: false,
        is_anonymous: false,
        can_manage_voice_chats: false,
    });
    // Restricted forever; sending anything follows `can_send_messages`.
    let restricted = match membership {
        Membership::Restricted { can_send_messages } => Some(RestrictedPermissions {
            until_date: 0,
            can_send_messages,
            can_send_media_messages: can_send_messages,
            can_send_audios: can_send_messages,
            can_send_documents: can_send_messages,
            can_send_photos: can_send_messages,
            can_send_videos: can_send_messages,
            can_send_video_notes: can_send_messages,
            can_send_voice_notes: can_send_messages,
            can_send_polls: can_send_messages,
            can_send_other_messages: can_send_messages,
            can_add_web_page_previews: can_send_messages,
            can_react_to_messages: true,
            can_edit_tag: false,
            can_change_info: false,
            can_invite_users: false,
            can_pin_messages: false,
            can_manage_topics: false,
            is_member: true,
        }),
        _ => None,
    };
    ChatMember {
        user,
        status,
        administrator,
        restricted,
    }
}

fn human(u: &SimUser) -> User {
    User {
        id: u.user_id,
        is_bot: false,
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        username: u.username.clone(),
        language_code: Some("en".into()),
    }
}

/// A stable, opaque `chat_instance` for (chat, bot).
fn chat_instance(chat_id: i64, bot_id: i64) -> String {
    let mixed = (chat_id as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(bot_id as u64);
    format!("-{}", mixed >> 1)
}

/// Visible text and entities of `raw` under `parse_mode`, with Telegram's checks on them.
/// `known` finds the user of a `tg://user?id=` link (a `text_mention`); a link to a user the
/// simulator does not know is left out, the text staying.
pub(crate) fn render(
    raw: &str,
    parse_mode: Option<&str>,
    known: &dyn Fn(i64) -> Option<User>,
) -> Result<(String, Vec<Entity>), ApiError> {
    let (text, entities) = match parse_mode.map(str::to_ascii_lowercase).as_deref() {
        None => (raw.to_owned(), Vec::new()),
        Some("html") => {
            let parsed = html::parse(raw)
                .map_err(|e| ApiError::bad(format!("can't parse entities: {e}")))?;
            let entities = parsed
                .entities
                .into_iter()
                .filter_map(|span| wire_entity(span, known))
                .collect();
            (parsed.text, entities)
        }
        // The simulator implements HTML only (all herald sends).
        Some(_) => return Err(ApiError::bad("unsupported parse_mode")),
    };
    if text.trim().is_empty() {
        return Err(ApiError::bad("message text is empty"));
    }
    if utf16_len(&text) > MAX_TEXT {
        return Err(ApiError::bad("message is too long"));
    }
    Ok((text, entities))
}

/// A parsed entity as the Bot API writes it.
fn wire_entity(span: html::Span, known: &dyn Fn(i64) -> Option<User>) -> Option<Entity> {
    let entity = |kind| Entity::new(kind, span.offset, span.length);
    Some(match span.kind {
        html::Kind::Bold => entity("bold"),
        html::Kind::Italic => entity("italic"),
        html::Kind::Underline => entity("underline"),
        html::Kind::Strikethrough => entity("strikethrough"),
        html::Kind::Spoiler => entity("spoiler"),
        html::Kind::Code => entity("code"),
        html::Kind::Pre => entity("pre"),
        html::Kind::PreCode(language) => Entity {
            language: Some(language),
            ..entity("pre")
        },
        html::Kind::TextUrl(url) => Entity {
            url: Some(url),
            ..entity("text_link")
        },
        html::Kind::MentionName(user_id) => {
            let mut user = known(user_id)?;
            user.language_code = None;
            Entity {
                user: Some(user),
                ..entity("text_mention")
            }
        }
        html::Kind::CustomEmoji(id) => Entity {
            custom_emoji_id: Some(id.to_string()),
            ..entity("custom_emoji")
        },
        html::Kind::BlockQuote => entity("blockquote"),
        html::Kind::ExpandableBlockQuote => entity("expandable_blockquote"),
    })
}

/// The button fields that make a button do something.
const BUTTON_ACTIONS: &[&str] = &[
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
];

/// `reply_markup`: the inline keyboard echoed on the message (other markups are accepted but
/// not echoed, as on Telegram), and the raw value for [`SentRecord`].
pub(crate) fn parse_markup(
    p: &Params,
) -> Result<(Option<InlineKeyboard>, Option<Value>), ApiError> {
    let bad_markup = || ApiError::bad("can't parse reply keyboard markup JSON object");
    let raw = match p.json("reply_markup") {
        Ok(None) => return Ok((None, None)),
        Ok(Some(v)) => v,
        Err(()) => return Err(bad_markup()),
    };
    let Some(obj) = raw.as_object() else {
        return Err(bad_markup());
    };
    let Some(rows) = obj.get("inline_keyboard") else {
        return Ok((None, Some(raw)));
    };
    let rows = rows.as_array().ok_or_else(bad_markup)?;
    let mut keyboard = Vec::with_capacity(rows.len());
    for row in rows {
        let not_an_object = || {
            ApiError::bad(
                "can't parse inline keyboard button: InlineKeyboardButton must be an Object",
            )
        };
        let row = row.as_array().ok_or_else(not_an_object)?;
        let mut out = Vec::with_capacity(row.len());
        for button in row {
            let b = button.as_object().ok_or_else(not_an_object)?;
            let text = b.get("text").and_then(Value::as_str).ok_or_else(|| {
                ApiError::bad(
                    "can't parse inline keyboard button: Field \"text\" must be of type String",
                )
            })?;
            if text.is_empty() {
                return Err(ApiError::bad("BUTTON_TEXT_INVALID"));
            }
            if let Some(data) = b.get("callback_data") {
                let data = data.as_str().unwrap_or("");
                if data.is_empty() || data.len() > MAX_CALLBACK_DATA {
                    return Err(ApiError::bad("BUTTON_DATA_INVALID"));
                }
            }
            if !BUTTON_ACTIONS.iter().any(|k| b.contains_key(*k)) {
                return Err(ApiError::bad(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
                ));
            }
            out.push(Button {
                text: text.to_owned(),
                action: b
                    .iter()
                    .filter(|(k, _)| k.as_str() != "text")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            });
        }
        if !out.is_empty() {
            keyboard.push(out);
        }
    }
    let markup = (!keyboard.is_empty()).then_some(InlineKeyboard {
        inline_keyboard: keyboard,
    });
    Ok((markup, Some(raw)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A state with one bot (`a_bot`) and one user (42).
    fn one_bot_and_user_42() -> State {
        let config = SimConfig {
            bots: vec![SimBot {
                token: "1:a".into(),
                user_id: 1,
                username: "a_bot".into(),
                first_name: "A".into(),
                can_read_all_group_messages: false,
            }],
            users: vec![SimUser {
                user_id: 42,
                first_name: "U".into(),
                last_name: None,
                username: None,
            }],
            ..SimConfig::default()
        };
        let watchers: Arc<[watch::Sender<u64>]> = vec![watch::channel(0).0].into();
        State::new(config, watchers)
    }

    #[test]
    fn length_is_counted_on_visible_utf16_text() {
        let nobody = |_: i64| None;
        let ok = "a".repeat(MAX_TEXT);
        assert!(render(&ok, None, &nobody).is_ok());
        assert!(render(&format!("<b>{ok}</b>"), Some("HTML"), &nobody).is_ok());
        let emoji = "😀".repeat(MAX_TEXT / 2);
        assert!(render(&emoji, None, &nobody).is_ok());
        assert_eq!(
            render(&format!("{emoji}x"), None, &nobody)
                .unwrap_err()
                .description,
            "Bad Request: message is too long"
        );
        assert_eq!(
            render("<b> </b>", Some("html"), &nobody)
                .unwrap_err()
                .description,
            "Bad Request: message text is empty"
        );
    }

    #[test]
    fn blocked_deactivated_and_long_answers_get_telegrams_texts() {
        let mut st = one_bot_and_user_42();
        fn send_hi(st: &mut State) -> Result<(), (u16, String)> {
            let p = Params::from_json(json!({"chat_id": 42, "text": "hi"}));
            st.send_message(0, &p, true, Instant::now())
                .map(|_| ())
                .map_err(|e| (e.code, e.description))
        }
        assert_eq!(send_hi(&mut st), Ok(()));
        st.user_blocks(42, 0);
        assert_eq!(
            send_hi(&mut st),
            Err((403, "Forbidden: bot was blocked by the user".into()))
        );
        st.deactivate_user(42);
        assert_eq!(
            send_hi(&mut st),
            Err((403, "Forbidden: user is deactivated".into()))
        );
        let p = Params::from_json(json!({"callback_query_id": "x", "text": "é".repeat(201)}));
        assert_eq!(
            st.answer_callback(0, &p, true).unwrap_err().description,
            "Bad Request: MESSAGE_TOO_LONG"
        );
    }

    #[test]
    fn a_document_caption_is_held_to_1024_visible_units() {
        let mut st = one_bot_and_user_42();
        let mut send = |caption: String| {
            let p = Params::from_json(json!({
                "chat_id": 42, "document": "BQACAgIAAx0", "caption": caption, "parse_mode": "HTML"
            }));
            st.send_document(0, &p, true, Instant::now())
                .map(|m| m.caption)
                .map_err(|e| e.description)
        };
        // Tags count as what they show: 1,024 visible units fit, one more does not.
        let fits = format!("<b>{}</b>", "😀".repeat(512));
        assert!(send(fits).is_ok());
        assert_eq!(
            send(format!("{}x", "😀".repeat(512))),
            Err("Bad Request: message caption is too long".to_owned())
        );
        let p = Params::from_json(json!({"chat_id": 42, "caption": "no file"}));
        assert_eq!(
            st.send_document(0, &p, true, Instant::now())
                .unwrap_err()
                .description,
            "Bad Request: there is no document in the request"
        );
    }

    /// tdlib's `TQueue::get`: an offset more than 10 past the next update id confirms
    /// nothing, so updates numbered anew (lower) after a quiet week are not lost to a client's
    /// old offset.
    #[test]
    fn an_offset_in_the_future_confirms_nothing() {
        let mut st = one_bot_and_user_42();
        st.restart_update_ids(0, 5_000);
        st.push_update(0, |_| {});
        st.push_update(0, |_| {});
        st.poll_begin(0, Some(FIRST_UPDATE_ID + 7));
        assert_eq!(st.pending(0), 2, "an offset from before the restart");
        st.poll_begin(0, Some(5_001));
        assert_eq!(st.pending(0), 1);
        st.poll_begin(0, Some(5_002 + 10));
        assert_eq!(st.pending(0), 0, "up to 10 past the next id still confirms");
    }

    #[test]
    fn markup_rules() {
        let p = Params::from_json(json!({"reply_markup": {"inline_keyboard": [[
            {"text": "ok", "callback_data": "x".repeat(64)}
        ]]}}));
        assert!(parse_markup(&p).unwrap().0.is_some());
        let p = Params::from_json(json!({"reply_markup": {"inline_keyboard": [[
            {"text": "ok", "callback_data": "x".repeat(65)}
        ]]}}));
        assert_eq!(
            parse_markup(&p).unwrap_err().description,
            "Bad Request: BUTTON_DATA_INVALID"
        );
        let p =
            Params::from_json(json!({"reply_markup": {"inline_keyboard": [[{"text": "plain"}]]}}));
        assert!(parse_markup(&p).is_err());
        let p = Params::from_json(json!({"reply_markup": {"remove_keyboard": true}}));
        assert_eq!(parse_markup(&p).unwrap().0, None);
        let p = Params::from_json(json!({"reply_markup": "not json"}));
        assert!(parse_markup(&p).is_err());
    }
}
