//! One sender task per identity: picks that bot's next row, commits the claim, makes the
//! Telegram call, and records the outcome, following the protocol in the parent module.
//!
//! Which row goes next: each (chat, thread) is a queue in id order, so order within a thread
//! always holds; among the heads of those queues, the most urgent lane goes first (operator
//! alerts and approvals, then scheduled posts, then bulk), skipping chats whose flood limit
//! has not yet come round ([`super::pacing`]). Rows held by a pause are not candidates. A
//! slow or rate-limited bot only delays itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{json, Value};
use sqlx::SqliteConnection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::alerts::ConsoleChannel;
use super::pacing::{Pacer, RateLimits};
use super::{audit_transition, set_state, OutboxKind, OutboxRow, OutboxState};
use crate::activity::{Activity, Reporter};
use crate::clock::Clock;
use crate::config::secrets::Token;
use crate::faults::{crash_point, CrashPoint};
use crate::identity::{BotIdentity, VerifiedBot};
use crate::store::pauses::{ALLOWED_IN_MODE, UNPAUSED_ROW};
use crate::store::{time_key, Store};
use crate::telegram::{CallError, TelegramClient, Upload};
use crate::telemetry::metrics::{self, SendOutcome};

/// Tunables of a sender.
#[derive(Debug, Clone)]
pub struct SenderSettings {
    /// How long one Telegram call may take before its outcome counts as unknown.
    pub call_timeout: Duration,
    /// First and largest wait after a connection failure.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Telegram's flood limits, kept per bot.
    pub limits: RateLimits,
    /// First wait before an undelivered operator alert is tried again (doubling, up to 32x).
    pub alert_retry: Duration,
}

impl Default for SenderSettings {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            limits: RateLimits::default(),
            alert_retry: Duration::from_secs(30),
        }
    }
}

/// A part of a scheduled post that Telegram refused for good.
#[derive(Debug, Clone, Copy)]
pub struct RefusedPart<'a> {
    pub job: &'a str,
    /// The slot key the run wrote the post for.
    pub slot: &'a str,
    pub part: i64,
    /// Where it was going: a private chat (a user id, no thread) for a DM.
    pub chat_id: i64,
    pub thread_id: Option<i64>,
    /// Telegram's description (naming the new chat when a group was upgraded).
    pub description: &'a str,
}

/// The owner of scheduled posts' slots (the scheduler), told by a sender what became of a
/// post it delivered, in the transaction that records the send's outcome. The sender knows
/// nothing of the scheduler's tables; the fleet hands it the scheduler's own reporter
/// ([`crate::schedule::delivery::SlotDeliveries`]).
pub trait SlotReports: Send + Sync {
    /// Telegram refused part `refused.part` of the post for `refused.slot`.
    fn part_refused<'a>(
        &'a self,
        conn: &'a mut SqliteConnection,
        refused: RefusedPart<'a>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>>;
}

/// How many times an operator alert Telegram refuses for a reason that may pass is tried
/// (about half an hour in all with the default 30 s first wait) before it is left `failed`.
const ALERT_ATTEMPTS: i64 = 6;

/// How many thread heads one look at the outbox considers.
const CANDIDATES: i64 = 64;

/// Delivers one bot's outbox rows.
pub struct Sender {
    bot: &'static str,
    /// The console identity's DMs to operators are never held by a pause.
    is_console: bool,
    token: Token,
    client: TelegramClient,
    store: Store,
    clock: Clock,
    console: ConsoleChannel,
    /// Where a refused part of a scheduled post is reported.
    slots: Arc<dyn SlotReports>,
    /// Raised when a committed transaction wrote a row for this bot, a pause changed, or
    /// another process wrote ([`crate::store::signals`]).
    wake: Arc<Notify>,
    settings: SenderSettings,
    pacer: Pacer,
    /// Operator ids as a JSON array, for the SQL conditions above.
    operators: String,
    /// Diagnose mode: only DMs to operators go out.
    diagnose: bool,
    /// Where this sender reports its looks at the outbox ([`crate::activity`]).
    reporter: Reporter,
}

/// Why a sender stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("{bot}: the outbox could not be read or written: {source}")]
    Db {
        bot: &'static str,
        source: sqlx::Error,
    },
}

/// The oldest unpaused pending row of one (chat, thread): the only row of that thread that
/// may go next, so order within a thread is kept whatever the lanes.
#[derive(Debug, sqlx::FromRow)]
struct Candidate {
    id: i64,
    kind: OutboxKind,
    chat_id: i64,
}

