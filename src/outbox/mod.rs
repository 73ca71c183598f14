//! The outbox: every outgoing Telegram call is a row, written in the transaction of the change
//! that caused it, with its text frozen. One sender per identity delivers rows with
//! at-most-once automatic sending:
//!
//! 1. `pending -> sending` commits before any byte goes to Telegram;
//! 2. certainly-not-sent outcomes (connect failure, 429) go back to `pending` and retry;
//! 3. a rejection (400/403) is `failed` and the operator is told;
//! 4. anything uncertain is `ambiguous`, never resent on its own, and the operator decides
//!    (told in grouped DMs, at most one per bot per minute: [`ambiguous`]);
//! 5. at start, every row still `sending` (the process died mid-send) becomes `ambiguous`.

pub mod alerts;
pub mod ambiguous;
#[cfg(feature = "fault-injection")]
pub mod injected;
pub mod pacing;
pub mod post;
pub mod sender;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::SqliteConnection;

use crate::store::audit::{self, AuditEntry};
use crate::store::signals::{self, Wake};
use crate::text::{self, TextKind, TextProblem, CALLBACK_ANSWER_LIMIT};

/// Row id in the outbox.
pub type OutboxId = i64;

/// Delivery priority within one bot: lower goes first (`outbox.lane`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, sqlx::Type)]
#[repr(i64)]
pub enum Lane {
    /// Operator alerts, approval traffic, replies to people waiting on the bot.
    Urgent = 0,
    /// Scheduled posts.
    Scheduled = 1,
    /// Everything that can wait.
    Bulk = 2,
}

/// Where a row is in the protocol above (`outbox.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting to be sent (again).
    Pending,
    /// Claimed by its sender; the call may be under way.
    Sending,
    /// Telegram took it (or it was marked sent by an operator).
    Sent,
    /// Telegram refused it; the operator was told.
    Failed,
    /// It may or may not have arrived; only an operator resends it.
    Ambiguous,
    /// An operator gave up on it.
    Cancelled,
}

impl OutboxState {
    /// The stored name, as the operator reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sending => "sending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
            OutboxState::Ambiguous => "ambiguous",
            OutboxState::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for OutboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which Telegram call a stored row makes (`outbox.kind`); [`MessageKind`] carries the
/// call's own fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
pub enum OutboxKind {
    Send,
    Edit,
    AnswerCallback,
}

impl OutboxKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Send => "send",
            OutboxKind::Edit => "edit",
            OutboxKind::AnswerCallback => "answer_callback",
        }
    }
}

impl std::fmt::Display for OutboxKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What Telegram call a row makes.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageKind {
    Send {
        reply_to_message_id: Option<i64>,
    },
    Edit {
        message_id: i64,
    },
    /// An edit of a message this bot enqueued, by its outbox row: for a message that may not
    /// be sent yet. The sender reads its Telegram id when it sends the edit.
    EditOf {
        outbox_id: OutboxId,
    },
    AnswerCallback {
        callback_query_id: String,
    },
}

/// A message to enqueue. The text is final HTML (already rendered and escaped).
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    pub kind: MessageKind,
    pub lane: Lane,
    pub chat_id: i64,
    pub thread_id: Option<i32>,
    pub text: String,
    pub reply_markup: Option<Value>,
    /// `(job, slot)` for scheduled posts: unique together with `part`.
    pub job_slot: Option<(String, String)>,
    pub part: i64,
    /// A file to upload with a `Send` (`sendDocument`); `text` is then its caption.
    pub document: Option<Document>,
}

/// A file sent as a document: its name as the member sees it, and its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    pub file_name: String,
    pub content: Vec<u8>,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Document")
            .field("file_name", &self.file_name)
            .field("bytes", &self.content.len())
            .finish()
    }
}

impl MessageKind {
    /// The stored kind of this call.
    pub fn stored(&self) -> OutboxKind {
        match self {
            MessageKind::Send { .. } => OutboxKind::Send,
            MessageKind::Edit { .. } | MessageKind::EditOf { .. } => OutboxKind::Edit,
            MessageKind::AnswerCallback { .. } => OutboxKind::AnswerCallback,
        }
    }
}

impl OutgoingMessage {
    /// A new message in a chat (`thread_id` None = General topic or a private chat).
    pub fn new(chat_id: i64, thread_id: Option<i32>, text: impl Into<String>) -> Self {
        Self {
            kind: MessageKind::Send {
                reply_to_message_id: None,
            },
            lane: Lane::Urgent,
            chat_id,
            thread_id,
            text: text.into(),
            reply_markup: None,
            job_slot: None,
            part: 0,
            document: None,
        }
    }

