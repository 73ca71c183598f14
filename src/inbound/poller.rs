//! The one `getUpdates` consumer of a token. The offset moves only after an update has been
//! handled and committed; a replayed update finds its `(bot, update_id)` row and is skipped.
//! Each update is one unit of work: a handler that fails or panics, and an update that does
//! not parse, are recorded and skipped, so one poison update never stops the bot or replays.
//! Updates of one poll that are all handled cleanly share a transaction (up to 16), so a
//! backlog's read-in does not cost one commit per update ([`Poller::handle_all`]).

use std::time::Duration;

use dptree::prelude::DependencyMap;
use serde_json::Value;
use sqlx::SqliteConnection;
use teloxide::types::{Update, UpdateKind};
use tokio_util::sync::CancellationToken;

use super::common::INACTIVE_BUTTON;
use super::raw::{self, RawIds};
use super::{Decision, UnitOfWork, UpdateHandler};
use crate::clock::Clock;
use crate::config::secrets::Token;
use crate::identity::{BotIdentity, Poster, VerifiedBot};
use crate::isolation::{self, catch_panic, cut};
use crate::outbox::alerts::ConsoleChannel;
use crate::outbox::post::ErasedPoster;
use crate::outbox::{EnqueueError, Lane, OutgoingMessage};
use crate::store::audit::{self, AuditEntry};
use crate::store::fault_counts::{self, FaultKind};
use crate::store::updates::{self, Outcome};
use crate::store::Store;
use crate::store::Write;
use crate::telegram::{CallError, TelegramClient};
use crate::telemetry::metrics::{self, UpdateOutcome};
use crate::telemetry::Readiness;
use crate::text::escape_html;

