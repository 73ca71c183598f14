//! The operator console: the console identity (Lawrence by default) answers DMs from roster
//! operators. Every command reads or changes state inside the update's transaction, so its
//! reply, its audit entry and its effect commit together; a malformed command gets a reply
//! saying how to use it and changes nothing.
//!
//! The command's text is parsed once, in `command.rs`, into a [`ConsoleCommand`]; each
//! variant is answered by its own file here (`status.rs`, `run.rs`, …), and every reply is a
//! template in `templates/console/command_*.html`, rendered by [`crate::console_texts`].
//! Adding a command: a variant in `command.rs` (the compiler then asks for its `/help` line,
//! its parsing and its handler), a file here, and its template.
//!
//! `/run` and `/preview` queue a request that wakes the scheduler when it commits, so a manual
//! run goes through exactly the path and rules of a scheduled slot.

mod ambiguous;
mod command;
mod failed;
mod help;
mod jobs;
mod log;
mod next;
mod outbox_rows;
mod pause;
mod pending;
mod preview;
mod refusal;
mod resume;
mod run;
mod status;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::SqliteConnection;

use super::{BotContext, Command, Decision, HandlerError, HandlerResult, UnitOfWork};
use crate::identity::{BotIdentity, Poster};
use crate::outbox::{Lane, OutgoingMessage};
use crate::roster::{Member, Role};
use crate::text::{cut_plain, fit_operator_message};
pub use command::{CommandName, CommandSpec, ConsoleCommand, Refusal};

/// The operator behind a console DM, if the sender is one.
pub fn operator(context: &BotContext, user_id: i64) -> Option<&Member> {
    context
        .roster
        .member_by_telegram_id(user_id)
        .filter(|m| m.roles.contains(&Role::Operator))
}

/// The console commands as Telegram's menu lists them: (command, description), in order.
pub fn menu() -> impl Iterator<Item = (&'static str, &'static str)> {
    CommandName::ALL.iter().map(|c| {
        let spec = c.spec();
        (spec.name, spec.description)
    })
}

/// Answers one console command from an operator.
pub async fn console_command<I: BotIdentity>(
    command: Command,
    context: Arc<BotContext>,
    poster: Poster<I>,
    work: UnitOfWork,
) -> HandlerResult {
    let Some(who) = operator(&context, command.user_id).cloned() else {
        return Ok(Decision::new(
            Some(&command.name),
            "refused: not an operator",
        ));
    };
    let jobs = job_names(&context);
    let parsed = ConsoleCommand::parse(&command.name, &command.args, &jobs);
    let mut tx = work.lock().await;
    let mut session = Session {
        poster: &poster,
        conn: &mut tx,
        context: &context,
        chat: command.chat_id,
        now: context.clock.now(),
        operator: &who,
    };
    let named = match &parsed {
        Ok(parsed) => Some(parsed.name()),
        Err(refusal) => refusal.command(),
    };
    let decision = if context.diagnose && !named.is_some_and(|c| c.spec().in_diagnose_mode) {
        session.reply(refusal::diagnose_mode()).await?;
        "refused: diagnose mode".to_owned()
    } else {
        match parsed {
            Ok(parsed) => answer(parsed, &mut session).await?,
            Err(refused) => {
                session.reply(refusal::reply(&refused, &jobs)).await?;
                refused.decision().to_owned()
            }
        }
    };
    Ok(Decision::new(Some(&command.name), decision))
}

/// Runs one parsed command; returns the decision for the audit log.
async fn answer<I: BotIdentity>(
    command: ConsoleCommand,
    session: &mut Session<'_, I>,
) -> Result<String, HandlerError> {
    match command {
        ConsoleCommand::Status => status::answer(session).await,
        ConsoleCommand::Jobs => jobs::answer(session).await,
        ConsoleCommand::Next { count } => next::answer(session, count).await,
        ConsoleCommand::Run { job } => run::answer(session, &job).await,
        ConsoleCommand::Preview { job } => preview::answer(session, &job).await,
        ConsoleCommand::Pause { scope } => pause::answer(session, &scope).await,
        ConsoleCommand::Resume { scope } => resume::answer(session, &scope).await,
        ConsoleCommand::Ambiguous => ambiguous::answer(session).await,
        ConsoleCommand::Failed => failed::answer(session).await,
        ConsoleCommand::Log { filter } => log::answer(session, &filter).await,
        ConsoleCommand::Pending => pending::answer(session).await,
        ConsoleCommand::Help => help::answer(session).await,
    }
}

/// One console command being answered: who asked, in which chat, when, and the update's
/// transaction that its reply, its effect and its audit entry commit in.
struct Session<'a, I: BotIdentity> {
    poster: &'a Poster<I>,
    conn: &'a mut SqliteConnection,
    context: &'a BotContext,
    chat: i64,
    now: DateTime<Utc>,
    operator: &'a Member,
}

impl<I: BotIdentity> Session<'_, I> {
    /// Queues an answer, split into as many messages as it takes (`/log`, `/status`, a long
    /// list).
    async fn reply(&mut self, html: String) -> Result<(), HandlerError> {
        self.send(html, None).await
    }

    /// Queues an answer with buttons: cut to one message, the buttons under it.
    async fn reply_with_buttons(
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
    fn local(&self, at: DateTime<Utc>) -> String {
        local(self.context, at)
    }
}

/// Renders the console template `templates/console/{name}` with `view`.
fn render(name: &str, view: impl Serialize) -> String {
    crate::console_texts::render(name, minijinja::Value::from_serialize(view))
}

/// Every configured job's name, in config order.
fn job_names(context: &BotContext) -> Vec<&str> {
    context.jobs.iter().map(|s| s.name.as_str()).collect()
}

/// `at` in the team's time zone, as the console shows instants.
fn local(context: &BotContext, at: DateTime<Utc>) -> String {
    at.with_timezone(&context.roster.timezone())
        .format("%a %d %b %H:%M")
        .to_string()
}

/// Something an operator typed, to be quoted back: on one line and cut to `max` UTF-16
/// units. The template escapes it.
fn quoted(input: &str, max: usize) -> String {
    cut_plain(&command::one_line(input), max)
}
