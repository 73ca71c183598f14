//! What every console command's file shares: the [`Session`] it answers in (who asked, the
//! chat, the update's transaction), how replies are rendered and queued, and how instants and
//! echoed input are shown.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::SqliteConnection;

use super::command;
use crate::identity::{BotIdentity, Poster};
use crate::inbound::{BotContext, HandlerError};
use crate::outbox::{Lane, OutgoingMessage};
use crate::roster::Member;
use crate::text::{cut_plain, fit_operator_message};

/// One console command being answered: who asked, in which chat, when, and the update's
/// transaction that its reply, its effect and its audit entry commit in.
pub(super) struct Session<'a, I: BotIdentity> {
    pub(super) poster: &'a Poster<I>,
    pub(super) conn: &'a mut SqliteConnection,
    pub(super) context: &'a BotContext,
    pub(super) chat: i64,
    pub(super) now: DateTime<Utc>,
    pub(super) operator: &'a Member,
}

impl<I: BotIdentity> Session<'_, I> {
    /// Queues an answer, split into as many messages as it takes (`/log`, `/status`, a long
    /// list).
    pub(super) async fn reply(&mut self, html: String) -> Result<(), HandlerError> {
        self.send(html, None).await
    }

    /// Queues an answer with buttons: cut to one message, the buttons under it.
    pub(super) async fn reply_with_buttons(
        &mut self,
        html: String,
        markup: serde_json::Value,
    ) -> Result<(), HandlerError> {
        self.send(html, Some(markup)).await
    }

    async fn send(
        &mut self,
        html: String,
        markup: Option<serde_json::Value>,
    ) -> Result<(), HandlerError> {
        let parts = fit_operator_message(&html, markup.is_some());
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.into_iter().enumerate() {
            let mut message = OutgoingMessage::direct(self.chat, part).in_lane(Lane::Urgent);
            if i == last {
                message.reply_markup = markup.clone();
            }
            self.poster.enqueue(self.conn, message).await?;
        }
        Ok(())
    }

    /// `at` in the team's time zone, as the console shows instants.
    pub(super) fn local(&self, at: DateTime<Utc>) -> String {
        local(self.context, at)
    }
}

/// Renders the console template `templates/console/{name}` with `view`.
pub(super) fn render(name: &str, view: impl Serialize) -> String {
    crate::console_texts::render(name, minijinja::Value::from_serialize(view))
}

/// Every configured job's name, in config order.
pub(super) fn job_names(context: &BotContext) -> Vec<&str> {
    context.jobs.iter().map(|s| s.name.as_str()).collect()
}

/// `at` in the team's time zone, as the console shows instants.
pub(super) fn local(context: &BotContext, at: DateTime<Utc>) -> String {
    at.with_timezone(&context.roster.timezone())
        .format("%a %d %b %H:%M")
        .to_string()
}

/// Something an operator typed, to be quoted back: on one line and cut to `max` UTF-16
/// units. The template escapes it.
pub(super) fn quoted(input: &str, max: usize) -> String {
    cut_plain(&command::one_line(input), max)
}
