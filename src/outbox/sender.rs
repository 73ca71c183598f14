//! One sender task per identity: claims that bot's next pending row (lowest lane, then
//! oldest), commits the claim, makes the Telegram call, and records the outcome, following
//! the protocol in the parent module. A slow or rate-limited bot only delays itself.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::alerts::ConsoleChannel;
use super::{audit_transition, set_state, OutboxRow};
use crate::clock::Clock;
use crate::config::secrets::Token;
use crate::identity::{BotIdentity, VerifiedBot};
use crate::store::Store;
use crate::telegram::{CallError, TelegramClient};

/// Tunables of a sender.
#[derive(Debug, Clone)]
pub struct SenderSettings {
    /// How long one Telegram call may take before its outcome counts as unknown.
    pub call_timeout: Duration,
    /// How often an idle sender looks for rows written by another process (`herald` CLI).
    pub idle_poll: Duration,
    /// First and largest wait after a connection failure.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for SenderSettings {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(10),
            idle_poll: Duration::from_millis(250),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// Delivers one bot's outbox rows.
pub struct Sender {
    bot: &'static str,
    token: Token,
    client: TelegramClient,
    store: Store,
    clock: Clock,
    console: ConsoleChannel,
    wake: Arc<Notify>,
    settings: SenderSettings,
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

impl Sender {
    /// A sender for `I`, holding `I`'s own token.
    #[allow(clippy::too_many_arguments)]
    pub fn new<I: BotIdentity>(
        verified: &VerifiedBot<I>,
        client: TelegramClient,
        store: Store,
        clock: Clock,
        console: ConsoleChannel,
        wake: Arc<Notify>,
        settings: SenderSettings,
    ) -> Self {
        Self {
            bot: I::NAME,
            token: verified.token().clone(),
            client,
            store,
            clock,
            console,
            wake,
            settings,
        }
    }

    /// Runs until `shutdown` is cancelled. A send in flight is finished first.
    #[tracing::instrument(skip_all, fields(bot = self.bot))]
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), SenderError> {
        let mut backoff = self.settings.backoff_min;
        while !shutdown.is_cancelled() {
            let claimed = self.claim_next().await.map_err(|source| SenderError::Db {
                bot: self.bot,
                source,
            })?;
            let Some(row) = claimed else {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.settings.idle_poll) => {}
                }
                continue;
            };
            let outcome = self.call(&row).await;
            let pause = self
                .record(&row, outcome, &mut backoff)
                .await
                .map_err(|source| SenderError::Db {
                    bot: self.bot,
                    source,
                })?;
            if let Some(pause) = pause {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
        Ok(())
    }

    /// `pending -> sending` for this bot's next row, committed before anything is sent.
    async fn claim_next(&self) -> Result<Option<OutboxRow>, sqlx::Error> {
        let now = self.clock.now().to_rfc3339();
        let mut tx = self.store.begin_write().await?;
        let row: Option<OutboxRow> = sqlx::query_as(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ?
             WHERE id = (SELECT id FROM outbox
                         WHERE bot = ? AND state = 'pending'
                         ORDER BY lane, id LIMIT 1)
             RETURNING *",
        )
        .bind(&now)
        .bind(self.bot)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = &row {
            audit_transition(&mut tx, row, "pending -> sending", self.clock.now()).await?;
        }
        tx.commit().await?;
        Ok(row)
    }

    async fn call(&self, row: &OutboxRow) -> Result<Value, CallError> {
        let (method, body) = request_for(row);
        self.client
            .call(&self.token, method, &body, self.settings.call_timeout)
            .await
    }

    /// Stores the outcome of a call. Returns how long this sender should wait before the next.
    async fn record(
        &self,
        row: &OutboxRow,
        outcome: Result<Value, CallError>,
        backoff: &mut Duration,
    ) -> Result<Option<Duration>, sqlx::Error> {
        let at = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        let mut row = row.clone();
        let pause = match outcome {
            Ok(result) => {
                *backoff = self.settings.backoff_min;
                let message_id = result.get("message_id").and_then(Value::as_i64);
                sqlx::query(
                    "UPDATE outbox SET state = 'sent', telegram_message_id = ?, error = NULL,
                     updated_at = ? WHERE id = ?",
                )
                .bind(message_id)
                .bind(at.to_rfc3339())
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
                audit_transition(&mut tx, &row, "sending -> sent", at).await?;
                None
            }
            Err(CallError::NotSent(reason)) => {
                row.error = Some(reason);
                set_state(&mut tx, row.id, "pending", row.error.as_deref(), at).await?;
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
                Some(wait)
            }
            Err(CallError::RetryAfter(seconds)) => {
                row.error = Some(format!("429: retry after {seconds} s"));
                set_state(&mut tx, row.id, "pending", row.error.as_deref(), at).await?;
                audit_transition(&mut tx, &row, "sending -> pending (429)", at).await?;
                tracing::warn!(row = row.id, seconds, "Telegram rate limit; waiting");
                Some(Duration::from_secs(seconds))
            }
            Err(CallError::Rejected { description, .. })
                if is_harmless_rejection(&row, &description) =>
            {
                row.error = Some(description);
                set_state(&mut tx, row.id, "sent", row.error.as_deref(), at).await?;
                audit_transition(&mut tx, &row, "sending -> sent (already in that state)", at)
                    .await?;
                None
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
                set_state(&mut tx, row.id, "failed", row.error.as_deref(), at).await?;
                audit_transition(&mut tx, &row, "sending -> failed", at).await?;
                tracing::error!(row = row.id, code, %description, "Telegram rejected a message");
                if row.kind != "answer_callback" {
                    self.console
                        .failed_send(&mut tx, &row, &description, at)
                        .await?;
                }
                None
            }
            Err(CallError::Ambiguous(reason)) => {
                row.error = Some(reason);
                set_state(&mut tx, row.id, "ambiguous", row.error.as_deref(), at).await?;
                audit_transition(&mut tx, &row, "sending -> ambiguous", at).await?;
                tracing::error!(row = row.id, error = ?row.error, "send outcome unknown; asking the operator");
                if row.kind != "answer_callback" {
                    self.console.ambiguous_send(&mut tx, &row, at).await?;
                }
                None
            }
        };
        tx.commit().await?;
        self.wake.notify_waiters();
        Ok(pause)
    }
}

/// Rejections that mean the desired state already holds.
fn is_harmless_rejection(row: &OutboxRow, description: &str) -> bool {
    row.kind == "edit" && description.contains("message is not modified")
}

/// The Bot API method and body for a row.
fn request_for(row: &OutboxRow) -> (&'static str, Value) {
    let markup: Option<Value> = row
        .reply_markup
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok());
    match row.kind.as_str() {
        "edit" => {
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
        "answer_callback" => {
            let mut body = json!({ "callback_query_id": row.callback_query_id });
            if !row.text.is_empty() {
                body["text"] = Value::String(row.text.clone());
            }
            ("answerCallbackQuery", body)
        }
        _ => {
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
            ("sendMessage", body)
        }
    }
}
