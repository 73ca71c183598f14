//! Loopback fakes of the services herald talks to, for herald's tests, benchmarks and
//! `herald sandbox`: a Telegram Bot API simulator (this module), a fake Xero ([`xero`]), a
//! fake Talenox ([`talenox`]) and a fake Mindbody for GymBooker's class bookings
//! ([`mindbody`]).
//!
//! A crate of its own so that the product never carries them: herald depends on it only
//! through its `sandbox` feature and as a dev-dependency, and this crate depends on nothing of
//! herald. The fakes are written from Telegram's and Xero's behaviour (`tests/fixtures/`),
//! never from herald's code, so a mistake in herald cannot be mirrored by its own fake.
//!
//! The simulator is a real HTTP peer: herald (and teloxide) talk to it through a base URL
//! exactly as they talk to `api.telegram.org`: `{base}/bot{token}/{method}`, method names in
//! any case, JSON or form bodies (or a query string), and Telegram's envelopes and error
//! wordings back (`tests/fixtures/telegram/`). Tests drive the humans (a message in a topic, a
//! reply, an edit, a DM, a button tap) and inspect what the bots sent.
//!
//! What it models:
//! - the team's forum supergroup with its topics (each with its creation message, whose id is
//!   the thread id) and the General topic (no thread id); private chats with users;
//! - per-bot update queues for `getUpdates` (offset confirms, long poll, 409 for the older of
//!   two concurrent pollers) and privacy mode (see [`Simulator::user_says_in_topic`]);
//! - `sendMessage`/`editMessageText` with Telegram's HTML parsing (its own parser, after
//!   tdlib's), the 4096 limit on visible UTF-16 text, 64-byte `callback_data`, thread and chat
//!   checks, users who blocked a bot or deleted their account; the 200-unit limit on a
//!   button-tap answer;
//! - the probes of a health check: `getChatMember` in the group and `sendChatAction`, with
//!   Telegram's refusals for a bot removed, kicked or restricted in the group
//!   ([`Simulator::remove_bot_from_group`], [`Simulator::restrict_bot`]), a deleted topic
//!   ([`Simulator::delete_topic`]) and a user who never started the bot
//!   ([`Simulator::user_never_started`]);
//! - flood limits with 429 + `retry_after` when turned on (see [`SimConfig::rate_limits`]);
//! - faults on demand ([`Fault`]).
//!
//! Faults and herald's outbox: [`Fault::Timeout`] (held, then never posted) and
//! [`Fault::ReplyLost`] (posted, then the connection is closed before any answer byte) look the
//! same from the client: the request was written and no answer came. herald cannot tell them
//! apart and must classify both as **ambiguous** (never resend on its own). `ReplyLost` is
//! implemented with a per-connection kill switch: the message is stored and recorded in
//! [`Simulator::sent`], then every write on that TCP connection fails, so the client gets a
//! closed connection (reqwest: "connection closed before message completed") right away, with no
//! need to wait for its timeout.
//!
//! Deviations from Telegram, on purpose: only `parse_mode=HTML` is implemented (others answer
//! `Bad Request: unsupported parse_mode`); `<tg-time>` is not; no auto-detected entities on bot
//! messages; a `tg://user?id=` link to a user the simulator does not know gets no entity;
//! multipart uploads are not supported.
//!
//! Tokens are never logged: the token is in the request path, so the path is not logged either,
//! and [`SimBot`]'s `Debug` hides it.

mod api;
mod clock;
mod entities;
mod html;
pub mod mindbody;
mod ratelimit;
mod server;
mod state;
pub mod talenox;
mod wire;
pub mod xero;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use self::clock::SimClock;
use self::server::Shared;
use self::state::{Membership, State};