impl Sender {
    /// A sender for `I`, holding `I`'s own token, reporting refused parts of scheduled
    /// posts to `slots`.
    #[allow(clippy::too_many_arguments)]
    pub fn new<I: BotIdentity>(
        verified: &VerifiedBot<I>,
        client: TelegramClient,
        store: Store,
        clock: Clock,
        console: ConsoleChannel,
        slots: Arc<dyn SlotReports>,
        settings: SenderSettings,
    ) -> Self {
        Self {
            bot: I::NAME,
            is_console: console.posts_as::<I>(),
            token: verified.token().clone(),
            client,
            wake: store.signals().sender(I::NAME),
            store,
            clock,
            pacer: Pacer::new(settings.limits.clone()),
            operators: serde_json::to_string(&console.operator_ids()).unwrap_or_default(),
            console,
            slots,
            settings,
            diagnose: false,
            reporter: Reporter::detached(),
        }
    }

    /// Reports every look at the outbox to `activity` (an idle look: nothing sendable).
    pub fn reporting_to(mut self, activity: &Activity) -> Self {
        self.reporter = activity.register(format!("sender {}", self.bot));
        self
    }

    /// In diagnose mode only DMs to operators (and button answers) go out.
    pub fn diagnose(mut self, on: bool) -> Self {
        self.diagnose = on;
        self
    }