    /// A direct message to a user (private chat id = user id).
    pub fn direct(user_id: i64, text: impl Into<String>) -> Self {
        Self::new(user_id, None, text)
    }

    pub fn replying_to(mut self, message_id: i64) -> Self {
        self.kind = MessageKind::Send {
            reply_to_message_id: Some(message_id),
        };
        self
    }

    pub fn in_lane(mut self, lane: Lane) -> Self {
        self.lane = lane;
        self
    }

    /// Part `part` of what job `job` posted for `slot` (a slot key): unique, so a slot can
    /// never be posted twice.
    pub fn for_slot(mut self, job: &str, slot: &str, part: i64) -> Self {
        self.job_slot = Some((job.to_owned(), slot.to_owned()));
        self.part = part;
        self
    }

    pub fn with_markup(mut self, markup: Value) -> Self {
        self.reply_markup = Some(markup);
        self
    }

    /// Sends `document` with the text as its caption (`sendDocument`).
    pub fn with_document(mut self, document: Document) -> Self {
        self.document = Some(document);
        self
    }

    /// An answer to a button tap (`text`, plain, shown as a toast; empty for none), cut to
    /// Telegram's 200 units: every toast is one short line, so this is its one fitting.
    pub fn callback_answer(callback_query_id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            kind: MessageKind::AnswerCallback {
                callback_query_id: callback_query_id.into(),
            },
            ..Self::new(
                0,
                None,
                text::cut_plain(&text.into(), CALLBACK_ANSWER_LIMIT),
            )
        }
    }

    /// The Telegram limit its text is held to.
    pub fn text_kind(&self) -> TextKind {
        match self.kind {
            MessageKind::AnswerCallback { .. } => TextKind::CallbackAnswer,
            MessageKind::Send { .. } if self.document.is_some() => TextKind::Caption,
            MessageKind::Send { .. } | MessageKind::Edit { .. } | MessageKind::EditOf { .. } => {
                TextKind::Message
            }
        }
    }
}

/// Why a message could not be enqueued.
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("outbox write failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error("post {job} at {slot} part {part} was already enqueued")]
    DuplicateSlot {
        job: String,
        slot: String,
        part: i64,
    },
    /// Telegram would refuse the text (too long, invalid HTML, empty): refused where it was
    /// made, instead of costing a 400 at send time.
    #[error("{bot}: message not enqueued, Telegram would refuse it: {problem}")]
    Text { bot: String, problem: TextProblem },
}

impl crate::store::retry::DbFailure for EnqueueError {
    fn db_error(&self) -> Option<&sqlx::Error> {
        match self {
            Self::Db(e) => Some(e),
            Self::DuplicateSlot { .. } | Self::Text { .. } => None,
        }
    }
}

/// Writes `message` as a `pending` row for `bot`. Callers go through `Poster<I>::enqueue`
/// (or the console channel in [`alerts`]), which fix `bot` by type. Callers fit their text
/// first ([`crate::text`]); this checks it, the one check every outgoing text passes: valid
/// Telegram HTML, something visible, and within the limit of its kind.
pub(crate) async fn enqueue(
    conn: &mut SqliteConnection,
    bot: &'static str,
    at: DateTime<Utc>,
    message: OutgoingMessage,
) -> Result<OutboxId, EnqueueError> {
    if let Err(problem) = text::check(message.text_kind(), &message.text) {
        tracing::error!(bot, %problem, "a message Telegram would refuse was not enqueued");
        return Err(EnqueueError::Text {
            bot: bot.to_owned(),
            problem,
        });
    }
    insert(conn, bot, at, message).await
}