/// What the simulator knows: bots, the forum group, humans.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The bots the simulator knows (by token).
    pub bots: Vec<SimBot>,
    /// The team's forum supergroup.
    pub group: SimGroup,
    /// Humans that exist (members and strangers). Every listed user can be messaged privately
    /// (unless [`Simulator::user_never_started`]); others only after they wrote to the bot.
    /// Listed users are members of the group for `getChatMember`.
    pub users: Vec<SimUser>,
    /// Enforce Telegram's flood limits with 429s (off by default).
    pub rate_limits: bool,
    /// Source of `date` fields; the system clock if `None`.
    pub clock: Option<SimClock>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            bots: Vec::new(),
            group: SimGroup {
                chat_id: -1_002_233_445_566,
                title: "Acme Ops".into(),
                topics: Vec::new(),
            },
            users: Vec::new(),
            rate_limits: false,
            clock: None,
        }
    }
}

/// A bot identity.
#[derive(Clone)]
pub struct SimBot {
    pub token: String,
    pub user_id: i64,
    pub username: String,
    pub first_name: String,
    /// Privacy mode off: the bot sees every group message.
    pub can_read_all_group_messages: bool,
}

impl fmt::Debug for SimBot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimBot")
            .field("token", &"<redacted>")
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("first_name", &self.first_name)
            .field(
                "can_read_all_group_messages",
                &self.can_read_all_group_messages,
            )
            .finish()
    }
}

/// The forum supergroup. The General topic always exists and has no thread id.
#[derive(Debug, Clone)]
pub struct SimGroup {
    pub chat_id: i64,
    pub title: String,
    pub topics: Vec<SimTopic>,
}

/// A forum topic; `thread_id` is the id of its creation message.
#[derive(Debug, Clone)]
pub struct SimTopic {
    pub thread_id: i32,
    pub name: String,
}

/// A human.
#[derive(Debug, Clone)]
pub struct SimUser {
    pub user_id: i64,
    pub first_name: String,
    pub last_name: Option<String>,
    pub username: Option<String>,
}

/// One accepted `sendMessage` or `editMessageText`.
#[derive(Debug, Clone)]
pub struct SentRecord {
    /// The bot's username.
    pub bot: String,
    /// `"sendMessage"` or `"editMessageText"`.
    pub method: String,
    pub chat_id: i64,
    pub thread_id: Option<i32>,
    pub message_id: i64,
    /// As sent: the raw HTML source when `parse_mode` is HTML.
    pub text: String,
    pub parse_mode: Option<String>,
    pub reply_to_message_id: Option<i64>,
    pub reply_markup: Option<serde_json::Value>,
    /// The document of a `sendDocument` (then `text` is its caption).
    pub document: Option<SentDocument>,
    /// When the simulator accepted it (monotonic).
    pub at: Instant,
}

/// A document a bot sent: its file name and bytes, as uploaded.
#[derive(Clone, PartialEq, Eq)]
pub struct SentDocument {
    pub file_name: String,
    pub content: Vec<u8>,
}

impl fmt::Debug for SentDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentDocument")
            .field("file_name", &self.file_name)
            .field("bytes", &self.content.len())
            .finish()
    }
}

/// Where a human posts (see [`Simulator::user_sends_file`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimPlace<'a> {
    /// The group: a topic, or General (None).
    Group(Option<i32>),
    /// A private chat with the bot of this username.
    Dm(&'a str),
}

/// A file a human sends (see [`Simulator::user_sends_file`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimFile {
    /// A photo, with Telegram's usual sizes (the last is the largest).
    Photo,
    /// A document, with its file name.
    Document(String),
}

/// One accepted `answerCallbackQuery`.
#[derive(Debug, Clone)]
pub struct CallbackAnswer {
    pub bot: String,
    pub callback_query_id: String,
    pub text: Option<String>,
    pub show_alert: bool,
    pub url: Option<String>,
    pub at: Instant,
}

/// A `sendMessage`, `editMessageText` or `answerCallbackQuery` the simulator refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The bot's username.
    pub bot: String,
    pub method: String,
    pub code: u16,
    /// Telegram's wording, e.g. `Bad Request: message is too long`.
    pub description: String,
}