    /// Runs until `shutdown` is cancelled. A send in flight is finished first.
    #[tracing::instrument(skip_all, fields(bot = self.bot))]
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), SenderError> {
        let mut backoff = self.settings.backoff_min;
        let bot = self.bot;
        let db = move |source| SenderError::Db { bot, source };
        // Each database step is one unit of work, run again whole after a transient failure.
        // Every write is fenced by the lease (`Store::begin_write`): a sender whose instance
        // was taken over cannot claim or record anything.
        let store = self.store.clone();
        while !shutdown.is_cancelled() {
            let look = self.reporter.look();
            let candidates = store
                .retry("reading the outbox", || self.candidates())
                .await
                .map_err(db)?;
            let now = Instant::now();
            let mut earliest: Option<Instant> = None;
            let mut chosen = None;
            for candidate in &candidates {
                if candidate.kind == OutboxKind::AnswerCallback {
                    chosen = Some(candidate);
                    break;
                }
                let ready = self.pacer.ready_at(candidate.chat_id, now);
                if ready <= now {
                    chosen = Some(candidate);
                    break;
                }
                earliest = Some(earliest.map_or(ready, |e: Instant| e.min(ready)));
            }
            let Some(candidate) = chosen else {
                // Nothing to send now: sleep until a commit gives this bot work, or until the
                // first instant something waiting becomes sendable (a chat's flood limit
                // comes round, a retry's `not_before` arrives). Nothing else wakes it.
                if candidates.is_empty() {
                    self.reporter.idle(look);
                }
                let retry_at = store
                    .retry("reading the outbox", || self.next_retry())
                    .await
                    .map_err(db)?;
                let retry = async {
                    match retry_at {
                        Some(at) => {
                            let wait = (at - self.clock.now()).to_std().unwrap_or_default();
                            self.clock.sleep(wait).await;
                        }
                        None => std::future::pending().await,
                    }
                };
                let pacing = async {
                    match earliest {
                        Some(at) => tokio::time::sleep_until(at.into()).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = self.wake.notified() => {}
                    _ = retry => {}
                    _ = pacing => {}
                    _ = self.reporter.asked() => {}
                }
                continue;
            };
            let claimed = store
                .retry("claiming an outbox row", || self.claim(candidate.id))
                .await
                .map_err(db)?;
            let Some(row) = claimed else {
                // Paused or changed since we looked: look again.
                continue;
            };
            crash_point(CrashPoint::AfterClaim);
            if row.kind != OutboxKind::AnswerCallback {
                self.pacer.record(row.chat_id, Instant::now());
            }
            let outcome = self.call(&row).await;
            if outcome.is_ok() {
                crash_point(CrashPoint::BeforeSentCommit);
            }
            let ((pause, counted), next_backoff) = store
                .retry("recording a send's outcome", || {
                    let (outcome, mut backoff) = (outcome.clone(), backoff);
                    let row = &row;
                    let this = &self;
                    async move {
                        let recorded = this.record(row, outcome, &mut backoff).await?;
                        Ok::<_, sqlx::Error>((recorded, backoff))
                    }
                })
                .await
                .map_err(db)?;
            metrics::process().send(self.bot, counted);
            self.reporter.worked();
            backoff = next_backoff;
            if let Some(pause) = pause {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
        Ok(())
    }

    /// The head row of every thread with pending, unpaused rows: most urgent lane first.
    async fn candidates(&self) -> Result<Vec<Candidate>, sqlx::Error> {
        // Heads are numbered among all pending rows, so a held row keeps its place: nothing
        // behind it in the same thread overtakes it.
        let sql = format!(
            "SELECT id, kind, chat_id FROM (
                 SELECT *, ROW_NUMBER() OVER (PARTITION BY chat_id, IFNULL(thread_id, 0)
                                              ORDER BY id) AS position
                 FROM outbox WHERE bot = ?1 AND state = ?7) AS o
             WHERE position = 1 AND {UNPAUSED_ROW} AND {ALLOWED_IN_MODE}
               AND (o.not_before IS NULL OR o.not_before <= ?4)
             ORDER BY lane, id LIMIT ?2"
        );
        sqlx::query_as(&sql)
            .bind(self.bot)
            .bind(CANDIDATES)
            .bind(self.is_console)
            .bind(time_key(self.clock.now()))
            .bind(&self.operators)
            .bind(self.diagnose)
            .bind(OutboxState::Pending)
            .fetch_all(self.store.pool())
            .await
    }

    /// The clock instant at which this bot's first row held by its `not_before` (a retry)
    /// becomes sendable.
    async fn next_retry(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, sqlx::Error> {
        let next: Option<String> = sqlx::query_scalar(
            "SELECT min(not_before) FROM outbox WHERE bot = ? AND state = ? AND not_before > ?",
        )
        .bind(self.bot)
        .bind(OutboxState::Pending)
        .bind(time_key(self.clock.now()))
        .fetch_one(self.store.pool())
        .await?;
        Ok(next.as_deref().and_then(crate::store::parse_time))
    }

    /// `pending -> sending` for row `id`, committed before anything is sent. None if the row
    /// is no longer pending or a pause now holds it: the pause check and the claim are one
    /// statement, so a committed pause stops the very next send.
    async fn claim(&self, id: i64) -> Result<Option<OutboxRow>, sqlx::Error> {
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        let sql = format!(
            "UPDATE outbox AS o SET state = ?8, attempts = attempts + 1, updated_at = ?1
             WHERE o.id = ?2 AND o.state = ?7 AND {UNPAUSED_ROW} AND {ALLOWED_IN_MODE}
               AND (o.not_before IS NULL OR o.not_before <= ?4)
             RETURNING *"
        );
        let row: Option<OutboxRow> = sqlx::query_as(&sql)
            .bind(now.to_rfc3339())
            .bind(id)
            .bind(self.is_console)
            .bind(time_key(now))
            .bind(&self.operators)
            .bind(self.diagnose)
            .bind(OutboxState::Pending)
            .bind(OutboxState::Sending)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = &row {
            audit_transition(&mut tx, row, "pending -> sending", now).await?;
        }
        tx.commit().await?;
        Ok(row)
    }

    async fn call(&self, row: &OutboxRow) -> Result<Value, CallError> {
        let resolved;
        let row = match (row.target_message_id, row.target_outbox_id) {
            (None, Some(target)) => {
                resolved = self.resolve_edit_target(row, target).await?;
                &resolved
            }
            _ => row,
        };
        let (method, body) = request_for(row);
        let upload = match &row.document_name {
            None => None,
            Some(file_name) => match self.document(row.id).await {
                Ok(content) => Some(Upload {
                    field: "document",
                    file_name: file_name.clone(),
                    content,
                }),
                // Nothing was written to Telegram: certainly not sent, so tried again.
                Err(e) => {
                    return Err(CallError::NotSent(format!(
                        "the document could not be read from the outbox: {e}"
                    )))
                }
            },
        };
        // A message written to Telegram, its answer not yet read: where a kill leaves a row
        // `sending` that Telegram did take.
        let answered = || {
            if row.kind == OutboxKind::Send {
                crash_point(CrashPoint::AfterWrite);
            }
        };
        self.client
            .send_observed(
                &self.token,
                method,
                &body,
                upload,
                self.settings.call_timeout,
                answered,
            )
            .await
    }

    /// `row`, an edit of the message enqueued as row `target`, with that message's Telegram
    /// id. A message that never left (failed, ambiguous, cancelled) cannot be edited: the
    /// edit is refused as Telegram would refuse an edit of a message it does not have.
    async fn resolve_edit_target(
        &self,
        row: &OutboxRow,
        target: i64,
    ) -> Result<OutboxRow, CallError> {
        let read = async {
            let mut conn = self.store.pool().acquire().await?;
            crate::store::sent::telegram_message_id(&mut conn, target).await
        };
        match read.await {
            Ok(Some(message_id)) => {
                let mut resolved = row.clone();
                resolved.target_message_id = Some(message_id);
                Ok(resolved)
            }
            Ok(_) => Err(CallError::Rejected {
                code: 400,
                description: format!(
                    "Bad Request: message to edit not found (outbox row {target} was never sent)"
                ),
                migrate_to_chat_id: None,
            }),
            Err(e) => Err(CallError::NotSent(format!(
                "the edited message's id could not be read from the outbox: {e}"
            ))),
        }
    }

    /// The bytes of the document row `id` uploads.
    async fn document(&self, id: i64) -> Result<Vec<u8>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        let content: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT document FROM outbox WHERE id = ?")
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
        Ok(content.unwrap_or_default())
    }

    /// Stores the outcome of a call. Returns how long this sender should wait before the next,
    /// and the outcome as counted.
    async fn record(
        &self,
        row: &OutboxRow,
        outcome: Result<Value, CallError>,
        backoff: &mut Duration,
    ) -> Result<(Option<Duration>, SendOutcome), sqlx::Error> {
        let at = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        let mut row = row.clone();
        let pause = match outcome {
            Ok(result) => {
                *backoff = self.settings.backoff_min;
                let message_id = result.get("message_id").and_then(Value::as_i64);
                sqlx::query(
                    "UPDATE outbox SET state = ?, telegram_message_id = ?, error = NULL,
                     updated_at = ? WHERE id = ?",
                )
                .bind(OutboxState::Sent)
                .bind(message_id)
                .bind(at.to_rfc3339())
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
                audit_transition(&mut tx, &row, "sending -> sent", at).await?;
                (None, SendOutcome::Sent)
            }
            Err(CallError::NotSent(reason)) => {
                row.error = Some(reason);
                set_state(
                    &mut tx,
                    row.id,
                    OutboxState::Pending,
                    row.error.as_deref(),
                    at,
                )
                .await?;
                audit_transition(
                    &mut tx,
                    &row,
                    "sending -> pending (not sent, will retry)",
                    at,
                )
                .await?;
                tracing::warn!(row = row.id, error = ?row.error, wait = ?*backoff, "send failed before the request left; retrying");
                let wait = *backoff;
                *backoff = (*backoff * 2).min(self.settings.backoff_max);
                (Some(wait), SendOutcome::Retried)
            }
            Err(CallError::RetryAfter(seconds)) => {
                row.error = Some(format!("429: retry after {seconds} s"));
                set_state(
                    &mut tx,
                    row.id,
                    OutboxState::Pending,
                    row.error.as_deref(),
                    at,
                )
                .await?;
                audit_transition(&mut tx, &row, "sending -> pending (429)", at).await?;
                tracing::warn!(row = row.id, seconds, "Telegram rate limit; waiting");
                (Some(Duration::from_secs(seconds)), SendOutcome::RateLimited)
            }
            Err(error @ CallError::Rejected { .. })
                if row.kind == OutboxKind::Send
                    && self.console.is_operator_dm(&row)
                    && !error.is_permanent()
                    && row.attempts < ALERT_ATTEMPTS =>
            {
                // An alert Telegram refused for a reason that may pass waits and goes again,
                // with backoff; after ALERT_ATTEMPTS it is `failed`, logged at ERROR. A
                // refusal that repeats every time (too long, bad HTML, blocked, chat not
                // found) is `failed` at once, below, like any other send. An alert with an
                // unknown outcome is `ambiguous` like any other send: never sent twice on our
                // own.
                let wait = alert_retry_wait(self.settings.alert_retry, row.attempts);
                let retry_at = at + chrono::Duration::from_std(wait).unwrap_or_default();
                row.error = Some(error.to_string());
                sqlx::query(
                    "UPDATE outbox SET state = ?, error = ?, not_before = ?, updated_at = ?
                     WHERE id = ?",
                )
                .bind(OutboxState::Pending)
                .bind(&row.error)
                .bind(time_key(retry_at))
                .bind(at.to_rfc3339())
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
                audit_transition(
                    &mut tx,
                    &row,
                    &format!(
                        "sending -> pending (operator alert not delivered, retry in {wait:?})"
                    ),
                    at,
                )
                .await?;
                tracing::error!(row = row.id, error = %error, retry_in = ?wait, "an operator alert could not be delivered; it stays queued and will be retried");
                (None, SendOutcome::Retried)
            }
            Err(CallError::Rejected { description, .. })
                if is_harmless_rejection(&row, &description) =>
            {
                row.error = Some(description);
                set_state(&mut tx, row.id, OutboxState::Sent, row.error.as_deref(), at).await?;
                audit_transition(&mut tx, &row, "sending -> sent (already in that state)", at)
                    .await?;
                (None, SendOutcome::Sent)
            }
            Err(CallError::Rejected {
                code,
                description,
                migrate_to_chat_id,
            }) => {
                let description = match migrate_to_chat_id {
                    Some(new_id) => format!(
                        "{description} (the group is now chat {new_id}: update chat_id in bots/roster.toml)"
                    ),
                    None => description,
                };
                row.error = Some(format!("{code}: {description}"));
                set_state(
                    &mut tx,
                    row.id,
                    OutboxState::Failed,
                    row.error.as_deref(),
                    at,
                )
                .await?;
                audit_transition(&mut tx, &row, "sending -> failed", at).await?;
                if let (Some(job), Some(slot)) = (&row.job, &row.slot) {
                    let refused = RefusedPart {
                        job,
                        slot,
                        part: row.part,
                        chat_id: row.chat_id,
                        thread_id: row.thread_id,
                        description: &description,
                    };
                    self.slots.part_refused(&mut tx, refused).await?;
                }
                tracing::error!(row = row.id, code, %description, "Telegram rejected a message");
                self.console
                    .failed_send(&mut tx, &row, &description, at)
                    .await?;
                (None, SendOutcome::Failed)
            }
            Err(CallError::Ambiguous(reason)) => {
                row.error = Some(reason);
                set_state(
                    &mut tx,
                    row.id,
                    OutboxState::Ambiguous,
                    row.error.as_deref(),
                    at,
                )
                .await?;
                audit_transition(&mut tx, &row, "sending -> ambiguous", at).await?;
                tracing::error!(row = row.id, error = ?row.error, "send outcome unknown; asking the operator");
                super::ambiguous::tell(&mut tx, &self.console, &row, at).await?;
                (None, SendOutcome::Ambiguous)
            }
        };
        tx.commit().await?;
        Ok(pause)
    }
}

/// How long an undelivered operator alert waits before its next try: `first`, doubling with
/// each attempt, at most 32 times `first`.
fn alert_retry_wait(first: Duration, attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 5)).unwrap_or(5);
    first * 2u32.pow(doublings)
}

