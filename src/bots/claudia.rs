//! Claudia, the finance bot: she runs the approval desk and the AR brief, and her handler
//! tree takes decisions on invoice approval cards, by button (`ap:a:<id>`
//! approves; `ap:r:<id>` says how to reject with a reason) or by a reply to the card
//! ("approve", "reject REASON"). Only roster approvers decide; the first decision wins; every
//! tap is answered at once, in the update's transaction, long before Xero is called (the
//! [`crate::approvals::ApprovalDesk`] does that). A reply whose card cannot be looked up (a
//! database error) fails the update: rolled back and audited, never passed over as "not a
//! card reply".

use std::sync::Arc;

use teloxide::types::{CallbackQuery, Message};

use super::Bot;
use crate::approvals::verdict::{
    approver, parse_reply, replied_to, CardLookup, CardTap, LookupFailure, ReplyToCard, Verdict,
};
use crate::approvals::{self, CardContext};
use crate::identity::{Claudia, Poster};
use crate::inbound::{BotContext, Decision, HandlerError, HandlerResult, UnitOfWork, UpdateHandler};
use crate::jobs::{ar_brief_job::ArBriefJob, kinds::JobKinds};
use crate::outbox::{Lane, OutgoingMessage};
use crate::roster::Member;
use crate::store::approvals::{self as store, Approval};
use crate::text::{cut, escape_html, TELEGRAM_MESSAGE_LIMIT};

impl Bot for Claudia {
    fn callback_branches() -> Option<UpdateHandler> {
        Some(dptree::filter_map(card_tap).endpoint(decide_by_button))
    }

    fn message_branches() -> Option<UpdateHandler> {
        Some(dptree::filter_map_async(card_reply).endpoint(decide_by_reply))
    }

    fn approval_desk(
        poster: Poster<Claudia>,
        inputs: approvals::DeskInputs,
    ) -> Option<approvals::ApprovalDesk> {
        Some(approvals::ApprovalDesk::new(inputs, poster))
    }

    fn job_kinds() -> JobKinds<Self> {
        JobKinds::generic().with::<ArBriefJob>()
    }
}

fn card_tap(query: CallbackQuery) -> Option<CardTap> {
    approvals::INVOICE_BUTTONS.tap(&query)
}

async fn decide_by_button(
    tap: CardTap,
    context: Arc<BotContext>,
    poster: Poster<Claudia>,
    work: UnitOfWork,
) -> HandlerResult {
    let command = Some("approval");
    let mut tx = work.lock().await;
    let answer = |text: &str| {
        OutgoingMessage::callback_answer(tap.query_id.clone(), text).in_lane(Lane::Urgent)
    };
    let Some(member) = approver(&context, tap.user_id) else {
        poster
            .enqueue(&mut tx, answer("Only approvers can decide invoices."))
            .await?;
        return Ok(Decision::new(
            command,
            format!("refused: not an approver ({})", tap.key),
        ));
    };
    let Some(approval) = store::get(&mut tx, &tap.key).await? else {
        poster
            .enqueue(&mut tx, answer("I don't know that invoice."))
            .await?;
        return Ok(Decision::new(command, "refused: unknown invoice"));
    };
    if approval.state != store::ApprovalState::Open {
        let outcome = already_decided(&card_context(&context), &approval);
        poster.enqueue(&mut tx, answer(&outcome.toast)).await?;
        return Ok(Decision::new(command, outcome.decision));
    }
    if !tap.approve {
        poster
            .enqueue(
                &mut tx,
                answer("To reject, reply to the card: reject REASON"),
            )
            .await?;
        return Ok(Decision::new(
            command,
            format!("answered: reject needs a reason ({})", approval.number),
        ));
    }
    drop(tx);
    let outcome = decide(
        &context,
        &poster,
        &work,
        &approval,
        &member,
        &Verdict::Approve,
    )
    .await?;
    let mut tx = work.lock().await;
    poster.enqueue(&mut tx, answer(&outcome.toast)).await?;
    Ok(Decision::new(command, outcome.decision))
}

/// A real reply (not a topic's root) to one of Claudia's cards, or the lookup's failure.
async fn card_reply(message: Message, work: UnitOfWork) -> Option<CardLookup<Approval>> {
    let replied = replied_to(&message)?;
    let mut tx = work.lock().await;
    match store::by_card_message(&mut tx, message.chat.id.0, replied).await {
        Ok(found) => Some(CardLookup::Card(Box::new(ReplyToCard::new(found?, &message)))),
        Err(e) => Some(CardLookup::Failed(LookupFailure::new(e))),
    }
}

