//! Claims, the expenses bot: `/claim AMOUNT CURRENCY REASON` (in `#claims` or by DM, with
//! the receipt as the message's photo or document, or sent later as a reply to the claim),
//! `/claims` (my claims) and `/claims export [YYYY-MM]` (approvers: the month's approved
//! claims as a CSV document), and the decisions on claim cards, by button or reply, exactly as
//! on invoice cards ([`crate::approvals::verdict`]). A claimant never decides their own
//! claim; a claim above its currency's threshold needs a second, different approver. Every
//! refusal is one reply that changes nothing; a claim, its acknowledgement and its card commit
//! in the update's transaction.

use std::sync::Arc;

use teloxide::types::{CallbackQuery, Message};

use super::Bot;
use crate::approvals::verdict::{
    approver, parse_reply, replied_to, CardLookup, CardTap, LookupFailure, ReplyToCard, Verdict,
};
use crate::claims::export::{self, Month};
use crate::claims::request::{self, ClaimRequest};
use crate::claims::{self, money, Cards, ClaimRules, BUTTONS};
use crate::identity::{Claims, Poster};
use crate::inbound::common::reply;
use crate::inbound::{BotContext, Command, Decision, HandlerError, HandlerResult, UnitOfWork, UpdateHandler};
use crate::jobs::{claims_summary::ClaimsSummary, kinds::JobKinds};
use crate::outbox::{Document, Lane, OutgoingMessage};
use crate::roster::Member;
use crate::store::claims::{self as store, Claim, ClaimState, NewClaim, Receipt};
use crate::text::{cut, escape_html, CAPTION_LIMIT, TELEGRAM_MESSAGE_LIMIT};

impl Bot for Claims {
    fn command_branches() -> Option<UpdateHandler> {
        Some(
            dptree::entry()
                .branch(dptree::filter(|c: Command| c.name == "claim").endpoint(file_claim))
                .branch(dptree::filter(|c: Command| c.name == "claims").endpoint(claims_command)),
        )
    }

    fn message_branches() -> Option<UpdateHandler> {
        Some(dptree::filter_map_async(reply_to_claim).endpoint(on_reply_to_claim))
    }

    fn callback_branches() -> Option<UpdateHandler> {
        Some(dptree::filter_map(card_tap).endpoint(decide_by_button))
    }

    fn job_kinds() -> JobKinds<Self> {
        JobKinds::generic().with::<ClaimsSummary>()
    }
}

/// How many claims `/claims` lists.
const LISTED: i64 = 10;

/// `[claims]`'s rules; `None` when claims are not set up (the caller says so).
fn rules(context: &BotContext) -> Option<ClaimRules> {
    context.bot.claims.as_ref().map(ClaimRules::from_file)
}

fn cards<'a>(context: &'a BotContext, rules: &'a ClaimRules) -> Cards<'a> {
    Cards {
        templates: &context.templates,
        rules,
        timezone: context.roster.timezone(),
    }
}

const NOT_SET_UP: &str =
    "Claims are not set up yet: the operator adds [claims] to bots/claims.toml.";

/// The receipt a message carries: its photo (the largest size) or its document.
fn receipt_of(message: &Message) -> Option<Receipt> {
    let (kind, file_id) = if let Some(sizes) = message.photo() {
        ("photo", sizes.last()?.file.id.0.clone())
    } else {
        ("document", message.document()?.file.id.0.clone())
    };
    Some(Receipt {
        kind,
        file_id,
        chat_id: message.chat.id.0,
        message_id: i64::from(message.id.0),
    })
}