/// A fault for the next call of one bot to one method.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this 5xx at once: nginx's HTML page for 502/503/504, a Telegram-style JSON
    /// envelope for other codes. Nothing is processed or recorded.
    ServerError(u16),
    /// Hold the request this long, then answer as if processed, without storing or recording
    /// anything: a client that gave up sees a timeout, and nothing was posted. (`getUpdates`
    /// is simply delayed.)
    Timeout(Duration),
    /// Process and record the call (a message appears in [`Simulator::sent`]), then close the
    /// connection before any byte of the answer.
    ReplyLost,
    /// Answer this error envelope (HTTP status = `code`), without processing anything.
    /// `retry_after` also sets the `Retry-After` header; a 429 counts in
    /// [`Simulator::too_many_requests`].
    Api {
        code: u16,
        description: String,
        retry_after: Option<u32>,
        migrate_to_chat_id: Option<i64>,
    },
}

impl Fault {
    /// A Bot API error envelope with no retry or migration parameters.
    pub fn api(code: u16, description: &str) -> Fault {
        Fault::Api {
            code,
            description: description.to_owned(),
            retry_after: None,
            migrate_to_chat_id: None,
        }
    }
}

/// A running simulator. Cheap to clone: all clones share one state.
#[derive(Clone)]
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

fn validate(config: &SimConfig) -> io::Result<()> {
    for (i, b) in config.bots.iter().enumerate() {
        if b.token.is_empty() || b.username.is_empty() {
            return Err(invalid(format!("bot #{i} needs a token and a username")));
        }
        for other in &config.bots[..i] {
            if other.token == b.token {
                return Err(invalid(format!(
                    "@{} and @{} share a token",
                    other.username, b.username
                )));
            }
            if other.username.eq_ignore_ascii_case(&b.username) || other.user_id == b.user_id {
                return Err(invalid(format!("bot @{} is configured twice", b.username)));
            }
        }
    }
    if config.group.chat_id >= 0 {
        return Err(invalid("a supergroup's chat id is negative".into()));
    }
    for (i, t) in config.group.topics.iter().enumerate() {
        if t.thread_id <= 1 {
            return Err(invalid(format!(
                "topic {:?}: thread ids start at 2 (1 is General, which has no thread id)",
                t.name
            )));
        }
        if config.group.topics[..i]
            .iter()
            .any(|o| o.thread_id == t.thread_id)
        {
            return Err(invalid(format!("thread id {} is used twice", t.thread_id)));
        }
    }
    Ok(())
}