/// [`enqueue`] without its text check: the row and its audit entry, and the mark that wakes
/// `bot`'s sender once the transaction commits ([`crate::store::signals`]).
async fn insert(
    conn: &mut SqliteConnection,
    bot: &'static str,
    at: DateTime<Utc>,
    message: OutgoingMessage,
) -> Result<OutboxId, EnqueueError> {
    signals::mark(conn, Wake::Sender(bot));
    let kind = message.kind.stored();
    let (reply_to, target, callback) = match &message.kind {
        MessageKind::Send {
            reply_to_message_id,
        } => (*reply_to_message_id, None, None),
        MessageKind::Edit { message_id } => (None, Some(*message_id), None),
        MessageKind::EditOf { .. } => (None, None, None),
        MessageKind::AnswerCallback { callback_query_id } => {
            (None, None, Some(callback_query_id.clone()))
        }
    };
    let target_outbox_id = match &message.kind {
        MessageKind::EditOf { outbox_id } => Some(*outbox_id),
        _ => None,
    };
    let (job, slot) = match &message.job_slot {
        Some((job, slot)) => (Some(job.clone()), Some(slot.clone())),
        None => (None, None),
    };
    let now = at.to_rfc3339();
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO outbox (bot, kind, lane, chat_id, thread_id, reply_to_message_id,
             target_message_id, callback_query_id, text, reply_markup, job, slot, part,
             created_at, updated_at, document_name, document, target_outbox_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (job, slot, part) DO NOTHING
         RETURNING id",
    )
    .bind(bot)
    .bind(kind)
    .bind(message.lane)
    .bind(message.chat_id)
    .bind(message.thread_id)
    .bind(reply_to)
    .bind(target)
    .bind(callback)
    .bind(&message.text)
    .bind(message.reply_markup.as_ref().map(Value::to_string))
    .bind(&job)
    .bind(&slot)
    .bind(message.part)
    .bind(&now)
    .bind(&now)
    .bind(message.document.as_ref().map(|d| d.file_name.as_str()))
    .bind(message.document.as_ref().map(|d| d.content.as_slice()))
    .bind(target_outbox_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = inserted else {
        return Err(EnqueueError::DuplicateSlot {
            job: job.unwrap_or_default(),
            slot: slot.unwrap_or_default(),
            part: message.part,
        });
    };
    let mut entry = AuditEntry::new("outbox", "enqueued").bot(bot);
    entry.chat_id = Some(message.chat_id);
    entry.thread_id = message.thread_id;
    entry.job = job;
    entry.detail = Some(format!("row {id} ({kind})"));
    audit::record(conn, at, &entry).await?;
    Ok(id)
}

/// How many rows each bot has in the states still to settle or to look at (pending, sending,
/// ambiguous), as (bot, state, rows): the outbox depth of `/metrics`.
pub async fn depth(conn: &mut SqliteConnection) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT bot, state, COUNT(*) FROM outbox WHERE state IN (?, ?, ?)
         GROUP BY bot, state ORDER BY bot, state",
    )
    .bind(OutboxState::Pending)
    .bind(OutboxState::Sending)
    .bind(OutboxState::Ambiguous)
    .fetch_all(conn)
    .await
}

/// One outbox row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub bot: String,
    pub kind: OutboxKind,
    pub lane: Lane,
    pub chat_id: i64,
    pub thread_id: Option<i64>,
    pub reply_to_message_id: Option<i64>,
    pub target_message_id: Option<i64>,
    pub callback_query_id: Option<String>,
    pub text: String,
    pub reply_markup: Option<String>,
    pub job: Option<String>,
    pub slot: Option<String>,
    pub part: i64,
    pub state: OutboxState,
    pub attempts: i64,
    pub telegram_message_id: Option<i64>,
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub not_before: Option<String>,
    /// The file name of the document this `send` uploads (its bytes are read when sending).
    #[sqlx(default)]
    pub document_name: Option<String>,
    /// The outbox row of the message this edit changes, when it was enqueued before that
    /// message was sent (its Telegram id is read when the edit is sent).
    #[sqlx(default)]
    pub target_outbox_id: Option<OutboxId>,
}

/// Moves row `id` to `state`. A row made `pending` again (an operator's *Resend* or *Retry*)
/// wakes its bot's sender once the transaction commits.
pub(crate) async fn set_state(
    conn: &mut SqliteConnection,
    id: OutboxId,
    state: OutboxState,
    error: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let bot: Option<String> = sqlx::query_scalar(
        "UPDATE outbox SET state = ?, error = ?, updated_at = ? WHERE id = ? RETURNING bot",
    )
    .bind(state)
    .bind(error)
    .bind(at.to_rfc3339())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    if let (OutboxState::Pending, Some(bot)) = (state, bot) {
        signals::mark(conn, Wake::sender_of(&bot));
    }
    Ok(())
}

