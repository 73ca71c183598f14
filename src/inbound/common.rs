//! The handler tree every identity shares: strangers are refused or ignored, commands are
//! routed to the one bot they are for, `/help` lists the bot's own commands, a command used in
//! the wrong place gets one reply saying where it works, and everything else is ignored.
//! What one identity adds plugs in as [`OwnBranches`] (given by its file in `src/bots/`).

use std::sync::Arc;

use teloxide::dispatching::UpdateFilterExt;
use teloxide::types::{CallbackQuery, Message, Update};

use super::addressing::parse_command;
use super::console::{console_command, operator, CommandName};
use super::outbox_decisions::{apply_outbox_decision, outbox_decision};
use super::{BotContext, Command, Decision, HandlerResult, OwnBranches, UnitOfWork, UpdateHandler};
use crate::identity::{BotIdentity, Poster};
use crate::outbox::{Lane, OutgoingMessage};
use crate::text::{cut, escape_html, TELEGRAM_MESSAGE_LIMIT};

/// The fixed, information-free answer to anyone outside the roster who DMs a bot.
pub const STRANGER_REPLY: &str = "Sorry, this bot only works for its team.";

/// The answer to a button tap nothing handles: an old or forged button, unknown data.
pub const INACTIVE_BUTTON: &str = "This button is no longer active.";

/// Longest piece of a tap's callback data kept in the audit (Telegram allows 64 bytes; a
/// forged tap may carry anything).
const AUDITED_DATA_CHARS: usize = 64;

/// The full handler tree of identity `I`, with `own`, the branches only `I` has.
// The fault-injection build wraps the tree before returning it.
#[cfg_attr(not(feature = "fault-injection"), allow(clippy::let_and_return))]
pub fn handler_tree<I: BotIdentity>(own: OwnBranches) -> UpdateHandler {
    let members_messages = own
        .messages
        .unwrap_or_else(|| dptree::filter(|| false).endpoint(not_for_me));
    let mut commands = dptree::filter_map(command_for_me)
        .branch(dptree::filter_map_async(over_rate_limit::<I>).endpoint(refuse_over_limit::<I>))
        .branch(dptree::filter(not_allowed_here).endpoint(where_to_use::<I>))
        .branch(dptree::filter(|c: Command| c.name == "help").endpoint(help::<I>));
    if let Some(own) = own.commands {
        commands = commands.branch(own);
    }
    let commands = commands.branch(dptree::endpoint(unknown_command::<I>));
    let tree = dptree::entry()
        .branch(
            Update::filter_message()
                .branch(dptree::filter_map(stranger).endpoint(refuse_stranger::<I>))
                .branch(
                    dptree::filter_map(console_dm)
                        .branch(
                            dptree::filter(|dm: ConsoleDm| !dm.from_operator)
                                .endpoint(refuse_non_operator::<I>),
                        )
                        .branch(dptree::filter_map(command_for_me).endpoint(console_command::<I>))
                        .branch(dptree::endpoint(console_chatter::<I>)),
                )
                .branch(
                    dptree::filter_map(console_command_in_group).endpoint(console_in_group::<I>),
                )
                .branch(dptree::filter_map(operator_dm_for_console).endpoint(point_to_console::<I>))
                .branch(commands)
                .branch(members_messages.clone())
                .branch(dptree::endpoint(not_for_me)),
        )
        .branch(
            Update::filter_edited_message()
                .branch(dptree::filter_map(stranger).endpoint(|| async {
                    Ok(Decision::new(None, "ignored: edit by a non-member"))
                }))
                .branch(members_messages)
                .branch(dptree::endpoint(|| async {
                    Ok(Decision::new(None, "ignored: edit"))
                })),
        )
        .branch(
            Update::filter_callback_query()
                .branch(dptree::filter_map(outbox_decision).endpoint(apply_outbox_decision::<I>))
                .branch(
                    own.callbacks
                        .unwrap_or_else(|| dptree::filter(|| false).endpoint(not_for_me)),
                )
                .branch(dptree::endpoint(inactive_button::<I>)),
        )
        .branch(dptree::endpoint(|| async {
            Ok(Decision::new(None, "ignored: update kind not handled"))
        }));
    #[cfg(feature = "fault-injection")]
    let tree = dptree::entry()
        .branch(
            Update::filter_message()
                .filter(|m: Message| m.text() == Some(crate::faults::PANIC_TEXT))
                .endpoint(panic_on_purpose::<I>),
        )
        .branch(tree);
    tree
}