async fn file_claim(
    command: Command,
    message: Message,
    context: Arc<BotContext>,
    poster: Poster<Claims>,
    work: UnitOfWork,
) -> HandlerResult {
    let name = Some("claim");
    let Some(member) = context.roster.member_by_telegram_id(command.user_id).cloned() else {
        return Ok(Decision::new(name, "ignored: sender is not a roster member"));
    };
    let Some(rules) = rules(&context) else {
        reply(&poster, &work, &command, escape_html(NOT_SET_UP)).await?;
        return Ok(Decision::new(name, "refused: claims not set up"));
    };
    let claim = match request::parse(&command.args, &rules) {
        Ok(claim) => claim,
        Err(refusal) => {
            reply(&poster, &work, &command, escape_html(&refusal.to_string())).await?;
            return Ok(Decision::new(name, format!("refused: {}", refusal.tag())));
        }
    };
    let settings = context.bot.claims.as_ref().map(|c| c.thread.clone());
    let Some(thread) = settings.as_deref().and_then(|t| context.roster.thread(t)) else {
        reply(&poster, &work, &command, escape_html(NOT_SET_UP)).await?;
        return Ok(Decision::new(name, "refused: claims thread not in the roster"));
    };
    let card_thread = thread.message_thread_id;
    let needed = rules.approvals_needed(&claim.currency, claim.amount);
    let now = context.clock.now();
    let mut tx = work.lock().await;
    let amount = claim.amount.to_string();
    let new = NewClaim {
        member: &member.name,
        user_id: command.user_id,
        amount: &amount,
        currency: &claim.currency,
        reason: &claim.reason,
        approvals_needed: needed,
        chat_id: command.chat_id,
        thread_id: command.thread_id,
        message_id: command.message_id,
        card_chat_id: context.roster.chat_id(),
        card_thread_id: card_thread,
        submitted_at: now,
    };
    let Some(id) = store::insert(&mut tx, &new).await? else {
        return Ok(Decision::new(name, "ignored: this message already filed a claim"));
    };
    let receipt = receipt_of(&message);
    if let Some(receipt) = &receipt {
        store::attach_receipt(&mut tx, id, receipt).await?;
    }
    let Some(filed) = store::get(&mut tx, id).await? else {
        return Err(HandlerError::Db(sqlx::Error::RowNotFound));
    };
    let ack = acknowledgement(&filed, &claim, &rules, receipt.is_some());
    let mut ack = OutgoingMessage::new(command.chat_id, command.thread_id, ack);
    if !command.is_private {
        ack = ack.replying_to(command.message_id);
    }
    let ack_id = poster.enqueue(&mut tx, ack).await?;
    let card = cards(&context, &rules).render(&filed, &[])?;
    let card = OutgoingMessage::new(context.roster.chat_id(), card_thread, card)
        .in_lane(Lane::Urgent)
        .with_markup(BUTTONS.keyboard(&id.to_string()));
    let card_id = poster.enqueue(&mut tx, card).await?;
    store::set_messages(&mut tx, id, ack_id, card_id).await?;
    Ok(Decision::new(
        name,
        format!(
            "filed: {} {} by {}",
            filed.number(),
            money(&filed),
            member.name
        ),
    )
    .with_detail(format!(
        "{} approval(s) needed; receipt: {}",
        needed,
        receipt.as_ref().map_or("none", |r| r.kind)
    )))
}

/// "🧾 Claim C-0007 filed: SGD 45.20 for taxi. ..."
fn acknowledgement(
    claim: &Claim,
    request: &ClaimRequest,
    rules: &ClaimRules,
    has_receipt: bool,
) -> String {
    let approvals = if claim.approvals_needed > 1 {
        let above = rules
            .currency(&request.currency)
            .map(|r| crate::jobs::ar_brief::format_money(&r.code, r.two_approvals_above))
            .unwrap_or_default();
        format!("It needs two approvers (above {above}).")
    } else {
        "It needs one approver.".to_owned()
    };
    let receipt = if has_receipt {
        "Receipt attached."
    } else {
        "To add the receipt, reply to this message with its photo or file."
    };
    cut(
        &format!(
            "🧾 Claim <b>{}</b> filed: {} for {}. {} {} I'll tell you when it's decided.",
            claim.number(),
            escape_html(&money(claim)),
            escape_html(&request.reason),
            escape_html(&approvals),
            escape_html(receipt)
        ),
        TELEGRAM_MESSAGE_LIMIT,
    )
}

/// `/claims` (my claims) or `/claims export [YYYY-MM]` (approvers).
async fn claims_command(
    command: Command,
    context: Arc<BotContext>,
    poster: Poster<Claims>,
    work: UnitOfWork,
) -> HandlerResult {
    let name = Some("claims");
    let Some(member) = context.roster.member_by_telegram_id(command.user_id).cloned() else {
        return Ok(Decision::new(name, "ignored: sender is not a roster member"));
    };
    let mut words = command.args.split_whitespace();
    match words.next() {
        None => list_claims(&command, &poster, &work, &member).await,
        Some(word) if word.eq_ignore_ascii_case("export") => {
            let month = words.next();
            export_claims(&command, &context, &poster, &work, &member, month).await
        }
        Some(_) => {
            let usage = "Use /claims for your claims, or /claims export [YYYY-MM] for a month's approved claims as CSV (approvers).";
            reply(&poster, &work, &command, escape_html(usage)).await?;
            Ok(Decision::new(name, "refused: usage"))
        }
    }
}