/// Why polling stopped for good. Each stops the whole process.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("{bot}: Telegram answered 409 Conflict: another herald instance (or another program) is polling this bot's token. Stop the other instance; herald will not fight it.")]
    Conflict { bot: &'static str },
    #[error("{bot}: Telegram no longer accepts this bot's token (401 Unauthorized)")]
    Unauthorized { bot: &'static str },
    #[error("{bot}: database error while handling updates: {source}")]
    Db {
        bot: &'static str,
        source: sqlx::Error,
    },
}

/// Polls one bot and runs its handler tree on each update.
pub struct Poller {
    bot: &'static str,
    token: Token,
    client: TelegramClient,
    store: Store,
    clock: Clock,
    handler: UpdateHandler,
    dependencies: DependencyMap,
    poll_seconds: u64,
    /// Where faults are reported (throttled, see [`isolation::count_and_tell`]).
    console: ConsoleChannel,
    /// Answers the button tap of an update whose handler failed, as this bot.
    poster: Box<dyn ErasedPoster>,
    /// Where this poller says whether it polls ([`crate::telemetry::readiness`]).
    readiness: Readiness,
}

impl Poller {
    #[allow(clippy::too_many_arguments)]
    pub fn new<I: BotIdentity>(
        verified: &VerifiedBot<I>,
        client: TelegramClient,
        store: Store,
        clock: Clock,
        handler: UpdateHandler,
        dependencies: DependencyMap,
        poll_seconds: u64,
        console: ConsoleChannel,
    ) -> Self {
        Self {
            poster: Box::new(Poster::<I>::new(verified, clock.clone())),
            console,
            bot: I::NAME,
            token: verified.token().clone(),
            client,
            store,
            clock,
            handler,
            dependencies,
            poll_seconds,
            readiness: Readiness::default(),
        }
    }

    /// Reports whether it polls to `readiness` (`/readyz`, `/status`).
    pub fn reporting_to(mut self, readiness: &Readiness) -> Self {
        self.readiness = readiness.clone();
        self
    }

    /// Polls until `shutdown` is cancelled or polling can't go on. Transient database
    /// failures are waited out (each update's handling is run again whole); before each
    /// `getUpdates` the lease is checked, so an instance that was taken over never takes the
    /// new holder's updates (Telegram would end the new holder's poll with 409).
    #[tracing::instrument(skip_all, fields(bot = self.bot))]
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), PollError> {
        let mut backoff = Duration::from_millis(500);
        let mut tolerated = false;
        let db = |source| PollError::Db {
            bot: self.bot,
            source,
        };
        // However the loop ends (an error, a panic, the stop), this bot no longer polls.
        struct Stopped<'a>(&'a Readiness, &'static str);
        impl Drop for Stopped<'_> {
            fn drop(&mut self) {
                self.0.poll_stopped(self.1);
            }
        }
        let _stopped = Stopped(&self.readiness, self.bot);
        // The committed offset, once read: only handling an update moves it, so an empty
        // answer leaves it as it was and the next poll needs no read (an idle bot's long
        // polls touch the database only when the lease is not surely held).
        let mut known_offset: Option<i64> = None;
        loop {
            let offset = match known_offset.take() {
                Some(offset) => {
                    self.store
                        .retry("checking the database lease", || self.store.check_lease())
                        .await
                        .map_err(db)?;
                    offset
                }
                None => self
                    .store
                    .retry("reading the update offset", || async {
                        self.store.check_lease().await?;
                        updates::next_offset(self.store.pool(), self.bot).await
                    })
                    .await
                    .map_err(db)?,
            };
            let polled = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                polled = self.client.get_updates(&self.token, Some(offset), self.poll_seconds) => polled,
            };
            match polled {
                Ok(batch) if batch.is_empty() => {
                    self.readiness.polling(self.bot);
                    backoff = Duration::from_millis(500);
                    known_offset = Some(offset);
                }
                Ok(batch) => {
                    self.readiness.polling(self.bot);
                    backoff = Duration::from_millis(500);
                    for updates in batch.chunks(READ_IN_BATCH) {
                        self.store
                            .retry("handling updates", || self.handle_all(updates))
                            .await
                            .map_err(db)?;
                    }
                }
                // This herald took the lease over from an instance that stopped renewing: if
                // that one was paused, not dead, it may wake and poll once before it notices,
                // ending our poll with 409. Once, poll again (ending its poll) rather than stop.
                Err(e) if e.is_conflict() && self.store.took_over_stale() && !tolerated => {
                    tolerated = true;
                    tracing::warn!("getUpdates answered 409 just after this herald took the database over; polling again");
                }
                Err(e) if e.is_conflict() => return Err(PollError::Conflict { bot: self.bot }),
                Err(e) if e.is_unauthorized() => {
                    return Err(PollError::Unauthorized { bot: self.bot })
                }
                Err(CallError::RetryAfter(seconds)) => {
                    tracing::warn!(seconds, "getUpdates rate limited");
                    self.readiness
                        .poll_failed(self.bot, format!("rate limited for {seconds} s"));
                    self.pause(Duration::from_secs(seconds), &shutdown).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, wait = ?backoff, "getUpdates failed; retrying");
                    self.readiness.poll_failed(self.bot, e.to_string());
                    self.pause(backoff, &shutdown).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    async fn pause(&self, how_long: Duration, shutdown: &CancellationToken) {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(how_long) => {}
        }
    }

    /// Handles consecutive updates of one poll in one transaction when each of them is handled
    /// cleanly: one commit, and so one fsync and one writer turn, for all of them, which keeps
    /// the senders' turns coming while a backlog is read in. Every guarantee of handling them
    /// one by one holds: they all commit (their marks, audit entries, outbox rows and the
    /// offset past the last) or none does, so a crash replays them all and each is handled
    /// once. If one of them does not parse, fails or panics, nothing of the batch stands and
    /// each is handled again alone ([`Self::handle`]), where that one is recorded and skipped.
    /// Handlers write only through the update's transaction, so a later update of the batch
    /// sees what an earlier one wrote, as it would after a commit.
    pub async fn handle_all(&self, updates: &[Value]) -> Result<(), sqlx::Error> {
        if updates.len() > 1 {
            match catch_panic(self.handle_together(updates)).await {
                Ok(Ok(true)) => return Ok(()),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => tracing::debug!(
                    updates = updates.len(),
                    "a handler panicked in a batch; each update is handled alone"
                ),
            }
        }
        for raw in updates {
            self.handle(raw.clone()).await?;
        }
        Ok(())
    }

    /// [`Self::handle_all`]'s one transaction: `false` (everything rolled back) as soon as an
    /// update needs its own.
    async fn handle_together(&self, updates: &[Value]) -> Result<bool, sqlx::Error> {
        let mut tx = self.store.begin_write().await?;
        let mut counted = Vec::with_capacity(updates.len());
        for raw in updates {
            let Some(update_id) = raw.get("update_id").and_then(Value::as_i64) else {
                tx.rollback().await?;
                return Ok(false);
            };
            match self.handle_in(tx, update_id, raw).await? {
                InTransaction::Done(back, outcome) => {
                    tx = back;
                    counted.extend(outcome);
                }
                InTransaction::Unreadable(back, _) => {
                    back.rollback().await?;
                    return Ok(false);
                }
                InTransaction::Failed(_) => return Ok(false),
            }
        }
        tx.commit().await?;
        for outcome in counted {
            metrics::process().update(self.bot, outcome);
        }
        Ok(true)
    }

    /// Handles one raw update inside one transaction, under a panic guard. A handler that
    /// fails or panics has its changes rolled back, and the update is still recorded as
    /// handled (outcome `failed`), so the offset moves past it and it is never replayed. Only
    /// database failures escape.
    pub async fn handle(&self, raw: Value) -> Result<(), sqlx::Error> {
        let Some(update_id) = raw.get("update_id").and_then(Value::as_i64) else {
            tracing::error!("an update without update_id was skipped");
            return Ok(());
        };
        match catch_panic(self.handle_once(update_id, &raw)).await {
            Ok(handled) => handled,
            Err(panic) => {
                tracing::error!(
                    update_id,
                    panic = %panic.message,
                    "a handler panicked; its changes were rolled back"
                );
                self.record_failure(update_id, &raw, Failure::Panic(panic.message))
                    .await
            }
        }
    }

    async fn handle_once(&self, update_id: i64, raw: &Value) -> Result<(), sqlx::Error> {
        let tx = self.store.begin_write().await?;
        match self.handle_in(tx, update_id, raw).await? {
            InTransaction::Done(tx, outcome) => {
                tx.commit().await?;
                if let Some(outcome) = outcome {
                    metrics::process().update(self.bot, outcome);
                }
                Ok(())
            }
            InTransaction::Unreadable(tx, reason) => {
                self.record_unreadable(tx, update_id, raw, &reason).await
            }
            InTransaction::Failed(failure) => {
                if let Failure::Error(error) = &failure {
                    tracing::error!(update_id, %error, "handler failed; its changes were rolled back");
                }
                self.record_failure(update_id, raw, failure).await
            }
        }
    }

    /// Handles update `update_id` in `tx`, committing nothing: a replay is skipped, and a
    /// handled update leaves its audit entry and the offset past it in `tx`.
    async fn handle_in(
        &self,
        mut tx: Write,
        update_id: i64,
        raw: &Value,
    ) -> Result<InTransaction, sqlx::Error> {
        let at = self.clock.now();
        if !updates::mark_handled(&mut tx, self.bot, update_id, at).await? {
            updates::commit_offset(&mut tx, self.bot, update_id + 1).await?;
            tracing::debug!(update_id, "update already handled; skipped");
            return Ok(InTransaction::Done(tx, None));
        }
        // teloxide's Update visitor needs borrowed keys: parse from text, not from a Value.
        let update = match serde_json::from_str::<Update>(&raw.to_string()) {
            Ok(update) if !matches!(update.kind, UpdateKind::Error(_)) => update,
            Ok(_) => return Ok(InTransaction::Unreadable(tx, raw::unreadable_reason(raw))),
            Err(e) => return Ok(InTransaction::Unreadable(tx, e.to_string())),
        };
        let mut entry = inbound_entry(self.bot, &update);
        let work = UnitOfWork::new(tx);
        let mut dependencies = self.dependencies.clone();
        dependencies.insert(update);
        dependencies.insert(work.clone());
        let outcome = self.handler.dispatch(dependencies).await;
        let Some(mut tx) = work.into_inner() else {
            return Ok(InTransaction::Failed(Failure::Error(
                "handler kept the transaction".to_owned(),
            )));
        };
        match outcome {
            std::ops::ControlFlow::Break(Ok(Decision {
                command,
                decision,
                detail,
            })) => {
                entry.command = command.or(entry.command);
                entry.decision = decision;
                entry.detail = detail;
            }
            std::ops::ControlFlow::Break(Err(error)) => {
                drop(tx);
                return Ok(InTransaction::Failed(Failure::Error(error.to_string())));
            }
            std::ops::ControlFlow::Continue(_) => {
                entry.decision = "ignored: no handler".to_owned();
            }
        }
        audit::record(&mut tx, at, &entry).await?;
        updates::commit_offset(&mut tx, self.bot, update_id + 1).await?;
        let outcome = UpdateOutcome::of_decision(&entry.decision);
        Ok(InTransaction::Done(tx, Some(outcome)))
    }

    /// An update that does not parse (or that teloxide read as `UpdateKind::Error`): audited
    /// with what its JSON still tells, logged at WARN, counted, and skipped. A button tap among
    /// them is answered, so the member's client stops spinning.
    async fn record_unreadable(
        &self,
        mut tx: Write,
        update_id: i64,
        raw: &Value,
        reason: &str,
    ) -> Result<(), sqlx::Error> {
        let at = self.clock.now();
        let ids = RawIds::of(raw);
        let kind = ids.kind.as_deref().unwrap_or("none");
        tracing::warn!(
            update_id,
            kind,
            chat_id = ?ids.chat_id,
            user_id = ?ids.user_id,
            reason,
            "unreadable update skipped"
        );
        updates::set_outcome(&mut tx, self.bot, update_id, Outcome::Unreadable).await?;
        let mut entry = raw_entry(self.bot, &ids, "unreadable update");
        entry.detail = Some(cut(
            &format!("update {update_id} ({}): {reason}", cut(kind, 64)),
            DETAIL_CHARS,
        ));
        audit::record(&mut tx, at, &entry).await?;
        fault_counts::count(&mut tx, self.bot, FaultKind::UnreadableUpdate, at).await?;
        if let Some(query_id) = &ids.callback_query_id {
            self.answer_tap(&mut tx, query_id, INACTIVE_BUTTON).await?;
        }
        updates::commit_offset(&mut tx, self.bot, update_id + 1).await?;
        tx.commit().await?;
        metrics::process().update(self.bot, UpdateOutcome::Unreadable);
        Ok(())
    }

    /// A handler that failed or panicked (its transaction already rolled back): the update is
    /// marked handled with outcome `failed` (it would fail again), audited with the error, a
    /// button tap is answered, and the operator is DMed at most once an hour per bot and kind.
    async fn record_failure(
        &self,
        update_id: i64,
        raw: &Value,
        failure: Failure,
    ) -> Result<(), sqlx::Error> {
        let at = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        if !updates::mark_handled_as(&mut tx, self.bot, update_id, at, Outcome::Failed).await? {
            // Its own transaction committed before the failure: what it did stands.
            tracing::error!(
                update_id,
                "a failure after the update was recorded; left as it was"
            );
            return Ok(());
        }
        let ids = RawIds::of(raw);
        let (kind, decision, how, message) = match failure {
            Failure::Panic(message) => (
                FaultKind::HandlerPanic,
                "failed: handler panicked",
                "panicked",
                message,
            ),
            Failure::Error(message) => (
                FaultKind::HandlerError,
                "failed: handler error",
                "failed",
                message,
            ),
        };
        let mut entry = raw_entry(self.bot, &ids, decision);
        entry.detail = Some(cut(&message, DETAIL_CHARS));
        audit::record(&mut tx, at, &entry).await?;
        if let Some(query_id) = &ids.callback_query_id {
            self.answer_tap(&mut tx, query_id, TAP_FAILED).await?;
        }
        let mut place = Vec::new();
        if let Some(chat) = ids.chat_id {
            place.push(format!("chat {chat}"));
        }
        if let Some(user) = ids.user_id {
            place.push(format!("user {user}"));
        }
        let place = if place.is_empty() {
            String::new()
        } else {
            format!(" ({})", place.join(", "))
        };
        let html = format!(
            "🔴 <b>{bot} could not handle an update</b>\nIts handler {how}: {message}\nUpdate {update_id}{place} was skipped and its changes were rolled back; {bot} keeps serving.",
            bot = escape_html(self.bot),
            message = escape_html(&cut(&message, ALERT_CHARS)),
        );
        isolation::count_and_tell(&mut tx, &self.console, self.bot, kind, &html, at).await?;
        updates::commit_offset(&mut tx, self.bot, update_id + 1).await?;
        tx.commit().await?;
        metrics::process().update(self.bot, UpdateOutcome::Failed);
        Ok(())
    }

    /// Answers button tap `query_id` as this bot, in `tx`.
    async fn answer_tap(
        &self,
        tx: &mut SqliteConnection,
        query_id: &str,
        text: &str,
    ) -> Result<(), sqlx::Error> {
        let answer = OutgoingMessage::callback_answer(query_id, text).in_lane(Lane::Urgent);
        match self.poster.enqueue(tx, answer).await {
            Ok(_) => Ok(()),
            Err(EnqueueError::Db(e)) => Err(e),
            Err(other) => {
                tracing::error!(error = %other, "a button-tap answer was not enqueued");
                Ok(())
            }
        }
    }
}