/// A command over its sender's per-minute limit for this bot.
#[derive(Debug, Clone)]
enum OverLimit {
    /// The first excess in this window: one polite reply.
    First(Command),
    /// Further excess: ignored until the window resets.
    Again(Command),
    /// The count could not be written; the update fails and is rolled back.
    Unknown(String),
}

async fn over_rate_limit<I: BotIdentity>(
    command: Command,
    context: Arc<BotContext>,
    work: UnitOfWork,
) -> Option<OverLimit> {
    use crate::store::command_windows::{count, WindowCount};
    let mut tx = work.lock().await;
    let counted = count(
        &mut tx,
        I::NAME,
        command.user_id,
        context.clock.now(),
        context.commands_per_minute,
    )
    .await;
    match counted {
        Ok(WindowCount::Allowed) => None,
        Ok(WindowCount::FirstExcess) => Some(OverLimit::First(command)),
        Ok(WindowCount::Excess) => Some(OverLimit::Again(command)),
        Err(e) => Some(OverLimit::Unknown(e.to_string())),
    }
}

async fn refuse_over_limit<I: BotIdentity>(
    over: OverLimit,
    context: Arc<BotContext>,
    poster: Poster<I>,
    work: UnitOfWork,
) -> HandlerResult {
    match over {
        OverLimit::First(command) => {
            let html = escape_html(&format!(
                "Easy there: that's more than {} commands a minute to me. I'll listen again in a minute.",
                context.commands_per_minute
            ));
            reply(&poster, &work, &command, html).await?;
            Ok(Decision::new(
                Some(&command.name),
                "refused: rate limited (told once)",
            ))
        }
        OverLimit::Again(command) => {
            Ok(Decision::new(Some(&command.name), "ignored: rate limited"))
        }
        OverLimit::Unknown(error) => Err(super::HandlerError::RateCount(error)),
    }
}

/// A message from someone outside the roster (or from no one).
#[derive(Debug, Clone)]
struct Stranger {
    chat_id: i64,
    is_private: bool,
}

fn stranger(message: Message, context: Arc<BotContext>) -> Option<Stranger> {
    let user_id = message.from.as_ref().map(|u| u.id.0 as i64);
    let known = user_id.is_some_and(|id| context.roster.is_member(id));
    (!known).then(|| Stranger {
        chat_id: message.chat.id.0,
        is_private: message.chat.is_private(),
    })
}

async fn refuse_stranger<I: BotIdentity>(
    who: Stranger,
    poster: Poster<I>,
    work: UnitOfWork,
) -> HandlerResult {
    if !who.is_private {
        return Ok(Decision::new(
            None,
            "ignored: sender is not a roster member",
        ));
    }
    direct(&poster, &work, who.chat_id, STRANGER_REPLY).await?;
    Ok(Decision::new(None, "refused: DM from a non-member"))
}

/// A private message to the console identity.
#[derive(Debug, Clone)]
struct ConsoleDm {
    chat_id: i64,
    from_operator: bool,
}

fn console_dm(message: Message, context: Arc<BotContext>) -> Option<ConsoleDm> {
    if !context.is_console || !message.chat.is_private() {
        return None;
    }
    let user_id = message.from.as_ref().map(|u| u.id.0 as i64)?;
    Some(ConsoleDm {
        chat_id: message.chat.id.0,
        from_operator: operator(&context, user_id).is_some(),
    })
}

/// A roster member who is not an operator DMs the console: the same fixed refusal as a
/// stranger gets, audited.
async fn refuse_non_operator<I: BotIdentity>(
    dm: ConsoleDm,
    poster: Poster<I>,
    work: UnitOfWork,
) -> HandlerResult {
    direct(&poster, &work, dm.chat_id, STRANGER_REPLY).await?;
    Ok(Decision::new(
        None,
        "refused: console DM from a non-operator",
    ))
}

/// An operator writes something that is not a command to the console.
async fn console_chatter<I: BotIdentity>(
    dm: ConsoleDm,
    poster: Poster<I>,
    work: UnitOfWork,
) -> HandlerResult {
    direct(
        &poster,
        &work,
        dm.chat_id,
        "Send /help for the console commands.",
    )
    .await?;
    Ok(Decision::new(None, "answered: not a command"))
}

/// A console command used in a group: console commands only work in a DM.
fn console_command_in_group(message: Message, context: Arc<BotContext>) -> Option<Command> {
    if !context.is_console || message.chat.is_private() {
        return None;
    }
    let command = command_for_me(message, context)?;
    let is_console_command =
        CommandName::from_word(&command.name).is_some_and(|c| c != CommandName::Help);
    is_console_command.then_some(command)
}

