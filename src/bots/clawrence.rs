//! Clawrence, the team bot: the laser chase, the volts leaderboard, the team pulse and cake
//! reminders, and a handler tree for daily updates (any message, edit or `/update` in the
//! daily-updates thread files the member's update for that local day) and volts
//! (`/volts @handle N reason`, or `/volts N reason` as a reply). Every refusal is one short,
//! specific reply and changes nothing; a grant is stored and confirmed in one transaction.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use teloxide::types::Message;

use super::Bot;
use crate::config::model::VoltsFile;
use crate::identity::{Clawrence, Poster};
use crate::inbound::addressing::parse_command;
use crate::inbound::common::reply;
use crate::inbound::{BotContext, Command, Decision, HandlerResult, UnitOfWork, UpdateHandler};
use crate::jobs::{
    cake_reminder::CakeReminder, laser_chase::LaserChase, team_pulse::TeamPulse,
    volts_leaderboard::VoltsLeaderboard, kinds::JobKinds,
};
use crate::outbox::OutgoingMessage;
use crate::roster::Member;
use crate::store::{daily_updates, volts};
use crate::text::{cut_plain, escape_html, ECHO_LIMIT, REASON_LIMIT};

/// The roster thread whose messages file daily updates.
pub const DAILY_UPDATES_THREAD: &str = "daily-updates";

impl Bot for Clawrence {
    fn command_branches() -> Option<UpdateHandler> {
        Some(
            dptree::entry()
                .branch(dptree::filter(|c: Command| c.name == "update").endpoint(update_command))
                .branch(dptree::filter(|c: Command| c.name == "volts").endpoint(volts_command)),
        )
    }

    fn message_branches() -> Option<UpdateHandler> {
        Some(dptree::filter_map(daily_update).endpoint(record_daily_update))
    }

    fn reads_all_group_messages() -> bool {
        true
    }

    fn job_kinds() -> JobKinds<Self> {
        JobKinds::generic()
            .with::<LaserChase>()
            .with::<VoltsLeaderboard>()
            .with::<TeamPulse>()
            .with::<CakeReminder>()
    }
}

/// A member's message (or edit) in the daily-updates thread that files their update.
#[derive(Debug, Clone)]
struct DailyUpdate {
    member: String,
    message_id: i64,
    at: DateTime<Utc>,
}

fn daily_update(message: Message, context: Arc<BotContext>) -> Option<DailyUpdate> {
    let thread = context.roster.thread(DAILY_UPDATES_THREAD)?;
    let in_thread = message.chat.id.0 == context.roster.chat_id()
        && message.thread_id.map(|t| t.0 .0) == thread.message_thread_id;
    if !in_thread {
        return None;
    }
    // A command for a bot is not an update (except `/update`, handled as a command).
    let is_command = message
        .text()
        .and_then(parse_command)
        .is_some_and(|(name, _, _)| name != "update");
    if is_command {
        return None;
    }
    let member = context
        .roster
        .member_by_telegram_id(message.from.as_ref()?.id.0 as i64)?;
    Some(DailyUpdate {
        member: member.name.clone(),
        message_id: i64::from(message.id.0),
        at: message.edit_date().copied().unwrap_or(message.date),
    })
}

async fn file_update(
    work: &UnitOfWork,
    context: &BotContext,
    member: &str,
    message_id: i64,
    at: DateTime<Utc>,
) -> Result<(bool, chrono::NaiveDate), sqlx::Error> {
    let date = at.with_timezone(&context.roster.timezone()).date_naive();
    let mut tx = work.lock().await;
    let first = daily_updates::record(&mut tx, member, date, message_id, at).await?;
    Ok((first, date))
}

async fn record_daily_update(
    update: DailyUpdate,
    context: Arc<BotContext>,
    work: UnitOfWork,
) -> HandlerResult {
    let (first, date) = file_update(
        &work,
        &context,
        &update.member,
        update.message_id,
        update.at,
    )
    .await?;
    let decision = if first {
        format!("recorded: daily update of {} for {date}", update.member)
    } else {
        format!(
            "recorded: another daily update message of {} for {date}",
            update.member
        )
    };
    Ok(Decision::new(None, decision))
}