impl Simulator {
    /// Binds `127.0.0.1:0` and serves in a tokio task until [`Simulator::shutdown`] (or until
    /// the runtime stops). Fails on an inconsistent config (duplicate tokens, usernames or
    /// thread ids; thread id 1, which is General; a non-negative group chat id).
    pub async fn start(config: SimConfig) -> io::Result<Simulator> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Like [`Simulator::start`] on a chosen address (e.g. a fixed port for `herald sandbox`).
    pub async fn start_on(config: SimConfig, addr: SocketAddr) -> io::Result<Simulator> {
        validate(&config)?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let watchers: Arc<[watch::Sender<u64>]> =
            config.bots.iter().map(|_| watch::channel(0u64).0).collect();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(config, Arc::clone(&watchers))),
            watchers,
            shutdown: watch::channel(false).0,
        });
        tokio::spawn(server::serve(listener, Arc::clone(&shared)));
        tracing::debug!(%addr, "telegram simulator listening");
        Ok(Simulator { shared, addr })
    }

    /// `http://127.0.0.1:PORT`, to use as the Bot API base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving: pending long polls answer at once, new connections are refused.
    pub fn shutdown(&self) {
        self.shared.lock().shutdown = true;
        self.shared.shutdown.send_replace(true);
    }

    // ----- injection ---------------------------------------------------------------------------

    /// A human posts `text` in a topic (`None` = General) and returns its message id.
    ///
    /// Bots with `can_read_all_group_messages` (see [`Simulator::set_privacy_mode`]) and
    /// administrators ([`Simulator::promote_bot`]) receive it; bots in privacy mode receive it
    /// only if it starts with a command (with an `@suffix`, only the addressed bot), mentions
    /// `@theirusername`, or replies to one of their messages. Bots out of the group
    /// ([`Simulator::remove_bot_from_group`]) receive nothing. A message in a topic carries
    /// `reply_to_message` = the topic's creation message, as on Telegram.
    ///
    /// # Panics
    /// If `thread_id` is not a topic of the group (a mistake in the test).
    pub fn user_says_in_topic(&self, user_id: i64, thread_id: Option<i32>, text: &str) -> i64 {
        let r = self.shared.lock().user_says(user_id, thread_id, None, text);
        r.unwrap_or_else(|e| panic!("telegram simulator: {e}"))
    }

    /// A human replies to message `reply_to_message_id` of the group, in a topic or General.
    ///
    /// # Panics
    /// If the thread is not a topic or the message does not exist.
    pub fn user_replies(
        &self,
        user_id: i64,
        thread_id: Option<i32>,
        reply_to_message_id: i64,
        text: &str,
    ) -> i64 {
        let r = self
            .shared
            .lock()
            .user_says(user_id, thread_id, Some(reply_to_message_id), text);
        r.unwrap_or_else(|e| panic!("telegram simulator: {e}"))
    }

    /// A human edits their message (in the group, else in a private chat): `edited_message`
    /// updates for the bots that may see it.
    ///
    /// # Panics
    /// If the user has no such message.
    pub fn user_edits(&self, user_id: i64, message_id: i64, new_text: &str) {
        let r = self.shared.lock().user_edits(user_id, message_id, new_text);
        r.unwrap_or_else(|e| panic!("telegram simulator: {e}"))
    }

    /// A human writes to a bot in private (chat id = user id). Only that bot sees it.
    ///
    /// # Panics
    /// If no bot has that username.
    pub fn user_dms(&self, user_id: i64, bot_username: &str, text: &str) -> i64 {
        let r = self.shared.lock().user_dms(user_id, bot_username, text);
        r.unwrap_or_else(|e| panic!("telegram simulator: {e}"))
    }

    /// A human sends a photo or document, with an optional caption, at `place` (a topic or
    /// General of the group, or a private chat with a bot), optionally replying to a message
    /// of that chat. Returns the message id and the file's `file_id`
    /// (of the largest size, for a photo). Who sees it is decided as for a text message, the
    /// caption counting as its text.
    ///
    /// # Panics
    /// If the thread, the bot or the replied message does not exist.
    pub fn user_sends_file(
        &self,
        user_id: i64,
        place: SimPlace<'_>,
        reply_to_message_id: Option<i64>,
        file: SimFile,
        caption: Option<&str>,
    ) -> (i64, String) {
        let r =
            self.shared
                .lock()
                .user_sends_file(user_id, place, reply_to_message_id, file, caption);
        r.unwrap_or_else(|e| panic!("telegram simulator: {e}"))
    }

    /// A human taps a button with `data` on message `message_id` of `chat_id`, sent by
    /// `bot_username`. Only that bot gets the `callback_query`; returns its id.
    ///
    /// # Panics
    /// If the bot is unknown, or the message does not exist or was not sent by that bot.
    pub fn user_taps(
        &self,
        user_id: i64,
        bot_username: &str,
        chat_id: i64,
        message_id: i64,
        data: &str,
    ) -> String {
        let r = self
            .shared
            .lock()
            .user_taps(user_id, bot_username, chat_id, message_id, data);
        r.unwrap_or_else(|e| panic!("telegram simulator: {e}"))
    }

    /// Queues `update` for the bot as it is (any JSON object: malformed shapes, unknown kinds),
    /// with the next `update_id` set; returns that id. A `callback_query` with a string `id`
    /// can be answered like a real tap, and a private message opens the DM with its chat.
    ///
    /// # Panics
    /// If no bot has that username, or `update` is not a JSON object.
    pub fn push_raw_update(&self, bot_username: &str, update: serde_json::Value) -> i64 {
        let mut st = self.shared.lock();
        let Some(bot) = st.bot_by_username(bot_username) else {
            drop(st);
            panic!("telegram simulator: no bot @{bot_username}");
        };
        let r = st.push_raw(bot, update);
        drop(st);
        r.unwrap_or_else(|e| panic!("telegram simulator: {e}"))
    }

    /// `user_id` blocks the bot `bot_username`: its messages to them are refused from now on
    /// with 403 `Forbidden: bot was blocked by the user`.
    pub fn user_blocks(&self, user_id: i64, bot_username: &str) {
        let mut st = self.shared.lock();
        let Some(bot) = st.bot_by_username(bot_username) else {
            drop(st);
            panic!("telegram simulator: no bot @{bot_username}");
        };
        st.user_blocks(user_id, bot);
    }

    /// `user_id` deletes their account: messages to them are refused from now on with 403
    /// `Forbidden: user is deactivated`.
    pub fn deactivate_user(&self, user_id: i64) {
        self.shared.lock().deactivate_user(user_id);
    }

    /// `user_id` never pressed Start in a private chat with `bot_username`: the bot's
    /// `sendMessage`/`sendChatAction` to them answer 403 `Forbidden: bot can't initiate
    /// conversation with a user` until the user writes to the bot ([`Simulator::user_dms`]).
    /// By default every configured user has started every bot.
    ///
    /// # Panics
    /// If no bot has that username.
    pub fn user_never_started(&self, user_id: i64, bot_username: &str) {
        self.with_bot(bot_username, |st, bot| st.user_never_started(user_id, bot));
    }

    // ----- the group, as its admins change it --------------------------------------------------

    /// An admin removes `bot_username` from the group (`kicked`: bans it). From now on its calls
    /// on the group (`sendMessage`, `editMessageText`, `sendChatAction`, `getChatMember`) answer
    /// 403 `Forbidden: bot is not a member of the supergroup chat`, or `Forbidden: bot was
    /// kicked from the supergroup chat` when kicked, and it receives no group updates. Other
    /// bots' `getChatMember` see it as `left` or `kicked`.
    ///
    /// # Panics
    /// If no bot has that username.
    pub fn remove_bot_from_group(&self, bot_username: &str, kicked: bool) {
        let membership = if kicked {
            Membership::Kicked
        } else {
            Membership::Left
        };
        self.with_bot(bot_username, |st, bot| st.set_membership(bot, membership));
    }

    /// An admin adds `bot_username` (back) to the group as a plain member: no restriction, no
    /// admin rights. Updates of messages posted while it was out are not delivered.
    ///
    /// # Panics
    /// If no bot has that username.
    pub fn add_bot_to_group(&self, bot_username: &str) {
        self.with_bot(bot_username, |st, bot| {
            st.set_membership(bot, Membership::Member);
        });
    }

    /// An admin restricts `bot_username` in the group (forever). `getChatMember` then says
    /// `"status": "restricted"` with `can_send_messages` (and every other sending permission)
    /// as given; with `false`, `sendMessage` to the group answers 400 `Bad Request: not enough
    /// rights to send text messages to the chat`. The bot stays in the group and keeps
    /// receiving its updates. [`Simulator::add_bot_to_group`] lifts the restriction.
    ///
    /// # Panics
    /// If no bot has that username.
    pub fn restrict_bot(&self, bot_username: &str, can_send_messages: bool) {
        self.with_bot(bot_username, |st, bot| {
            st.set_membership(bot, Membership::Restricted { can_send_messages });
        });
    }

    /// An admin makes `bot_username` an administrator of the group (`false`: a plain member
    /// again). `getChatMember` then says `"status": "administrator"` with its rights, and, as
    /// on Telegram, it receives every group message whatever its privacy mode.
    ///
    /// # Panics
    /// If no bot has that username.
    pub fn promote_bot(&self, bot_username: &str, admin: bool) {
        let membership = if admin {
            Membership::Administrator
        } else {
            Membership::Member
        };
        self.with_bot(bot_username, |st, bot| st.set_membership(bot, membership));
    }

    /// An admin deletes the topic `thread_id` with all its messages: `sendMessage` and
    /// `sendChatAction` with that `message_thread_id` answer 400 `Bad Request: message thread
    /// not found`, and its messages can no longer be edited or replied to.
    ///
    /// # Panics
    /// If `thread_id` is not a topic of the group (a mistake in the test).
    pub fn delete_topic(&self, thread_id: i32) {
        let r = self.shared.lock().delete_topic(thread_id);
        r.unwrap_or_else(|e| panic!("telegram simulator: {e}"));
    }

    /// Turns privacy mode of `bot_username` on or off (BotFather's `/setprivacy`): `getMe`'s
    /// `can_read_all_group_messages` becomes `!on`, and group messages reach the bot
    /// accordingly (see [`Simulator::user_says_in_topic`]). On Telegram a bot may have to be
    /// re-added to a group before the change applies there; the simulator applies it at once.
    ///
    /// # Panics
    /// If no bot has that username.
    pub fn set_privacy_mode(&self, bot_username: &str, on: bool) {
        self.with_bot(bot_username, |st, bot| st.set_privacy_mode(bot, on));
    }

    /// Runs `f` on the state with the index of the bot `bot_username`.
    ///
    /// # Panics
    /// If no bot has that username.
    fn with_bot<R>(&self, bot_username: &str, f: impl FnOnce(&mut State, usize) -> R) -> R {
        let mut st = self.shared.lock();
        let Some(bot) = st.bot_by_username(bot_username) else {
            drop(st);
            panic!("telegram simulator: no bot @{bot_username}");
        };
        f(&mut st, bot)
    }

    // ----- inspection --------------------------------------------------------------------------

    /// Every refused `sendMessage`, `editMessageText` and `answerCallbackQuery`, in order.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.shared.lock().rejections.clone()
    }

    /// Every accepted `sendMessage`/`editMessageText`, all bots, in arrival order.
    pub fn sent(&self) -> Vec<SentRecord> {
        self.shared.lock().sent.clone()
    }

    /// How many messages [`Simulator::sent`] holds, without copying them.
    pub fn sent_count(&self) -> usize {
        self.shared.lock().sent.len()
    }

    /// [`Simulator::sent`] of one bot (username, with or without `@`, any case).
    pub fn sent_by(&self, bot_username: &str) -> Vec<SentRecord> {
        let wanted = bot_username.trim_start_matches('@');
        self.shared
            .lock()
            .sent
            .iter()
            .filter(|r| r.bot.eq_ignore_ascii_case(wanted))
            .cloned()
            .collect()
    }

    /// Polls [`Simulator::sent`] until `pred` holds (`Ok`) or `timeout` passes (`Err`), giving
    /// the records seen last either way.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&[SentRecord]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<SentRecord>, Vec<SentRecord>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let sent = self.sent();
            if pred(&sent) {
                return Ok(sent);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(sent);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits up to `timeout` for the bot's answer to callback query `query_id` (as returned
    /// by [`Simulator::user_taps`]); its toast text, or `None` if no answer came.
    pub async fn wait_for_callback_answer(
        &self,
        query_id: &str,
        timeout: Duration,
    ) -> Option<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let answer = self
                .callback_answers()
                .into_iter()
                .find(|a| a.callback_query_id == query_id);
            if let Some(answer) = answer {
                return Some(answer.text.unwrap_or_default());
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// How many requests reached a method (any case), all bots, rejected ones included.
    pub fn calls(&self, method: &str) -> usize {
        self.shared.lock().calls(method)
    }

    /// Every accepted `answerCallbackQuery`, in arrival order.
    pub fn callback_answers(&self) -> Vec<CallbackAnswer> {
        self.shared.lock().callback_answers.clone()
    }

    /// The commands of the bot's last `setMyCommands`, if any.
    pub fn my_commands(&self, bot_username: &str) -> Option<Vec<(String, String)>> {
        let st = self.shared.lock();
        st.bot_by_username(bot_username)
            .and_then(|b| st.my_commands(b))
    }

    /// How many 429s were answered (flood limits and injected 429 faults).
    pub fn too_many_requests(&self) -> usize {
        self.shared.lock().too_many
    }

    /// Numbers the next update of `bot_username` `next_id`, as Telegram does after a week
    /// without updates for the bot (the Bot API: "If there are no new updates for at least a
    /// week, then identifier of the next update will be chosen randomly instead of
    /// sequentially"). A `next_id` below the bot's last offset is the case that matters: the
    /// server then reads that offset as "in the future", confirms nothing and answers from
    /// the oldest waiting update.
    ///
    /// # Panics
    /// If `bot_username` is not a bot of the simulator, or updates are still waiting for it
    /// (a week without updates leaves none).
    pub fn restart_update_ids(&self, bot_username: &str, next_id: i64) {
        let mut st = self.shared.lock();
        let bot = st
            .bot_by_username(bot_username)
            .unwrap_or_else(|| panic!("telegram simulator: no bot {bot_username}"));
        assert_eq!(
            st.pending(bot),
            0,
            "telegram simulator: updates still wait for {bot_username}"
        );
        st.restart_update_ids(bot, next_id);
    }

    /// Updates waiting (not yet confirmed by an offset) for a bot; 0 for an unknown bot.
    pub fn pending_updates(&self, bot_username: &str) -> usize {
        let st = self.shared.lock();
        st.bot_by_username(bot_username)
            .map_or(0, |b| st.pending(b))
    }

    /// How many `getUpdates` a bot has made (a long poll counts once it has begun); 0 for an
    /// unknown bot.
    pub fn polls(&self, bot_username: &str) -> u64 {
        let st = self.shared.lock();
        st.bot_by_username(bot_username).map_or(0, |b| st.polls(b))
    }

    /// The group's chat id.
    pub fn group_chat_id(&self) -> i64 {
        self.shared.lock().group_chat_id()
    }

    // ----- faults ------------------------------------------------------------------------------

    /// Arms `fault` for the next call of `bot_username` to `method` (any case). Each fault fires
    /// once; several armed for the same call fire in the order given.
    ///
    /// # Panics
    /// If no bot has that username.
    pub fn inject_fault(&self, bot_username: &str, method: &str, fault: Fault) {
        let mut st = self.shared.lock();
        let Some(bot) = st.bot_by_username(bot_username) else {
            drop(st);
            panic!("telegram simulator: no bot @{bot_username}");
        };
        st.add_fault(bot, method, fault);
    }

    /// Turns flood limits on or off.
    pub fn set_rate_limits(&self, on: bool) {
        self.shared.lock().rate_limits = on;
    }

    /// For tests of the flood limits themselves: from now on the limits take time as standing
    /// still, until [`Simulator::advance_rate_limit_clock`] moves it (herald's own pacing runs
    /// on real time, so a fleet under test needs the limits on real time too).
    pub fn freeze_rate_limit_clock(&self) {
        let mut st = self.shared.lock();
        if st.limits_frozen_at.is_none() {
            st.limits_frozen_at = Some(Instant::now());
        }
    }

    /// Moves the frozen flood-limit clock forward by `by` (freezing it first if needed).
    pub fn advance_rate_limit_clock(&self, by: Duration) {
        let mut st = self.shared.lock();
        let at = st.limits_frozen_at.unwrap_or_else(Instant::now);
        st.limits_frozen_at = Some(at + by);
    }
}