async fn list_claims(
    command: &Command,
    poster: &Poster<Claims>,
    work: &UnitOfWork,
    member: &Member,
) -> HandlerResult {
    let mine = {
        let mut tx = work.lock().await;
        let mut listed = Vec::new();
        for claim in store::of_member(&mut tx, &member.name, LISTED).await? {
            let decisions = store::decisions(&mut tx, claim.id).await?;
            listed.push((claim, decisions));
        }
        listed
    };
    let html = if mine.is_empty() {
        escape_html(&format!(
            "You have no claims yet. File one: {}",
            request::USAGE
        ))
    } else {
        let lines: Vec<String> = mine
            .iter()
            .map(|(claim, decisions)| {
                let state = match claim.state {
                    ClaimState::Pending => format!(
                        "pending ({} of {} approvals)",
                        decisions.iter().filter(|d| d.approves()).count(),
                        claim.approvals_needed
                    ),
                    other => other.to_string(),
                };
                format!(
                    "<b>{}</b> · {} · {} · {}",
                    claim.number(),
                    escape_html(&money(claim)),
                    escape_html(&claim.reason),
                    state
                )
            })
            .collect();
        format!("Your latest claims:\n{}", lines.join("\n"))
    };
    reply(poster, work, command, html).await?;
    Ok(Decision::new(
        Some("claims"),
        format!("answered: {} claim(s) listed", mine.len()),
    ))
}

async fn export_claims(
    command: &Command,
    context: &BotContext,
    poster: &Poster<Claims>,
    work: &UnitOfWork,
    member: &Member,
    month: Option<&str>,
) -> HandlerResult {
    let name = Some("claims");
    if approver(context, command.user_id).is_none() {
        let html = escape_html("Only approvers can export claims.");
        reply(poster, work, command, html).await?;
        return Ok(Decision::new(name, "refused: export by a non-approver"));
    }
    let tz = context.roster.timezone();
    let month = match month {
        None => Month::of(context.clock.now(), tz),
        Some(text) => match Month::parse(text) {
            Some(month) => month,
            None => {
                let html = format!(
                    "“{}” is not a month. Use /claims export 2026-11.",
                    crate::text::echo(text, crate::text::ECHO_LIMIT)
                );
                reply(poster, work, command, html).await?;
                return Ok(Decision::new(name, "refused: not a month"));
            }
        },
    };
    let Some((from, to)) = month.bounds(tz) else {
        return Err(HandlerError::Db(sqlx::Error::Protocol(format!(
            "month {} has no bounds in {tz}",
            month.label()
        ))));
    };
    let mut tx = work.lock().await;
    let approved = store::approved_between(&mut tx, from, to).await?;
    let csv = export::csv(&approved, tz);
    let caption = cut(
        &escape_html(&format!(
            "Approved claims, {}: {} claim(s). Exported for {}.",
            month.label(),
            approved.len(),
            member.name
        )),
        CAPTION_LIMIT,
    );
    let mut document = OutgoingMessage::new(command.chat_id, command.thread_id, caption)
        .with_document(Document {
            file_name: format!("claims-{}.csv", month.label()),
            content: csv.into_bytes(),
        });
    if !command.is_private {
        document = document.replying_to(command.message_id);
    }
    poster.enqueue(&mut tx, document).await?;
    Ok(Decision::new(
        name,
        format!(
            "answered: exported {} approved claim(s) of {}",
            approved.len(),
            month.label()
        ),
    ))
}

fn card_tap(query: CallbackQuery) -> Option<CardTap> {
    BUTTONS.tap(&query)
}

async fn decide_by_button(
    tap: CardTap,
    context: Arc<BotContext>,
    poster: Poster<Claims>,
    work: UnitOfWork,
) -> HandlerResult {
    let name = Some("claim approval");
    let answer =
        |text: &str| OutgoingMessage::callback_answer(tap.query_id.clone(), text).in_lane(Lane::Urgent);
    let mut tx = work.lock().await;
    let Some(member) = approver(&context, tap.user_id) else {
        poster
            .enqueue(&mut tx, answer("Only approvers can decide claims."))
            .await?;
        return Ok(Decision::new(name, format!("refused: not an approver (claim {})", tap.key)));
    };
    let found = match tap.key.parse::<i64>() {
        Ok(id) => store::get(&mut tx, id).await?,
        Err(_) => None,
    };
    let (Some(claim), Some(rules)) = (found, rules(&context)) else {
        poster.enqueue(&mut tx, answer("I don't know that claim.")).await?;
        return Ok(Decision::new(name, "refused: unknown claim"));
    };
    if !tap.approve && claim.state == ClaimState::Pending {
        poster
            .enqueue(&mut tx, answer("To reject, reply to the card: reject REASON"))
            .await?;
        return Ok(Decision::new(
            name,
            format!("answered: reject needs a reason ({})", claim.number()),
        ));
    }
    let outcome = decide(&context, &rules, &poster, &mut tx, &claim, &member, &Verdict::Approve).await?;
    poster.enqueue(&mut tx, answer(&outcome.toast)).await?;
    Ok(Decision::new(name, outcome.decision))
}