/// Most updates of one poll handled in one transaction ([`Poller::handle_all`]): enough to
/// spare a backlog's read-in most of its commits, few enough that a sender waiting for its
/// turn to write waits for a handful of updates, not a whole poll of 100.
const READ_IN_BATCH: usize = 16;

/// What handling one update in an open transaction came to.
enum InTransaction {
    /// Handled, or skipped as a replay: the transaction, to commit, and what to count once it
    /// has committed.
    Done(Write, Option<UpdateOutcome>),
    /// It does not parse: recorded in the same transaction ([`Poller::record_unreadable`]).
    Unreadable(Write, String),
    /// Its handler failed: rolled back, and recorded in a transaction of its own.
    Failed(Failure),
}

/// How a handler failed.
enum Failure {
    Panic(String),
    Error(String),
}

/// Longest panic message, parse error or handler error kept in an audit detail, and quoted in
/// an operator DM.
const DETAIL_CHARS: usize = 1000;
const ALERT_CHARS: usize = 300;

/// The answer to a button tap whose handler failed.
pub const TAP_FAILED: &str = "Sorry, that did not work. Please try again later.";

/// The audit entry of an update known only by its raw JSON.
fn raw_entry(bot: &str, ids: &RawIds, decision: &str) -> AuditEntry {
    let mut entry = AuditEntry::new("inbound", decision).bot(bot);
    entry.user_id = ids.user_id;
    entry.chat_id = ids.chat_id;
    entry.thread_id = ids.thread_id;
    entry.command = ids
        .text
        .as_deref()
        .and_then(super::addressing::parse_command)
        .map(|(name, _, _)| name);
    entry
}