/// Rejections that mean the desired state already holds.
fn is_harmless_rejection(row: &OutboxRow, description: &str) -> bool {
    row.kind == OutboxKind::Edit && description.contains("message is not modified")
}

/// The Bot API method and body for a row.
fn request_for(row: &OutboxRow) -> (&'static str, Value) {
    let markup: Option<Value> = row
        .reply_markup
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok());
    match row.kind {
        OutboxKind::Edit => {
            let mut body = json!({
                "chat_id": row.chat_id,
                "message_id": row.target_message_id,
                "text": row.text,
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": true},
            });
            if let Some(markup) = markup {
                body["reply_markup"] = markup;
            }
            ("editMessageText", body)
        }
        OutboxKind::AnswerCallback => {
            let mut body = json!({ "callback_query_id": row.callback_query_id });
            if !row.text.is_empty() {
                body["text"] = Value::String(row.text.clone());
            }
            ("answerCallbackQuery", body)
        }
        OutboxKind::Send => {
            let mut body = json!({
                "chat_id": row.chat_id,
                "text": row.text,
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": true},
            });
            if let Some(thread) = row.thread_id {
                body["message_thread_id"] = json!(thread);
            }
            if let Some(reply_to) = row.reply_to_message_id {
                body["reply_parameters"] =
                    json!({"message_id": reply_to, "allow_sending_without_reply": true});
            }
            if let Some(markup) = markup {
                body["reply_markup"] = markup;
            }
            if row.document_name.is_some() {
                // The file itself is uploaded beside these fields; the text is its caption.
                body.as_object_mut()
                    .map(|b| b.remove("link_preview_options"));
                if let Some(text) = body.as_object_mut().and_then(|b| b.remove("text")) {
                    body["caption"] = text;
                }
                return ("sendDocument", body);
            }
            ("sendMessage", body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::alert_retry_wait;
    use std::time::Duration;

    #[test]
    fn alert_retries_double_up_to_32_times_the_first_wait() {
        let first = Duration::from_secs(30);
        let waits: Vec<u64> = (1..=8)
            .map(|attempt| alert_retry_wait(first, attempt).as_secs())
            .collect();
        assert_eq!(waits, vec![30, 60, 120, 240, 480, 960, 960, 960]);
    }
}