/// A reply to one of a claim's messages (the member's `/claim`, the acknowledgement, the
/// card), with what it carries.
#[derive(Debug, Clone)]
struct ClaimReply {
    claim: Claim,
    /// Whether it replies to the card (a decision) rather than to the claim (a receipt).
    to_card: bool,
    receipt: Option<Receipt>,
}

async fn reply_to_claim(message: Message, work: UnitOfWork) -> Option<CardLookup<ClaimReply>> {
    let replied = replied_to(&message)?;
    let chat_id = message.chat.id.0;
    let mut tx = work.lock().await;
    let found = async {
        let Some(claim) = store::by_message(&mut tx, chat_id, replied).await? else {
            return Ok(None);
        };
        let card = store::card_message_id(&mut tx, &claim).await?;
        Ok::<_, sqlx::Error>(Some((claim, card)))
    };
    match found.await {
        Ok(Some((claim, card))) => {
            let reply = ClaimReply {
                to_card: claim.card_chat_id == chat_id && card == Some(replied),
                receipt: receipt_of(&message),
                claim,
            };
            Some(CardLookup::Card(Box::new(ReplyToCard::new(reply, &message))))
        }
        Ok(None) => None,
        Err(e) => Some(CardLookup::Failed(LookupFailure::new(e))),
    }
}

async fn on_reply_to_claim(
    lookup: CardLookup<ClaimReply>,
    context: Arc<BotContext>,
    poster: Poster<Claims>,
    work: UnitOfWork,
) -> HandlerResult {
    let found = lookup.into_reply()?;
    let ClaimReply {
        claim,
        to_card,
        receipt,
    } = &found.card;
    let answer = |html: String| {
        let mut message = OutgoingMessage::new(
            found.chat_id,
            found.thread_id,
            cut(&html, TELEGRAM_MESSAGE_LIMIT),
        )
        .in_lane(Lane::Urgent);
        if found.chat_id != found.user_id {
            message = message.replying_to(found.message_id);
        }
        message
    };
    let Some(rules) = rules(&context) else {
        return Ok(Decision::new(None, "ignored: claims not set up"));
    };
    let mut tx = work.lock().await;
    if let Some(receipt) = receipt {
        let name = Some("claim receipt");
        if found.user_id != claim.user_id {
            let html = escape_html("Only the claimant adds a claim's receipt.");
            poster.enqueue(&mut tx, answer(html)).await?;
            return Ok(Decision::new(name, format!("refused: not the claimant ({})", claim.number())));
        }
        if !store::attach_receipt(&mut tx, claim.id, receipt).await? {
            let html = escape_html(&format!(
                "Claim {} is already {}; its receipt stays as it was.",
                claim.number(),
                claim.state
            ));
            poster.enqueue(&mut tx, answer(html)).await?;
            return Ok(Decision::new(name, format!("refused: already {} ({})", claim.state, claim.number())));
        }
        let Some(updated) = store::get(&mut tx, claim.id).await? else {
            return Err(HandlerError::Db(sqlx::Error::RowNotFound));
        };
        let decisions = store::decisions(&mut tx, claim.id).await?;
        let card = cards(&context, &rules).render(&updated, &decisions)?;
        claims::edit_card(&mut tx, &poster, &updated, card).await?;
        let html = format!("📎 Receipt added to claim <b>{}</b>.", claim.number());
        poster.enqueue(&mut tx, answer(html)).await?;
        return Ok(Decision::new(name, format!("recorded: {} receipt for {}", receipt.kind, claim.number())));
    }
    if !*to_card {
        return Ok(Decision::new(None, "ignored: a reply to a claim that is no receipt"));
    }
    let name = Some("claim approval");
    let Some(member) = approver(&context, found.user_id) else {
        let html = escape_html("Only approvers can decide claims.");
        poster.enqueue(&mut tx, answer(html)).await?;
        return Ok(Decision::new(name, format!("refused: not an approver ({})", claim.number())));
    };
    let verdict = match parse_reply(&found.text) {
        Ok(verdict) => verdict,
        Err(usage) => {
            poster.enqueue(&mut tx, answer(escape_html(usage))).await?;
            return Ok(Decision::new(name, "refused: not a decision"));
        }
    };
    let outcome = decide(&context, &rules, &poster, &mut tx, claim, &member, &verdict).await?;
    poster
        .enqueue(&mut tx, answer(escape_html(&outcome.toast)))
        .await?;
    Ok(Decision::new(name, outcome.decision))
}