/// The audit entry of an inbound update, before the handler decides.
fn inbound_entry(bot: &str, update: &Update) -> AuditEntry {
    let mut entry = AuditEntry::new("inbound", "received").bot(bot);
    entry.user_id = update.from().map(|u| u.id.0 as i64);
    entry.chat_id = update.chat().map(|c| c.id.0);
    if let teloxide::types::UpdateKind::Message(m) | teloxide::types::UpdateKind::EditedMessage(m) =
        &update.kind
    {
        entry.thread_id = m.thread_id.map(|t| t.0 .0);
        entry.command = m
            .text()
            .and_then(super::addressing::parse_command)
            .map(|(name, _, _)| name);
    }
    entry
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::bots::{handler_tree, Bot};
    use crate::identity::{Claudia, Clawrence, Lawrence, Poster};
    use crate::inbound::{base_dependencies, BotContext, CommandRouting};
    use crate::roster::Role;

    /// A DM `/help` from `user_id`, shaped as Telegram sends it.
    fn dm_help(update_id: i64, user_id: i64) -> Value {
        dm(update_id, user_id, "/help")
    }

    /// A DM with `text` from `user_id`.
    fn dm(update_id: i64, user_id: i64, text: &str) -> Value {
        json!({
            "update_id": update_id,
            "message": {
                "message_id": 5,
                "from": {"id": user_id, "is_bot": false, "first_name": "Op"},
                "chat": {"id": user_id, "first_name": "Op", "type": "private"},
                "date": 1785809825,
                "text": text,
                "entities": [{"offset": 0, "length": 5, "type": "bot_command"}]
            }
        })
    }

    /// A tap with `data` by `user_id` (a well-formed callback query).
    fn tap(update_id: i64, user_id: i64, query_id: &str, data: &str) -> Value {
        json!({
            "update_id": update_id,
            "callback_query": {
                "id": query_id,
                "from": {"id": user_id, "is_bot": false, "first_name": "Op"},
                "chat_instance": "-123456",
                "data": data
            }
        })
    }

    /// One identity's poller on a fresh database, its store, clock, the operator and an
    /// approver.
    struct Harness {
        _dir: tempfile::TempDir,
        store: Store,
        clock: Clock,
        poller: Poller,
        operator: i64,
        approver: i64,
    }

    /// The console identity's poller (Lawrence).
    async fn console() -> Harness {
        harness::<Lawrence>().await
    }

    async fn harness<I: Bot>() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let config = crate::config::load(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let operator = config
            .roster
            .members_with_role(Role::Operator)
            .next()
            .unwrap()
            .telegram_id;
        let approver = config
            .roster
            .members_with_role(Role::Approver)
            .next()
            .unwrap()
            .telegram_id;
        let clock = Clock::manual(chrono::DateTime::UNIX_EPOCH);
        let verified = VerifiedBot::<I>::new(Token::new("1:test".into()), 1, false);
        let templates = crate::templates::Templates::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
        )
        .unwrap();
        let roster = Arc::new(config.roster.clone());
        let context = Arc::new(BotContext {
            identity: I::NAME,
            display: I::DISPLAY,
            username: config.bot(I::NAME).unwrap().username.clone(),
            bot: config.bot(I::NAME).unwrap().clone(),
            roster: roster.clone(),
            routing: Arc::new(CommandRouting::from_config(&config)),
            templates: Arc::new(templates),
            clock: clock.clone(),
            is_console: I::NAME == "lawrence",
            console_username: config.bot("lawrence").unwrap().username.clone(),
            jobs: Arc::new(Vec::new()),
            started_at: chrono::DateTime::UNIX_EPOCH,
            diagnose: false,
            commands_per_minute: 10,
            readiness: Default::default(),
        });
        let poller = Poller::new(
            &verified,
            TelegramClient::new("http://127.0.0.1:9").unwrap(),
            store.clone(),
            clock.clone(),
            handler_tree::<I>(),
            base_dependencies(context, Poster::new(&verified, clock.clone())),
            1,
            ConsoleChannel::lawrence_for_tests(roster),
        );
        Harness {
            _dir: dir,
            store,
            clock,
            poller,
            operator,
            approver,
        }
    }

    impl Harness {
        /// `(kind, chat_id, text)` of every outbox row, in order.
        async fn outbox(&self) -> Vec<(String, i64, String)> {
            sqlx::query_as("SELECT kind, chat_id, text FROM outbox ORDER BY id")
                .fetch_all(self.store.pool())
                .await
                .unwrap()
        }

        /// The operator DMs about faults.
        async fn fault_dms(&self) -> Vec<String> {
            self.outbox()
                .await
                .into_iter()
                .filter(|(kind, chat, text)| {
                    kind == "send" && *chat == self.operator && text.contains("could not handle")
                })
                .map(|(_, _, text)| text)
                .collect()
        }

        async fn outcome(&self, update_id: i64) -> Option<String> {
            sqlx::query_scalar(
                "SELECT outcome FROM processed_updates WHERE bot = ? AND update_id = ?",
            )
            .bind(self.poller.bot)
            .bind(update_id)
            .fetch_optional(self.store.pool())
            .await
            .unwrap()
        }

        /// `(decision, user_id, chat_id, detail)` of the last inbound audit entry.
        async fn last_inbound(&self) -> (String, Option<i64>, Option<i64>, Option<String>) {
            sqlx::query_as(
                "SELECT decision, user_id, chat_id, detail FROM audit WHERE kind = 'inbound'
                 ORDER BY seq DESC LIMIT 1",
            )
            .fetch_one(self.store.pool())
            .await
            .unwrap()
        }

        async fn next_offset(&self) -> i64 {
            updates::next_offset(self.store.pool(), self.poller.bot)
                .await
                .unwrap()
        }
    }

    #[tokio::test]
    async fn a_replayed_update_is_handled_once_and_the_offset_follows_it() {
        let c = console().await;
        c.poller.handle(dm_help(41, c.operator)).await.unwrap();
        c.poller.handle(dm_help(41, c.operator)).await.unwrap();

        let replies: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE bot = 'lawrence'")
            .fetch_one(c.store.pool())
            .await
            .unwrap();
        let audit = crate::store::audit::query(
            c.store.pool(),
            &crate::store::audit::AuditFilter {
                limit: Some(10),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(replies, 1, "one reply, none for the replay: {audit:#?}");
        assert_eq!(c.next_offset().await, 42);
        assert_eq!(c.outcome(41).await.as_deref(), Some("handled"));
        let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit WHERE kind = 'inbound'")
            .fetch_one(c.store.pool())
            .await
            .unwrap();
        assert_eq!(audited, 1, "handled (and audited) once");
    }

    /// Frames in the write-ahead log since the last [`reset_wal`]: each commit appends every
    /// page it changed, so fewer commits of the same writes leave fewer frames.
    async fn wal_frames(store: &Store) -> i64 {
        let (_busy, log, _done): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(store.pool())
            .await
            .unwrap();
        log
    }

    async fn reset_wal(store: &Store) {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(store.pool())
            .await
            .unwrap();
    }

    /// A poll's updates are handled in one transaction: every one handled once (a replay in
    /// a later poll skipped), the offset past the last, and far fewer pages written than one
    /// commit per update would write.
    #[tokio::test]
    async fn a_polls_updates_commit_together_and_each_is_handled_once() {
        let (together, alone) = (console().await, console().await);
        let updates: Vec<Value> = (60..76).map(|id| dm_help(id, together.operator)).collect();
        reset_wal(&together.store).await;
        together.poller.handle_all(&updates).await.unwrap();
        let batched = wal_frames(&together.store).await;
        reset_wal(&alone.store).await;
        for raw in &updates {
            alone.poller.handle(raw.clone()).await.unwrap();
        }
        let one_by_one = wal_frames(&alone.store).await;
        // The last one again, as a poll after a crash before the offset reached Telegram
        // would bring it: skipped.
        for c in [&together, &alone] {
            c.poller
                .handle_all(&[dm_help(75, c.operator), dm_help(76, c.operator)])
                .await
                .unwrap();
        }
        for c in [&together, &alone] {
            assert_eq!(
                c.outbox().await.len(),
                17,
                "one reply each, none for the replay"
            );
            assert_eq!(c.next_offset().await, 77);
            let audited: Vec<String> = sqlx::query_scalar(
                "SELECT decision FROM audit WHERE kind = 'inbound' ORDER BY seq",
            )
            .fetch_all(c.store.pool())
            .await
            .unwrap();
            assert_eq!(audited.len(), 17, "{audited:?}");
            assert!(
                audited.iter().all(|d| d.starts_with("answered")),
                "{audited:?}"
            );
        }
        assert!(
            batched * 4 < one_by_one,
            "{batched} frames written together, {one_by_one} one by one"
        );
    }

    /// An update of a poll that needs its own transaction (unreadable here) rolls the poll's
    /// transaction back, and each update is handled alone: the others once each, that one
    /// recorded and skipped.
    #[tokio::test]
    async fn an_unreadable_update_in_a_poll_leaves_the_others_handled_once() {
        let c = console().await;
        let updates = [
            dm_help(90, c.operator),
            json!({"update_id": 91, "story_reaction": {"id": 1}}),
            dm_help(92, c.operator),
        ];
        c.poller.handle_all(&updates).await.unwrap();
        assert_eq!(c.outcome(90).await.as_deref(), Some("handled"));
        assert_eq!(c.outcome(91).await.as_deref(), Some("unreadable"));
        assert_eq!(c.outcome(92).await.as_deref(), Some("handled"));
        assert_eq!(c.outbox().await.len(), 2, "one reply each for 90 and 92");
        assert_eq!(c.next_offset().await, 93);
        let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit WHERE kind = 'inbound'")
            .fetch_one(c.store.pool())
            .await
            .unwrap();
        assert_eq!(audited, 3, "each audited once");
    }

    #[cfg(feature = "fault-injection")]
    #[tokio::test]
    async fn a_panic_in_a_poll_leaves_the_others_handled_once() {
        let c = console().await;
        let updates = [
            dm_help(95, c.operator),
            dm(96, c.operator, crate::faults::PANIC_TEXT),
            dm_help(97, c.operator),
        ];
        c.poller.handle_all(&updates).await.unwrap();
        assert_eq!(c.outcome(95).await.as_deref(), Some("handled"));
        assert_eq!(c.outcome(96).await.as_deref(), Some("failed"));
        assert_eq!(c.outcome(97).await.as_deref(), Some("handled"));
        assert_eq!(c.fault_dms().await.len(), 1);
        let replies = c
            .outbox()
            .await
            .into_iter()
            .filter(|(_, _, text)| !text.contains("could not handle"))
            .count();
        assert_eq!(replies, 2, "one reply each for 95 and 97");
        assert_eq!(c.next_offset().await, 98);
    }

    #[cfg(feature = "fault-injection")]
    #[tokio::test]
    async fn a_panicking_handler_is_rolled_back_recorded_failed_and_reported_once_an_hour() {
        let c = console().await;
        let panic_text = crate::faults::PANIC_TEXT;
        c.poller
            .handle(dm(50, c.operator, panic_text))
            .await
            .unwrap();

        assert_eq!(c.outcome(50).await.as_deref(), Some("failed"));
        assert_eq!(c.next_offset().await, 51, "the offset moved past it");
        let (decision, user, chat, detail) = c.last_inbound().await;
        assert_eq!(decision, "failed: handler panicked");
        assert_eq!((user, chat), (Some(c.operator), Some(c.operator)));
        assert!(detail.unwrap_or_default().contains("panicked on purpose"));
        let outbox = c.outbox().await;
        assert!(
            outbox
                .iter()
                .all(|(_, _, text)| !text.contains("rolled back and never sent")),
            "the handler's write was rolled back: {outbox:#?}"
        );
        assert_eq!(c.fault_dms().await.len(), 1, "{outbox:#?}");

        // The same fault again within the hour: recorded, no second DM; the bot still answers.
        c.poller
            .handle(dm(51, c.operator, panic_text))
            .await
            .unwrap();
        c.poller.handle(dm_help(52, c.operator)).await.unwrap();
        assert_eq!(c.outcome(51).await.as_deref(), Some("failed"));
        assert_eq!(c.outcome(52).await.as_deref(), Some("handled"));
        assert_eq!(c.fault_dms().await.len(), 1);
        assert_eq!(c.next_offset().await, 53);

        // An hour later the next one is DMed, naming the one held back.
        c.clock.advance(chrono::Duration::hours(1));
        c.poller
            .handle(dm(53, c.operator, panic_text))
            .await
            .unwrap();
        let dms = c.fault_dms().await;
        assert_eq!(dms.len(), 2);
        assert!(dms[1].contains("1 more of these"), "{}", dms[1]);
        assert_eq!(
            fault_counts::occurrences(c.store.pool(), "lawrence", FaultKind::HandlerPanic)
                .await
                .unwrap(),
            3
        );
    }

    #[tokio::test]
    async fn a_failing_handler_is_recorded_failed_and_reported_once_an_hour() {
        let c = harness::<Clawrence>().await;
        // The rate-limit count of every command now fails: a handler error.
        sqlx::query("DROP TABLE command_windows")
            .execute(c.store.pool())
            .await
            .unwrap();
        c.poller.handle(dm_help(60, c.operator)).await.unwrap();
        c.poller.handle(dm_help(61, c.operator)).await.unwrap();
        assert_eq!(c.outcome(60).await.as_deref(), Some("failed"));
        assert_eq!(c.outcome(61).await.as_deref(), Some("failed"));
        assert_eq!(c.last_inbound().await.0, "failed: handler error");
        assert_eq!(c.next_offset().await, 62);
        assert_eq!(c.fault_dms().await.len(), 1, "one DM per hour per kind");
        c.clock.advance(chrono::Duration::hours(1));
        c.poller.handle(dm_help(62, c.operator)).await.unwrap();
        let dms = c.fault_dms().await;
        assert_eq!(dms.len(), 2, "the next hour's first one is DMed");
        assert!(dms[1].contains("1 more of these"), "{}", dms[1]);
    }

    #[tokio::test]
    async fn a_tap_whose_handler_fails_is_still_answered() {
        let c = harness::<Claudia>().await;
        // Claudia's card taps read the approvals table: now they fail.
        sqlx::query("DROP TABLE approvals")
            .execute(c.store.pool())
            .await
            .unwrap();
        c.poller
            .handle(tap(63, c.approver, "q63", "ap:a:INV-1"))
            .await
            .unwrap();
        assert_eq!(c.outcome(63).await.as_deref(), Some("failed"));
        let outbox = c.outbox().await;
        assert!(
            outbox
                .iter()
                .any(|(kind, _, text)| kind == "answer_callback" && text == TAP_FAILED),
            "{outbox:#?}"
        );
        assert_eq!(c.fault_dms().await.len(), 1);
    }

    #[tokio::test]
    async fn unknown_and_stale_taps_are_answered_and_audited_with_their_data_cut_short() {
        let c = console().await;
        let long = format!("zzz:{}", "x".repeat(300));
        for (id, data) in [
            (70, "zzz:unknown"),
            (71, "ob:resend:abc"),
            (72, "ob:resend:999999"),
            (73, long.as_str()),
        ] {
            c.poller
                .handle(tap(id, c.operator, &format!("q{id}"), data))
                .await
                .unwrap();
            assert_eq!(c.outcome(id).await.as_deref(), Some("handled"));
        }
        let answers: Vec<String> = c
            .outbox()
            .await
            .into_iter()
            .filter(|(kind, _, _)| kind == "answer_callback")
            .map(|(_, _, text)| text)
            .collect();
        assert_eq!(
            answers,
            [
                INACTIVE_BUTTON,
                INACTIVE_BUTTON,
                "That message is not in the outbox.",
                INACTIVE_BUTTON
            ]
        );
        let (decision, user, _, detail) = c.last_inbound().await;
        assert_eq!(decision, "answered: button no longer active");
        assert_eq!(user, Some(c.operator));
        let detail = detail.unwrap_or_default();
        assert!(detail.starts_with("data \"zzz:xxx"), "{detail}");
        assert!(detail.chars().count() < 80, "cut short: {detail}");
    }

    #[tokio::test]
    async fn unreadable_updates_are_audited_with_their_ids_counted_and_skipped() {
        let c = console().await;
        let negative_user = json!({
            "update_id": 80,
            "message": {
                "message_id": 9,
                "from": {"id": -5, "is_bot": false, "first_name": "X"},
                "chat": {"id": -1001, "type": "supergroup", "title": "T"},
                "date": 1785809825,
                "text": "/help"
            }
        });
        c.poller.handle(negative_user).await.unwrap();
        assert_eq!(c.outcome(80).await.as_deref(), Some("unreadable"));
        let (decision, user, chat, detail) = c.last_inbound().await;
        assert_eq!(decision, "unreadable update");
        assert_eq!((user, chat), (Some(-5), Some(-1001)));
        let detail = detail.unwrap_or_default();
        assert!(
            detail.starts_with("update 80 (message): message: "),
            "{detail}"
        );

        c.poller
            .handle(json!({"update_id": 81, "story_reaction": {"id": 1}}))
            .await
            .unwrap();
        let detail = c.last_inbound().await.3.unwrap_or_default();
        assert_eq!(
            detail,
            "update 81 (story_reaction): unknown update kind \"story_reaction\""
        );

        // A tap that does not parse (no `from`) is still answered.
        c.poller
            .handle(json!({
                "update_id": 82,
                "callback_query": {"id": "q82", "chat_instance": "1", "data": "ap:a:x"}
            }))
            .await
            .unwrap();
        assert_eq!(c.outcome(82).await.as_deref(), Some("unreadable"));
        assert!(c
            .outbox()
            .await
            .iter()
            .any(|(kind, _, text)| kind == "answer_callback" && text == INACTIVE_BUTTON));

        assert_eq!(c.next_offset().await, 83);
        assert_eq!(
            fault_counts::occurrences(c.store.pool(), "lawrence", FaultKind::UnreadableUpdate)
                .await
                .unwrap(),
            3
        );
        assert!(
            c.fault_dms().await.is_empty(),
            "unreadable updates DM nobody"
        );
    }
}