async fn update_command(
    command: Command,
    context: Arc<BotContext>,
    poster: Poster<Clawrence>,
    work: UnitOfWork,
) -> HandlerResult {
    let Some(member) = context.roster.member_by_telegram_id(command.user_id) else {
        return Ok(Decision::new(
            Some("update"),
            "ignored: sender is not a roster member",
        ));
    };
    if command.args.trim().is_empty() {
        let html =
            escape_html("Add your update after the command: /update what you did and what's next.");
        reply(&poster, &work, &command, html).await?;
        return Ok(Decision::new(Some("update"), "refused: empty update"));
    }
    let (_, date) = file_update(
        &work,
        &context,
        &member.name,
        command.message_id,
        command.sent_at,
    )
    .await?;
    let html = escape_html(&format!(
        "✅ Thanks, {}: your update for {} is in.",
        member.name,
        date.format("%A %-d %B")
    ));
    reply(&poster, &work, &command, html).await?;
    Ok(Decision::new(
        Some("update"),
        format!("recorded: daily update of {} for {date}", member.name),
    ))
}

/// Why a `/volts` was refused. Each is one short reply in the thread; what it quotes of the
/// member's words is cut short ([`ECHO_LIMIT`]) when the refusal is made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoltsRefusal {
    #[error("Use /volts @handle N reason, or reply to someone's message with /volts N reason.")]
    Usage,
    #[error("\"{0}\" is not a number of volts. Use /volts @handle N reason.")]
    NotANumber(String),
    #[error("A grant is 1 to {max} volts.")]
    OutOfRange { max: u32 },
    #[error("Say why: /volts @handle N reason.")]
    NoReason,
    #[error("@{0} is not on the team roster.")]
    UnknownHandle(String),
    #[error("Volts go to team members only, and that message isn't from one.")]
    NotAMember,
    #[error("No self-volts: give them to someone else.")]
    SelfGrant,
    #[error("That's over your daily budget of {budget} volts: you have {left} left today.")]
    OverBudget { budget: u32, left: u32 },
    #[error("You've given all {budget} of today's volts. More tomorrow!")]
    BudgetSpent { budget: u32 },
}

impl VoltsRefusal {
    /// A short tag for the audit log.
    fn tag(&self) -> &'static str {
        match self {
            VoltsRefusal::Usage => "usage",
            VoltsRefusal::NotANumber(_) => "not a number",
            VoltsRefusal::OutOfRange { .. } => "amount out of range",
            VoltsRefusal::NoReason => "no reason",
            VoltsRefusal::UnknownHandle(_) => "unknown handle",
            VoltsRefusal::NotAMember => "receiver not a member",
            VoltsRefusal::SelfGrant => "self-volts",
            VoltsRefusal::OverBudget { .. } => "over daily budget",
            VoltsRefusal::BudgetSpent { .. } => "daily budget spent",
        }
    }
}

/// A `/volts` that parsed: who gets how many, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoltsRequest {
    pub receiver: Member,
    pub amount: u32,
    pub reason: String,
}

/// Parses `/volts` arguments against the roster and the rules (not the budget, which needs
/// the store).
pub fn parse_volts(
    command: &Command,
    context: &BotContext,
    rules: &VoltsFile,
) -> Result<VoltsRequest, VoltsRefusal> {
    let roster = &context.roster;
    let mut words = command.args.split_whitespace();
    let first = words.next().ok_or(VoltsRefusal::Usage)?;
    let (receiver, amount_word) = match first.strip_prefix('@') {
        Some(handle) => {
            let receiver = roster
                .member_by_handle(handle)
                .ok_or_else(|| VoltsRefusal::UnknownHandle(cut_plain(handle, ECHO_LIMIT)))?;
            (receiver, words.next().ok_or(VoltsRefusal::Usage)?)
        }
        None => {
            let replied_to = command.reply_to_user_id.ok_or(VoltsRefusal::Usage)?;
            let receiver = roster
                .member_by_telegram_id(replied_to)
                .ok_or(VoltsRefusal::NotAMember)?;
            (receiver, first)
        }
    };
    let amount: u32 = match amount_word.parse::<i64>() {
        Ok(n) if n >= 1 && n <= i64::from(rules.max_per_grant) => n as u32,
        Ok(_) => {
            return Err(VoltsRefusal::OutOfRange {
                max: rules.max_per_grant,
            })
        }
        Err(_) => return Err(VoltsRefusal::NotANumber(cut_plain(amount_word, 20))),
    };
    let reason: String = words.collect::<Vec<_>>().join(" ");
    if reason.is_empty() {
        return Err(VoltsRefusal::NoReason);
    }
    if receiver.telegram_id == command.user_id {
        return Err(VoltsRefusal::SelfGrant);
    }
    Ok(VoltsRequest {
        receiver: receiver.clone(),
        amount,
        reason: cut_plain(&reason, REASON_LIMIT),
    })
}