/// What a decision attempt led to: the short answer to the approver and the audit line.
struct Outcome {
    toast: String,
    decision: String,
}

/// Applies `verdict` as the claim's next step if it is still pending and `member` may take
/// it: the first decision of a step wins. A rejection, or the last approval needed, ends the
/// claim: the card is closed and Claims confirms to the claimant and the thread.
async fn decide(
    context: &BotContext,
    rules: &ClaimRules,
    poster: &Poster<Claims>,
    tx: &mut sqlx::SqliteConnection,
    claim: &Claim,
    member: &Member,
    verdict: &Verdict,
) -> Result<Outcome, HandlerError> {
    let cards = cards(context, rules);
    let number = claim.number();
    let refused = |toast: String, why: &str| Outcome {
        toast,
        decision: format!("refused: {why} ({number})"),
    };
    if claim.state != ClaimState::Pending {
        return Ok(already_decided(&cards, tx, claim).await?);
    }
    if claim.user_id == member.telegram_id {
        return Ok(refused(
            "You can't decide your own claim; another approver will.".into(),
            "own claim",
        ));
    }
    let decisions = store::decisions(tx, claim.id).await?;
    if decisions.iter().any(|d| d.decided_by == member.name) {
        return Ok(refused(
            "You already approved this claim; it needs a second, different approver.".into(),
            "second approval by the same approver",
        ));
    }
    let step = decisions.len() as i64 + 1;
    let (approve, reason) = match verdict {
        Verdict::Approve => (true, None),
        Verdict::Reject(reason) => (false, Some(reason.as_str())),
    };
    let now = context.clock.now();
    if !store::decide(tx, claim.id, step, approve, &member.name, reason, now).await? {
        // Someone decided this step since this update was read.
        let current = store::get(tx, claim.id).await?.unwrap_or_else(|| claim.clone());
        return Ok(already_decided(&cards, tx, &current).await?);
    }
    let ends = !approve || step >= claim.approvals_needed;
    if ends {
        let state = if approve {
            ClaimState::Approved
        } else {
            ClaimState::Rejected
        };
        store::finish(tx, claim.id, state, now).await?;
    }
    let Some(current) = store::get(tx, claim.id).await? else {
        return Err(HandlerError::Db(sqlx::Error::RowNotFound));
    };
    let decisions = store::decisions(tx, claim.id).await?;
    let card = cards.render(&current, &decisions)?;
    claims::edit_card(tx, poster, &current, card).await?;
    if ends {
        claims::confirm(tx, poster, &current, &decisions).await?;
    }
    let (toast, decision) = match (approve, ends) {
        (true, true) => (
            "Approved. The claimant is told.".to_owned(),
            format!("approved: {number} by {}", member.name),
        ),
        (true, false) => (
            format!("Approved ({step} of {}). It needs a second approver.", claim.approvals_needed),
            format!("approved ({step} of {}): {number} by {}", claim.approvals_needed, member.name),
        ),
        (false, _) => (
            "Rejected. The claimant is told.".to_owned(),
            format!("rejected: {number} by {}: {}", member.name, reason.unwrap_or_default()),
        ),
    };
    Ok(Outcome { toast, decision })
}

/// The answer to a decision on a claim that is no longer pending.
async fn already_decided(
    cards: &Cards<'_>,
    tx: &mut sqlx::SqliteConnection,
    claim: &Claim,
) -> Result<Outcome, sqlx::Error> {
    let decisions = store::decisions(tx, claim.id).await?;
    let toast = match decisions.last() {
        Some(last) if claim.state != ClaimState::Pending => format!(
            "Already {} by {} at {}.",
            claim.state,
            last.decided_by,
            last.decided_at().map(|at| cards.local(at)).unwrap_or_default()
        ),
        Some(last) => format!(
            "{} decided this step first; the claim still needs another approver.",
            last.decided_by
        ),
        None => format!("This claim is already {}.", claim.state),
    };
    Ok(Outcome {
        toast,
        decision: format!("refused: already {} ({})", claim.state, claim.number()),
    })
}