pub(crate) async fn audit_transition(
    conn: &mut SqliteConnection,
    row: &OutboxRow,
    decision: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut entry = AuditEntry::new("outbox", decision).bot(&row.bot);
    entry.chat_id = Some(row.chat_id);
    entry.thread_id = row.thread_id.and_then(|t| i32::try_from(t).ok());
    entry.job = row.job.clone();
    entry.detail = Some(match &row.error {
        Some(error) => format!("row {}: {error}", row.id),
        None => format!("row {}", row.id),
    });
    audit::record(conn, at, &entry).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// Every state, kind and lane is stored under the name (or number) the migration's
    /// CHECK allows and the operator reads, and reads back as itself.
    #[tokio::test]
    async fn states_kinds_and_lanes_are_stored_as_the_schema_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let states = [
            (OutboxState::Pending, "pending"),
            (OutboxState::Sending, "sending"),
            (OutboxState::Sent, "sent"),
            (OutboxState::Failed, "failed"),
            (OutboxState::Ambiguous, "ambiguous"),
            (OutboxState::Cancelled, "cancelled"),
        ];
        let kinds = [
            (OutboxKind::Send, "send"),
            (OutboxKind::Edit, "edit"),
            (OutboxKind::AnswerCallback, "answer_callback"),
        ];
        let lanes = [(Lane::Urgent, 0), (Lane::Scheduled, 1), (Lane::Bulk, 2)];
        for (i, (state, state_name)) in states.into_iter().enumerate() {
            let (kind, kind_name) = kinds[i % kinds.len()];
            let (lane, lane_number) = lanes[i % lanes.len()];
            assert_eq!(state.as_str(), state_name);
            assert_eq!(state.to_string(), state_name);
            assert_eq!(kind.as_str(), kind_name);
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO outbox (bot, kind, lane, chat_id, text, state, created_at, updated_at)
                 VALUES ('clawrence', ?, ?, 1, 'x', ?, '', '') RETURNING id",
            )
            .bind(kind)
            .bind(lane)
            .bind(state)
            .fetch_one(store.pool())
            .await
            .unwrap_or_else(|e| panic!("{state_name}/{kind_name}: {e}"));
            let raw: (String, String, i64) =
                sqlx::query_as("SELECT state, kind, lane FROM outbox WHERE id = ?")
                    .bind(id)
                    .fetch_one(store.pool())
                    .await
                    .unwrap();
            assert_eq!(raw, (state_name.into(), kind_name.into(), lane_number));
            let row: OutboxRow = sqlx::query_as("SELECT * FROM outbox WHERE id = ?")
                .bind(id)
                .fetch_one(store.pool())
                .await
                .unwrap();
            assert_eq!((row.state, row.kind, row.lane), (state, kind, lane));
        }
    }

    /// A document's text is its caption, held to 1,024 units at enqueue (Telegram would
    /// answer "message caption is too long"); the same text without a document is a message.
    #[tokio::test]
    async fn a_documents_caption_is_refused_at_enqueue_past_1024_units() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let csv = || Document {
            file_name: "claims.csv".into(),
            content: b"a,b\r\n".to_vec(),
        };
        let long = format!("<b>{}</b>", "é".repeat(1025));
        let as_caption = OutgoingMessage::direct(42, long.clone()).with_document(csv());
        assert_eq!(as_caption.text_kind(), TextKind::Caption);
        let mut conn = store.pool().acquire().await.unwrap();
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let refused = enqueue(&mut conn, "claims", at, as_caption).await;
        assert!(
            matches!(
                &refused,
                Err(EnqueueError::Text {
                    problem: TextProblem::TooLong {
                        units: 1025,
                        limit: 1024
                    },
                    ..
                })
            ),
            "{refused:?}"
        );
        let fitting = OutgoingMessage::direct(42, "é".repeat(1024)).with_document(csv());
        enqueue(&mut conn, "claims", at, fitting)
            .await
            .expect("1,024 units fit");
        let as_message = OutgoingMessage::direct(42, long);
        assert_eq!(as_message.text_kind(), TextKind::Message);
        enqueue(&mut conn, "claims", at, as_message)
            .await
            .expect("a message may be 4,096 units");
        let documents: Vec<Option<String>> =
            sqlx::query_scalar("SELECT document_name FROM outbox ORDER BY id")
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        assert_eq!(documents, [Some("claims.csv".to_owned()), None]);
    }

    #[test]
    fn every_message_kind_has_its_stored_kind() {
        assert_eq!(
            MessageKind::Send {
                reply_to_message_id: None
            }
            .stored(),
            OutboxKind::Send
        );
        assert_eq!(
            MessageKind::Edit { message_id: 1 }.stored(),
            OutboxKind::Edit
        );
        assert_eq!(
            MessageKind::AnswerCallback {
                callback_query_id: "q".into()
            }
            .stored(),
            OutboxKind::AnswerCallback
        );
    }
}