/// A `t.me` link to a message in the team's supergroup (`-100…` ids drop the `-100`).
pub fn message_link(chat_id: i64, thread_id: Option<i32>, message_id: i64) -> String {
    let chat = chat_id.to_string();
    let internal = chat
        .strip_prefix("-100")
        .unwrap_or(chat.trim_start_matches('-'));
    match thread_id {
        Some(thread) => format!("https://t.me/c/{internal}/{thread}/{message_id}"),
        None => format!("https://t.me/c/{internal}/{message_id}"),
    }
}

/// The request with the giver's budget left after it, or the budget refusal.
async fn within_budget(
    work: &UnitOfWork,
    giver: &str,
    date: chrono::NaiveDate,
    rules: &VoltsFile,
    request: VoltsRequest,
) -> Result<Result<(VoltsRequest, u32), VoltsRefusal>, sqlx::Error> {
    let given = {
        let mut tx = work.lock().await;
        volts::given_on(&mut tx, giver, date).await?
    };
    let budget = rules.daily_budget;
    let left = budget.saturating_sub(given);
    Ok(if left == 0 {
        Err(VoltsRefusal::BudgetSpent { budget })
    } else if request.amount > left {
        Err(VoltsRefusal::OverBudget { budget, left })
    } else {
        Ok((request, left))
    })
}

async fn volts_command(
    command: Command,
    context: Arc<BotContext>,
    poster: Poster<Clawrence>,
    work: UnitOfWork,
) -> HandlerResult {
    let Some(giver) = context.roster.member_by_telegram_id(command.user_id) else {
        return Ok(Decision::new(
            Some("volts"),
            "ignored: sender is not a roster member",
        ));
    };
    let rules = context.bot.volts.clone().unwrap_or_default();
    let date = command
        .sent_at
        .with_timezone(&context.roster.timezone())
        .date_naive();
    let checked = match parse_volts(&command, &context, &rules) {
        Ok(request) => within_budget(&work, &giver.name, date, &rules, request).await?,
        Err(refusal) => Err(refusal),
    };
    let (request, left) = match checked {
        Ok(granted) => granted,
        Err(refusal) => {
            reply(&poster, &work, &command, escape_html(&refusal.to_string())).await?;
            return Ok(Decision::new(
                Some("volts"),
                format!("refused: {}", refusal.tag()),
            ));
        }
    };
    let link = message_link(command.chat_id, command.thread_id, command.message_id);
    let grant = volts::Grant {
        giver: giver.name.clone(),
        receiver: request.receiver.name.clone(),
        amount: request.amount,
        reason: request.reason.clone(),
        given_at: command.sent_at,
        local_date: date,
        chat_id: command.chat_id,
        message_id: command.message_id,
        link: link.clone(),
    };
    let html = context.templates.render(
        "volts_granted.html",
        minijinja::context! {
            giver => crate::templates::person(giver),
            receiver => crate::templates::person(&request.receiver),
            amount => request.amount,
            reason => request.reason,
            link => link,
            left => left - request.amount,
        },
    )?;
    let id = {
        let mut tx = work.lock().await;
        let id = volts::grant(&mut tx, &grant).await?;
        let html = crate::text::cut(&html, crate::text::TELEGRAM_MESSAGE_LIMIT);
        let message = OutgoingMessage::new(command.chat_id, command.thread_id, html)
            .replying_to(command.message_id);
        poster.enqueue(&mut tx, message).await?;
        id
    };
    Ok(Decision::new(
        Some("volts"),
        format!(
            "granted: {} volts from {} to {} (grant {id}): {}",
            grant.amount, grant.giver, grant.receiver, grant.reason
        ),
    ))
}