async fn console_in_group<I: BotIdentity>(
    command: Command,
    context: Arc<BotContext>,
    poster: Poster<I>,
    work: UnitOfWork,
) -> HandlerResult {
    let html = html_escape::encode_text(&format!(
        "/{} works only in a private chat with @{}.",
        command.name, context.username
    ))
    .into_owned();
    reply(&poster, &work, &command, html).await?;
    Ok(Decision::new(
        Some(&command.name),
        "refused: console command in a group",
    ))
}

/// An operator DMs another identity with something it does not do: point to the console.
fn operator_dm_for_console(message: Message, context: Arc<BotContext>) -> Option<ConsoleDm> {
    if context.is_console || !message.chat.is_private() {
        return None;
    }
    let user_id = message.from.as_ref().map(|u| u.id.0 as i64)?;
    operator(&context, user_id)?;
    let own_command = message
        .text()
        .and_then(parse_command)
        .is_some_and(|(name, _, _)| name == "help" || places_for(&context, &name).is_some());
    (!own_command).then_some(ConsoleDm {
        chat_id: message.chat.id.0,
        from_operator: true,
    })
}

async fn point_to_console<I: BotIdentity>(
    dm: ConsoleDm,
    context: Arc<BotContext>,
    poster: Poster<I>,
    work: UnitOfWork,
) -> HandlerResult {
    let html = html_escape::encode_text(&format!(
        "I'm {}. Operator commands go to @{} (/help there).",
        context.display, context.console_username
    ))
    .into_owned();
    direct(&poster, &work, dm.chat_id, &html).await?;
    Ok(Decision::new(None, "answered: pointed to the console"))
}

/// The command in `message`, if it is addressed to this bot.
pub(super) fn command_for_me(message: Message, context: Arc<BotContext>) -> Option<Command> {
    // A photo or file captioned with a command is that command (a claim with its receipt).
    let text = message.text().or_else(|| message.caption())?;
    let (name, suffix, args) = parse_command(text)?;
    let thread_id = message.thread_id.map(|t| t.0 .0);
    let is_private = message.chat.is_private();
    let for_me = match &suffix {
        Some(suffix) => suffix.eq_ignore_ascii_case(&context.username),
        None if is_private => true,
        None => context.routing.answerer(thread_id, &name) == Some(context.identity),
    };
    if !for_me {
        return None;
    }
    // In a topic, every message "replies" to the topic's root; only a different id is a reply.
    let replied = message
        .reply_to_message()
        .filter(|r| Some(r.id.0) != thread_id);
    Some(Command {
        name,
        args,
        addressed_to: suffix,
        chat_id: message.chat.id.0,
        thread_id,
        message_id: i64::from(message.id.0),
        user_id: message.from.as_ref().map_or(0, |u| u.id.0 as i64),
        is_private,
        reply_to_message_id: replied.map(|r| i64::from(r.id.0)),
        reply_to_user_id: replied.and_then(|r| r.from.as_ref()).map(|u| u.id.0 as i64),
        sent_at: message.date,
    })
}

/// True when the bot knows the command but it does not work where it was used.
fn not_allowed_here(command: Command, context: Arc<BotContext>) -> bool {
    match places_for(&context, &command.name) {
        Some(places) => !places.allows(&command, &context),
        None => false,
    }
}

/// Where one of this bot's configured commands works.
struct Places {
    dm: bool,
    threads: Vec<String>,
}

impl Places {
    fn allows(&self, command: &Command, context: &BotContext) -> bool {
        if command.is_private {
            return self.dm;
        }
        command.chat_id == context.roster.chat_id()
            && self.threads.iter().any(|name| {
                context
                    .roster
                    .thread(name)
                    .is_some_and(|t| t.message_thread_id == command.thread_id)
            })
    }

    fn describe(&self) -> String {
        let mut parts: Vec<String> = self.threads.iter().map(|t| format!("#{t}")).collect();
        if self.dm {
            parts.push("a DM with me".to_owned());
        }
        match parts.len() {
            0 => "nowhere at the moment".to_owned(),
            1 => parts.remove(0),
            _ => {
                let last = parts.pop().unwrap_or_default();
                format!("{} or {last}", parts.join(", "))
            }
        }
    }
}

fn places_for(context: &BotContext, name: &str) -> Option<Places> {
    let command = context.bot.commands.iter().find(|c| c.name == name)?;
    let threads = if command.threads.is_empty() {
        context.bot.threads.clone()
    } else {
        command.threads.clone()
    };
    Some(Places {
        dm: command.dm,
        threads,
    })
}

