//! The console channel: operator DMs sent by the console identity (Lawrence by default,
//! chosen in `bots/herald.toml`). It is the one place that enqueues as a bot picked by
//! configuration, and it can only send direct messages to roster operators.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::SqliteConnection;

use super::{enqueue, EnqueueError, Lane, OutboxRow, OutgoingMessage};
use crate::roster::{Role, Roster};
use crate::text::{escape_html, fit_operator_message};

/// Enqueues operator DMs as the console identity.
#[derive(Clone, Debug)]
pub struct ConsoleChannel {
    console_bot: String,
    roster: Arc<Roster>,
}

/// Longest excerpt of a message quoted in an alert, in UTF-16 units.
const EXCERPT_UNITS: usize = 600;

impl ConsoleChannel {
    pub fn new(console_bot: &str, roster: Arc<Roster>) -> Self {
        Self {
            console_bot: console_bot.to_owned(),
            roster,
        }
    }

    pub fn console_bot(&self) -> &str {
        &self.console_bot
    }

    /// Sends `html` to every operator: split into as many messages as it takes, or cut to one
    /// when it carries buttons. Returns how many DMs were enqueued.
    pub async fn alert(
        &self,
        conn: &mut SqliteConnection,
        html: &str,
        markup: Option<serde_json::Value>,
        at: DateTime<Utc>,
    ) -> Result<usize, EnqueueError> {
        let mut sent = 0;
        let operators: Vec<i64> = self
            .roster
            .members_with_role(Role::Operator)
            .map(|m| m.telegram_id)
            .collect();
        let parts = fit_operator_message(html, markup.is_some());
        for operator in operators {
            for (i, part) in parts.iter().enumerate() {
                let mut message =
                    OutgoingMessage::direct(operator, part.as_str()).in_lane(Lane::Urgent);
                if i + 1 == parts.len() {
                    message.reply_markup = markup.clone();
                }
                enqueue(conn, &self.console_bot, at, message).await?;
                sent += 1;
            }
        }
        if sent == 0 {
            tracing::error!(
                "no roster member has the operator role: an alert could not be addressed"
            );
        }
        Ok(sent)
    }

    /// Sends `html` to one operator (a reply to something that operator asked for), split
    /// into as many messages as it takes.
    pub async fn direct(
        &self,
        conn: &mut SqliteConnection,
        operator: i64,
        html: &str,
        at: DateTime<Utc>,
    ) -> Result<(), EnqueueError> {
        if !self.roster.has_role(operator, Role::Operator) {
            tracing::error!(
                operator,
                "a console reply was addressed to a non-operator; dropped"
            );
            return Ok(());
        }
        for part in fit_operator_message(html, false) {
            let message = OutgoingMessage::direct(operator, part).in_lane(Lane::Urgent);
            enqueue(conn, &self.console_bot, at, message).await?;
        }
        Ok(())
    }

    /// A send whose outcome is unknown: the operator decides with Resend / Mark sent.
    pub async fn ambiguous_send(
        &self,
        conn: &mut SqliteConnection,
        row: &OutboxRow,
        at: DateTime<Utc>,
    ) -> Result<usize, sqlx::Error> {
        let html = format!(
            "⚠️ <b>Unsure whether a message was delivered</b>\n{}\nCause: {}\n\n<blockquote>{}</blockquote>\nIt will not be resent unless you say so.",
            self.where_line(row),
            escape_html(row.error.as_deref().unwrap_or("unknown")),
            escape_html(&excerpt(&row.text)),
        );
        let markup = json!({"inline_keyboard": [[
            {"text": "Resend", "callback_data": format!("ob:resend:{}", row.id)},
            {"text": "Mark sent", "callback_data": format!("ob:sent:{}", row.id)},
        ]]});
        self.alert_unless_self(conn, row, &html, Some(markup), at)
            .await
    }

    /// A send Telegram rejected.
    pub async fn failed_send(
        &self,
        conn: &mut SqliteConnection,
        row: &OutboxRow,
        description: &str,
        at: DateTime<Utc>,
    ) -> Result<usize, sqlx::Error> {
        let html = format!(
            "❌ <b>Telegram refused a message</b>\n{}\nTelegram said: {}\n\n<blockquote>{}</blockquote>",
            self.where_line(row),
            escape_html(description),
            escape_html(&excerpt(&row.text)),
        );
        self.alert_unless_self(conn, row, &html, None, at).await
    }

    /// Every operator's Telegram id.
    pub fn operator_ids(&self) -> Vec<i64> {
        self.roster
            .members_with_role(Role::Operator)
            .map(|m| m.telegram_id)
            .collect()
    }

    /// Whether `row` is the console identity's DM to an operator (an alert or a console reply).
    pub fn is_operator_dm(&self, row: &OutboxRow) -> bool {
        row.bot == self.console_bot
            && row.thread_id.is_none()
            && self.roster.has_role(row.chat_id, Role::Operator)
    }

    /// Alerts about an operator DM itself would loop; those are logged at ERROR instead. A
    /// button-tap answer gets no alert: nobody sees it, and its query expires in seconds, so
    /// there is nothing to resend or retry.
    async fn alert_unless_self(
        &self,
        conn: &mut SqliteConnection,
        row: &OutboxRow,
        html: &str,
        markup: Option<serde_json::Value>,
        at: DateTime<Utc>,
    ) -> Result<usize, sqlx::Error> {
        if row.kind == "answer_callback" {
            tracing::warn!(row = row.id, state = %row.state, "a button-tap answer was not delivered");
            return Ok(0);
        }
        if self.is_operator_dm(row) {
            tracing::error!(
                row = row.id,
                state = %row.state,
                "an operator alert could not be delivered; see the outbox"
            );
            return Ok(0);
        }
        match self.alert(conn, html, markup, at).await {
            Ok(n) => Ok(n),
            Err(EnqueueError::Db(e)) => Err(e),
            Err(other) => {
                tracing::error!(error = %other, "operator alert not enqueued");
                Ok(0)
            }
        }
    }

    fn where_line(&self, row: &OutboxRow) -> String {
        let place = self.roster.place(row.chat_id, row.thread_id);
        let job = match (&row.job, &row.slot) {
            (Some(job), Some(slot)) => format!(" (job {job}, slot {slot})"),
            _ => String::new(),
        };
        escape_html(&format!(
            "{} -> {place}{job}, outbox row {}",
            row.bot, row.id
        ))
    }
}

/// The visible start of an HTML message, tags removed, for quoting in an alert.
fn excerpt(html: &str) -> String {
    crate::text::cut_plain(&crate::text::html_to_plain(html), EXCERPT_UNITS)
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn excerpt_strips_tags_and_decodes_entities() {
        assert_eq!(excerpt("<b>Tan &amp; Sons</b> &lt;3"), "Tan & Sons <3");
        let long = "x".repeat(700);
        assert_eq!(excerpt(&long).chars().count(), 600);
        // Counted in UTF-16 units: 600 emoji are 1,200.
        let emoji = "😀".repeat(600);
        assert_eq!(excerpt(&emoji), format!("{}…", "😀".repeat(299)));
    }
}