async fn decide_by_reply(
    lookup: CardLookup<Approval>,
    context: Arc<BotContext>,
    poster: Poster<Claudia>,
    work: UnitOfWork,
) -> HandlerResult {
    let reply = lookup.into_reply()?;
    let command = Some("approval");
    let answer = |html: String| {
        OutgoingMessage::new(
            reply.chat_id,
            reply.thread_id,
            cut(&html, TELEGRAM_MESSAGE_LIMIT),
        )
        .replying_to(reply.message_id)
        .in_lane(Lane::Urgent)
    };
    let Some(member) = approver(&context, reply.user_id) else {
        let mut tx = work.lock().await;
        poster
            .enqueue(
                &mut tx,
                answer(escape_html("Only approvers can decide invoices.")),
            )
            .await?;
        return Ok(Decision::new(
            command,
            format!("refused: not an approver ({})", reply.card.invoice_id),
        ));
    };
    let verdict = match parse_reply(&reply.text) {
        Ok(verdict) => verdict,
        Err(usage) => {
            let mut tx = work.lock().await;
            poster.enqueue(&mut tx, answer(escape_html(usage))).await?;
            return Ok(Decision::new(command, "refused: not a decision"));
        }
    };
    let outcome = decide(&context, &poster, &work, &reply.card, &member, &verdict).await?;
    let mut tx = work.lock().await;
    poster
        .enqueue(&mut tx, answer(escape_html(&outcome.toast)))
        .await?;
    Ok(Decision::new(command, outcome.decision))
}

/// What a decision attempt led to: the short answer to the member and the audit line.
struct Outcome {
    toast: String,
    decision: String,
}

/// Applies `verdict` if the approval is still open (the first decision wins), edits the
/// card, and for a rejection posts the confirmation; an approval's confirmation follows once
/// Xero has it.
async fn decide(
    context: &BotContext,
    poster: &Poster<Claudia>,
    work: &UnitOfWork,
    approval: &Approval,
    member: &Member,
    verdict: &Verdict,
) -> Result<Outcome, HandlerError> {
    let cards = card_context(context);
    let now = context.clock.now();
    let (approve, reason) = match verdict {
        Verdict::Approve => (true, None),
        Verdict::Reject(reason) => (false, Some(reason.as_str())),
    };
    let mut tx = work.lock().await;
    let won = store::decide(
        &mut tx,
        &approval.invoice_id,
        approve,
        &member.name,
        reason,
        now,
    )
    .await?;
    if !won {
        // Decided by someone else since this update was read.
        let current = store::get(&mut tx, &approval.invoice_id)
            .await?
            .unwrap_or_else(|| approval.clone());
        return Ok(already_decided(&cards, &current));
    }
    let when = cards.local(now);
    let status = match reason {
        None => format!(
            "⏳ Approved by {} at {when}; writing it to Xero…",
            member.name
        ),
        Some(reason) => format!("❌ Rejected by {} at {when}: {reason}", member.name),
    };
    let card = cards.render(approval, Some(&status))?;
    approvals::edit_card(&mut tx, poster, approval, card).await?;
    if let Some(reason) = reason {
        approvals::post_in_thread(
            &mut tx,
            poster,
            approval,
            format!(
                "❌ Invoice <b>{}</b> ({}, {}) rejected by {} at {when}: {}. Nothing was changed in Xero.",
                escape_html(&approval.number),
                escape_html(&approval.contact),
                escape_html(&approval.total),
                escape_html(&member.name),
                escape_html(reason)
            ),
        )
        .await?;
    }
    let (toast, decision) = if approve {
        (
            "Approved. Writing it to Xero.".to_owned(),
            format!(
                "approved: {} {} by {}",
                approval.invoice_id, approval.number, member.name
            ),
        )
    } else {
        (
            "Rejected.".to_owned(),
            format!(
                "rejected: {} {} by {}: {}",
                approval.invoice_id,
                approval.number,
                member.name,
                reason.unwrap_or_default()
            ),
        )
    };
    Ok(Outcome { toast, decision })
}

fn card_context(context: &BotContext) -> CardContext {
    CardContext {
        templates: context.templates.clone(),
        roster: context.roster.clone(),
    }
}

/// The answer to a decision on a card that is no longer open.
fn already_decided(cards: &CardContext, approval: &Approval) -> Outcome {
    let toast = match (approval.decided_by.as_deref(), approval.decided_at()) {
        (Some(by), Some(at)) => {
            format!("Already {} by {by} at {}.", approval.state, cards.local(at))
        }
        _ => format!("This card is already {}.", approval.state),
    };
    Outcome {
        toast,
        decision: format!("refused: already {} ({})", approval.state, approval.number),
    }
}