/// A private message to `chat_id`, in the update's transaction, cut to one message.
pub(crate) async fn direct<I: BotIdentity>(
    poster: &Poster<I>,
    work: &UnitOfWork,
    chat_id: i64,
    html: &str,
) -> Result<(), super::HandlerError> {
    let html = cut(html, TELEGRAM_MESSAGE_LIMIT);
    let mut tx = work.lock().await;
    poster
        .enqueue(&mut tx, OutgoingMessage::direct(chat_id, html))
        .await?;
    Ok(())
}

/// A reply to `command`, in the update's transaction, cut to one message (with an ellipsis).
pub(crate) async fn reply<I: BotIdentity>(
    poster: &Poster<I>,
    work: &UnitOfWork,
    command: &Command,
    html: String,
) -> Result<(), super::HandlerError> {
    let html = cut(&html, TELEGRAM_MESSAGE_LIMIT);
    let mut message = OutgoingMessage::new(command.chat_id, command.thread_id, html);
    if !command.is_private {
        message = message.replying_to(command.message_id);
    }
    let mut tx = work.lock().await;
    poster.enqueue(&mut tx, message).await?;
    Ok(())
}

async fn where_to_use<I: BotIdentity>(
    command: Command,
    context: Arc<BotContext>,
    poster: Poster<I>,
    work: UnitOfWork,
) -> HandlerResult {
    let places = places_for(&context, &command.name).map_or_else(String::new, |p| p.describe());
    let html =
        html_escape::encode_text(&format!("/{} works in {places}.", command.name)).into_owned();
    reply(&poster, &work, &command, html).await?;
    Ok(Decision::new(
        Some(&command.name),
        "refused: used in the wrong place",
    ))
}

async fn help<I: BotIdentity>(
    command: Command,
    context: Arc<BotContext>,
    poster: Poster<I>,
    work: UnitOfWork,
) -> HandlerResult {
    let commands: Vec<minijinja::Value> = context
        .bot
        .commands
        .iter()
        .map(|c| {
            minijinja::context! {
                name => c.name,
                description => c.description,
                places => places_for(&context, &c.name).map(|p| p.describe()),
            }
        })
        .collect();
    let html = context.templates.render(
        "help.html",
        minijinja::context! { bot => context.display, commands => commands },
    )?;
    reply(&poster, &work, &command, html).await?;
    Ok(Decision::new(Some("help"), "answered"))
}

async fn unknown_command<I: BotIdentity>(
    command: Command,
    poster: Poster<I>,
    work: UnitOfWork,
) -> HandlerResult {
    let html = html_escape::encode_text(&format!(
        "I don't know /{}. /help lists my commands.",
        command.name
    ))
    .into_owned();
    reply(&poster, &work, &command, html).await?;
    Ok(Decision::new(
        Some(&command.name),
        "refused: unknown command",
    ))
}

/// A tap no branch took (unknown, stale or malformed data, or none): answered, so the
/// member's client stops spinning, and audited with the data cut short.
async fn inactive_button<I: BotIdentity>(
    query: CallbackQuery,
    poster: Poster<I>,
    work: UnitOfWork,
) -> HandlerResult {
    let mut tx = work.lock().await;
    poster
        .enqueue(
            &mut tx,
            OutgoingMessage::callback_answer(query.id.0.clone(), INACTIVE_BUTTON)
                .in_lane(Lane::Urgent),
        )
        .await?;
    let detail = match query.data.as_deref() {
        Some(data) => format!("data {:?}", crate::isolation::cut(data, AUDITED_DATA_CHARS)),
        None => "no data".to_owned(),
    };
    Ok(Decision::new(None, "answered: button no longer active").with_detail(detail))
}

/// The fault point of the handler tree (`fault-injection` builds only): a message whose text
/// is [`crate::faults::PANIC_TEXT`] writes a reply into the update's transaction and panics
/// while holding it, so a test sees the panic contained and the write rolled back.
#[cfg(feature = "fault-injection")]
async fn panic_on_purpose<I: BotIdentity>(
    message: Message,
    poster: Poster<I>,
    work: UnitOfWork,
) -> HandlerResult {
    let mut tx = work.lock().await;
    poster
        .enqueue(
            &mut tx,
            OutgoingMessage::direct(
                message.chat.id.0,
                "fault-injection: this reply is rolled back and never sent",
            ),
        )
        .await?;
    panic!("fault-injection: the handler tree panicked on purpose");
}

async fn not_for_me() -> HandlerResult {
    Ok(Decision::new(None, "ignored: not addressed to this bot"))
}
