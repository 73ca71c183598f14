//! The console channel: operator DMs sent by the console identity (Lawrence by default,
//! chosen in `bots/herald.toml`). It is the one place that enqueues as a bot picked by
//! configuration, and it can only send direct messages to roster operators.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::SqliteConnection;

use super::{enqueue, EnqueueError, Lane, OutboxId, OutboxRow, OutgoingMessage};
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

/// A grouped DM about uncertain sends names at most this many rows (the rest are counted).
const GROUP_LISTED: usize = 10;
/// The visible length (UTF-16 units, as Telegram counts) a grouped DM stays within, well
/// under Telegram's 4096, whatever its rows hold.
const GROUP_TEXT_UNITS: usize = 3600;
/// Longest excerpt of one message, and of its cause, in a grouped DM.
const GROUP_EXCERPT_CHARS: usize = 50;
const GROUP_CAUSE_CHARS: usize = 60;

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

    /// A send whose outcome is unknown. The operators hear about it in a DM grouping this
    /// bot's uncertain sends, at most one a minute ([`super::ambiguous`]); they decide with
    /// Resend / Mark sent (one row) or Resend all / Mark all sent (several). Returns how many
    /// DMs were enqueued (0 when the row joined a DM already waiting).
    pub async fn ambiguous_send(
        &self,
        conn: &mut SqliteConnection,
        row: &OutboxRow,
        at: DateTime<Utc>,
    ) -> Result<usize, sqlx::Error> {
        if !self.is_alertable(row) {
            return Ok(0);
        }
        super::ambiguous::tell(conn, self, row, at).await
    }

    /// The DM about the uncertain sends `rows` (of one bot) gathered in `group`, and its
    /// buttons. One row reads as it always did, with its own Resend / Mark sent buttons;
    /// several are listed (as many as fit) with Resend all / Mark all sent naming the group.
    pub(crate) fn ambiguous_dm(
        &self,
        group: i64,
        rows: &[OutboxRow],
    ) -> (String, serde_json::Value) {
        if let [row] = rows {
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
            return (
                crate::text::cut(&html, crate::text::TELEGRAM_MESSAGE_LIMIT),
                markup,
            );
        }
        let bot = rows.first().map_or("", |r| r.bot.as_str());
        let header = format!(
            "⚠️ <b>Unsure whether {} messages from {} were delivered</b>\n",
            rows.len(),
            escape_html(bot)
        );
        let footer = "\nNone of them will be resent unless you say so. <b>Resend all</b> sends again only those still undecided; /ambiguous decides them one by one.";
        let more_room = 60; // "…and N more" line
        let mut budget = GROUP_TEXT_UNITS
            .saturating_sub(visible_units(&header) + visible_units(footer) + more_room);
        let mut html = header;
        let mut listed = 0;
        for row in rows.iter().take(GROUP_LISTED) {
            let place = self.roster.place(row.chat_id, row.thread_id);
            let job = row
                .job
                .as_deref()
                .map(|job| format!(" (job {job})"))
                .unwrap_or_default();
            let line = format!(
                "• row {} → {}{}: “{}” ({})\n",
                row.id,
                escape_html(&place),
                escape_html(&job),
                escape_html(&cut(&excerpt(&row.text), GROUP_EXCERPT_CHARS)),
                escape_html(&cut(
                    row.error.as_deref().unwrap_or("unknown"),
                    GROUP_CAUSE_CHARS
                )),
            );
            let cost = visible_units(&line);
            if cost > budget {
                break;
            }
            budget -= cost;
            html.push_str(&line);
            listed += 1;
        }
        if listed < rows.len() {
            html.push_str(&format!(
                "…and {} more (/ambiguous lists the latest).\n",
                rows.len() - listed
            ));
        }
        html.push_str(footer);
        let markup = json!({"inline_keyboard": [[
            {"text": "Resend all", "callback_data": format!("ob:resend-all:{group}")},
            {"text": "Mark all sent", "callback_data": format!("ob:sent-all:{group}")},
        ]]});
        (html, markup)
    }

    /// Sends `html`, already within Telegram's limits, to every operator. The outbox ids of
    /// the DMs.
    pub(crate) async fn alert_each(
        &self,
        conn: &mut SqliteConnection,
        html: &str,
        markup: Option<serde_json::Value>,
        at: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>, EnqueueError> {
        let mut ids = Vec::new();
        for operator in self.operator_ids() {
            let mut message = OutgoingMessage::direct(operator, html).in_lane(Lane::Urgent);
            message.reply_markup = markup.clone();
            ids.push(enqueue(conn, &self.console_bot, at, message).await?);
        }
        if ids.is_empty() {
            tracing::error!(
                "no roster member has the operator role: an alert could not be addressed"
            );
        }
        Ok(ids)
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
        if !self.is_alertable(row) {
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

    /// Whether a failed or uncertain `row` gets an alert (logging why not, if not).
    fn is_alertable(&self, row: &OutboxRow) -> bool {
        if row.kind == super::OutboxKind::AnswerCallback {
            tracing::warn!(row = row.id, state = %row.state, "a button-tap answer was not delivered");
            return false;
        }
        if self.is_operator_dm(row) {
            tracing::error!(
                row = row.id,
                state = %row.state,
                "an operator alert could not be delivered; see the outbox"
            );
            return false;
        }
        true
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

/// The first `max` characters of `text`, with an ellipsis if cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() > max {
        let kept: String = text.chars().take(max).collect();
        format!("{kept}…")
    } else {
        text.to_owned()
    }
}

/// How long `html` is as Telegram counts it: UTF-16 units of its visible text.
fn visible_units(html: &str) -> usize {
    crate::text::html_to_plain(html).encode_utf16().count()
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
