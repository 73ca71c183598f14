//! The one `getUpdates` consumer of a token. The offset moves only after an update has been
//! handled and committed; a replayed update finds its `(bot, update_id)` row and is skipped.

use std::sync::Arc;
use std::time::Duration;

use dptree::prelude::DependencyMap;
use serde_json::Value;
use teloxide::types::Update;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Decision, UnitOfWork, UpdateHandler};
use crate::clock::Clock;
use crate::config::secrets::Token;
use crate::identity::{BotIdentity, VerifiedBot};
use crate::store::audit::{self, AuditEntry};
use crate::store::{updates, Store};
use crate::telegram::{CallError, TelegramClient};

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
    wake_senders: Arc<Notify>,
    poll_seconds: u64,
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
        wake_senders: Arc<Notify>,
        poll_seconds: u64,
    ) -> Self {
        Self {
            bot: I::NAME,
            token: verified.token().clone(),
            client,
            store,
            clock,
            handler,
            dependencies,
            wake_senders,
            poll_seconds,
        }
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
        loop {
            let offset = self
                .store
                .retry("reading the update offset", || async {
                    self.store.check_lease().await?;
                    updates::next_offset(self.store.pool(), self.bot).await
                })
                .await
                .map_err(db)?;
            let polled = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                polled = self.client.get_updates(&self.token, offset, self.poll_seconds) => polled,
            };
            match polled {
                Ok(batch) => {
                    backoff = Duration::from_millis(500);
                    for raw in batch {
                        self.store
                            .retry("handling an update", || self.handle(raw.clone()))
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
                    self.pause(Duration::from_secs(seconds), &shutdown).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, wait = ?backoff, "getUpdates failed; retrying");
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

    /// Handles one raw update inside one transaction. Only database failures escape.
    pub async fn handle(&self, raw: Value) -> Result<(), sqlx::Error> {
        let Some(update_id) = raw.get("update_id").and_then(Value::as_i64) else {
            tracing::error!("an update without update_id was skipped");
            return Ok(());
        };
        let at = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        if !updates::mark_handled(&mut tx, self.bot, update_id, at).await? {
            updates::commit_offset(&mut tx, self.bot, update_id + 1).await?;
            tx.commit().await?;
            tracing::debug!(update_id, "update already handled; skipped");
            return Ok(());
        }
        // teloxide's Update visitor needs borrowed keys: parse from text, not from a Value.
        let update: Update = match serde_json::from_str(&raw.to_string()) {
            Ok(update) => update,
            Err(e) => {
                let entry = AuditEntry::new("inbound", "ignored: unreadable update")
                    .bot(self.bot)
                    .detail(format!("update {update_id}: {e}"));
                audit::record(&mut tx, at, &entry).await?;
                updates::commit_offset(&mut tx, self.bot, update_id + 1).await?;
                return tx.commit().await;
            }
        };
        let mut entry = inbound_entry(self.bot, &update);
        let work = UnitOfWork::new(tx);
        let mut dependencies = self.dependencies.clone();
        dependencies.insert(update);
        dependencies.insert(work.clone());
        let outcome = self.handler.dispatch(dependencies).await;
        let Some(mut tx) = work.into_inner() else {
            tracing::error!(
                update_id,
                "a handler kept the update's transaction; rolled back"
            );
            return self
                .record_failure(update_id, entry, "handler kept the transaction")
                .await;
        };
        match outcome {
            std::ops::ControlFlow::Break(Ok(Decision { command, decision })) => {
                entry.command = command.or(entry.command);
                entry.decision = decision;
            }
            std::ops::ControlFlow::Break(Err(error)) => {
                drop(tx);
                tracing::error!(update_id, %error, "handler failed; its changes were rolled back");
                return self
                    .record_failure(update_id, entry, &error.to_string())
                    .await;
            }
            std::ops::ControlFlow::Continue(_) => {
                entry.decision = "ignored: no handler".to_owned();
            }
        }
        audit::record(&mut tx, at, &entry).await?;
        updates::commit_offset(&mut tx, self.bot, update_id + 1).await?;
        tx.commit().await?;
        self.wake_senders.notify_waiters();
        Ok(())
    }

    /// A failed handler: the update is still marked handled (it would fail again), audited.
    async fn record_failure(
        &self,
        update_id: i64,
        mut entry: AuditEntry,
        error: &str,
    ) -> Result<(), sqlx::Error> {
        let at = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        updates::mark_handled(&mut tx, self.bot, update_id, at).await?;
        entry.decision = "failed: handler error".to_owned();
        entry.detail = Some(error.to_owned());
        audit::record(&mut tx, at, &entry).await?;
        updates::commit_offset(&mut tx, self.bot, update_id + 1).await?;
        tx.commit().await
    }
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

    use serde_json::json;

    use super::*;
    use crate::identity::{Lawrence, Poster};
    use crate::inbound::common::handler_tree;
    use crate::inbound::{base_dependencies, BotContext, CommandRouting};
    use crate::roster::Role;

    /// A DM `/help` from `user_id`, shaped as Telegram sends it.
    fn dm_help(update_id: i64, user_id: i64) -> Value {
        json!({
            "update_id": update_id,
            "message": {
                "message_id": 5,
                "from": {"id": user_id, "is_bot": false, "first_name": "Op"},
                "chat": {"id": user_id, "first_name": "Op", "type": "private"},
                "date": 1785809825,
                "text": "/help",
                "entities": [{"offset": 0, "length": 5, "type": "bot_command"}]
            }
        })
    }

    #[tokio::test]
    async fn a_replayed_update_is_handled_once_and_the_offset_follows_it() {
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
        let clock = Clock::manual(chrono::DateTime::UNIX_EPOCH);
        let verified = VerifiedBot::<Lawrence>::new(Token::new("1:test".into()), 1, false);
        let templates = crate::templates::Templates::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
        )
        .unwrap();
        let context = Arc::new(BotContext {
            identity: "lawrence",
            display: "Lawrence",
            username: config.bot("lawrence").unwrap().username.clone(),
            bot: config.bot("lawrence").unwrap().clone(),
            roster: Arc::new(config.roster.clone()),
            routing: Arc::new(CommandRouting::from_config(&config)),
            templates: Arc::new(templates),
            clock: clock.clone(),
            is_console: true,
            console_username: config.bot("lawrence").unwrap().username.clone(),
            jobs: Arc::new(Vec::new()),
            started_at: chrono::DateTime::UNIX_EPOCH,
            diagnose: false,
            commands_per_minute: 10,
        });
        let poller = Poller::new(
            &verified,
            TelegramClient::new("http://127.0.0.1:9").unwrap(),
            store.clone(),
            clock.clone(),
            handler_tree::<Lawrence>(),
            base_dependencies(context, Poster::new(&verified, clock)),
            Arc::new(Notify::new()),
            1,
        );

        poller.handle(dm_help(41, operator)).await.unwrap();
        poller.handle(dm_help(41, operator)).await.unwrap();

        let replies: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE bot = 'lawrence'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let audit = crate::store::audit::query(
            store.pool(),
            &crate::store::audit::AuditFilter {
                limit: Some(10),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(replies, 1, "one reply, none for the replay: {audit:#?}");
        assert_eq!(
            updates::next_offset(store.pool(), "lawrence")
                .await
                .unwrap(),
            42
        );
        let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit WHERE kind = 'inbound'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(audited, 1, "handled (and audited) once");
    }
}