impl From<approvals::DeskError> for HandlerError {
    fn from(e: approvals::DeskError) -> Self {
        match e {
            approvals::DeskError::Db(e) => HandlerError::Db(e),
            approvals::DeskError::Enqueue(e) => HandlerError::Enqueue(e),
            approvals::DeskError::Template(e) => HandlerError::Template(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::clock::Clock;
    use crate::config::secrets::Token;
    use crate::identity::VerifiedBot;
    use crate::bots::handler_tree;
    use crate::roster::Role;
    use crate::inbound::poller::Poller;
    use crate::inbound::{base_dependencies, CommandRouting};
    use crate::store::Store;
    use crate::telegram::TelegramClient;

    /// A database error while looking up the card a reply answers fails the update: its
    /// transaction rolls back (nothing is sent) and the failure is audited with the error,
    /// instead of the reply passing as "not a card reply".
    #[tokio::test]
    async fn a_database_error_on_the_card_reply_path_fails_the_update() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let config = crate::config::load(root).unwrap();
        let approver = config
            .roster
            .members()
            .iter()
            .find(|m| m.has_role(Role::Approver))
            .unwrap()
            .telegram_id;
        let approvals_thread = config
            .roster
            .thread("approvals")
            .unwrap()
            .message_thread_id
            .unwrap();
        let clock = Clock::manual(chrono::DateTime::UNIX_EPOCH);
        let verified = VerifiedBot::<Claudia>::new(Token::new("2:test".into()), 2, false);
        let claudia = config.bot("claudia").unwrap();
        let context = Arc::new(BotContext {
            identity: "claudia",
            display: "Claudia",
            username: claudia.username.clone(),
            bot: claudia.clone(),
            roster: Arc::new(config.roster.clone()),
            routing: Arc::new(CommandRouting::from_config(&config)),
            templates: Arc::new(
                crate::templates::Templates::load(&root.join("templates")).unwrap(),
            ),
            clock: clock.clone(),
            is_console: false,
            console_username: config.bot("lawrence").unwrap().username.clone(),
            jobs: Arc::new(Vec::new()),
            started_at: chrono::DateTime::UNIX_EPOCH,
            diagnose: false,
            commands_per_minute: 10,
            readiness: Default::default(),
        });
        let poller = Poller::new(
            &verified,
            TelegramClient::new("http://127.0.0.1:9").unwrap(),
            store.clone(),
            clock.clone(),
            handler_tree::<Claudia>(),
            base_dependencies(context, Poster::new(&verified, clock)),
            1,
            crate::outbox::alerts::ConsoleChannel::lawrence_for_tests(Arc::new(config.roster.clone())),
        );
        // The card lookup's table is gone: every lookup fails.
        sqlx::query("ALTER TABLE approvals RENAME TO approvals_elsewhere")
            .execute(store.pool())
            .await
            .unwrap();
        let chat = config.roster.chat_id();
        let reply = json!({
            "update_id": 77,
            "message": {
                "message_id": 107,
                "from": {"id": approver, "is_bot": false, "first_name": "Approver"},
                "chat": {"id": chat, "title": "Team", "is_forum": true, "type": "supergroup"},
                "date": 1785809921,
                "message_thread_id": approvals_thread,
                "reply_to_message": {
                    "message_id": 105,
                    "from": {"id": 2, "is_bot": true, "first_name": "Claudia", "username": claudia.username},
                    "chat": {"id": chat, "title": "Team", "is_forum": true, "type": "supergroup"},
                    "date": 1785809790,
                    "message_thread_id": approvals_thread,
                    "text": "🧾 Invoice INV-0060 awaits approval",
                    "is_topic_message": true
                },
                "text": "approve",
                "is_topic_message": true
            }
        });

        poller.handle(reply).await.unwrap();

        let (decision, detail): (String, Option<String>) = sqlx::query_as(
            "SELECT decision, detail FROM audit WHERE kind = 'inbound' ORDER BY seq DESC LIMIT 1",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert!(decision.starts_with("failed"), "{decision}: {detail:?}");
        assert!(
            detail
                .as_deref()
                .is_some_and(|d| d.contains("no such table: approvals")),
            "the audit names the database error: {detail:?}"
        );
        let answered: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE bot = 'claudia'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(
            answered, 0,
            "nothing answered: the update's transaction rolled back"
        );
        let told: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE bot = 'lawrence' AND text LIKE '%no such table%'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert!(told > 0, "the operators are told of the failed update");
    }
}
