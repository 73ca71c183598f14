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
mod session;
mod status;

use std::sync::Arc;

use super::{BotContext, Command, Decision, HandlerError, HandlerResult, UnitOfWork};
use crate::identity::{BotIdentity, Poster};
use crate::roster::{Member, Role};
pub use command::{CommandName, CommandSpec, ConsoleCommand, Refusal};
use session::{job_names, Session};

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
