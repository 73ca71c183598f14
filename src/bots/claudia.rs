//! Claudia, the finance bot: she runs the approval desk and the AR brief, and her handler
//! tree takes decisions on invoice approval cards, by button (`ap:a:<id>`
//! approves; `ap:r:<id>` says how to reject with a reason) or by a reply to the card
//! ("approve", "reject REASON"). Only roster approvers decide; the first decision wins; every
//! tap is answered at once, in the update's transaction, long before Xero is called (the
//! [`crate::approvals::ApprovalDesk`] does that). A reply whose card cannot be looked up (a
//! database error) fails the update: rolled back and audited, never passed over as "not a
//! card reply".

use std::sync::{Arc, Mutex};

use teloxide::types::{CallbackQuery, Message};

use super::Bot;
use crate::approvals::{self, CardContext, APPROVE_PREFIX, REJECT_PREFIX};
use crate::identity::{Claudia, Poster};
use crate::inbound::{BotContext, Decision, HandlerError, HandlerResult, UnitOfWork, UpdateHandler};
use crate::jobs::{ar_brief_job::ArBriefJob, kinds::JobKinds};
use crate::outbox::{Lane, OutgoingMessage};
use crate::roster::{Member, Role};
use crate::store::approvals::{self as store, Approval};
use crate::text::{cut, cut_plain, escape_html, REASON_LIMIT, TELEGRAM_MESSAGE_LIMIT};

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

/// What a member decided about a card.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Approve,
    Reject(String),
}

/// A tap on a card's button. *Reject* only asks for a reason, by reply.
#[derive(Debug, Clone)]
struct CardTap {
    invoice_id: String,
    approve: bool,
    query_id: String,
    user_id: i64,
}

fn card_tap(query: CallbackQuery) -> Option<CardTap> {
    let data = query.data.as_deref()?;
    let (invoice_id, approve) = match data.strip_prefix(APPROVE_PREFIX) {
        Some(id) => (id, true),
        None => (data.strip_prefix(REJECT_PREFIX)?, false),
    };
    Some(CardTap {
        invoice_id: invoice_id.to_owned(),
        approve,
        query_id: query.id.0.clone(),
        user_id: query.from.id.0 as i64,
    })
}

/// The approver `user_id` is, if they are one.
fn approver(context: &BotContext, user_id: i64) -> Option<Member> {
    context
        .roster
        .member_by_telegram_id(user_id)
        .filter(|m| m.has_role(Role::Approver))
        .cloned()
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
            format!("refused: not an approver ({})", tap.invoice_id),
        ));
    };
    let Some(approval) = store::get(&mut tx, &tap.invoice_id).await? else {
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

/// A reply to a message in a chat Claudia reads, looked up among her approval cards.
#[derive(Debug, Clone)]
enum CardReplyLookup {
    /// A reply to an approval card.
    Card(Box<CardReply>),
    /// The lookup failed: the update fails with this error.
    Failed(LookupFailure),
}

/// A database error met while looking a card up, carried to the endpoint (dptree values are
/// cloned, `sqlx::Error` is not `Clone`): the endpoint takes it out once.
#[derive(Debug, Clone)]
struct LookupFailure(Arc<Mutex<Option<sqlx::Error>>>);

impl LookupFailure {
    fn new(error: sqlx::Error) -> Self {
        Self(Arc::new(Mutex::new(Some(error))))
    }

    /// The error, as the update's failure.
    fn into_error(self) -> HandlerError {
        let taken = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        HandlerError::Db(taken.unwrap_or_else(|| {
            sqlx::Error::Protocol("an approval card lookup failed (error already reported)".into())
        }))
    }
}

/// A reply to one of Claudia's approval cards.
#[derive(Debug, Clone)]
struct CardReply {
    approval: Approval,
    text: String,
    user_id: i64,
    chat_id: i64,
    thread_id: Option<i32>,
    message_id: i64,
}

/// A real reply (not a topic's root) to one of Claudia's cards, or the lookup's failure.
async fn card_reply(message: Message, work: UnitOfWork) -> Option<CardReplyLookup> {
    let replied = message.reply_to_message()?;
    let thread_id = message.thread_id.map(|t| t.0 .0);
    if Some(replied.id.0) == thread_id {
        return None; // The topic's root: not a real reply.
    }
    let mut tx = work.lock().await;
    let approval =
        match store::by_card_message(&mut tx, message.chat.id.0, i64::from(replied.id.0)).await {
            Ok(found) => found?,
            Err(e) => {
                tracing::error!(error = %e, "could not look up an approval card; the update fails");
                return Some(CardReplyLookup::Failed(LookupFailure::new(e)));
            }
        };
    Some(CardReplyLookup::Card(Box::new(CardReply {
        approval,
        text: message.text().unwrap_or_default().trim().to_owned(),
        user_id: message.from.as_ref().map_or(0, |u| u.id.0 as i64),
        chat_id: message.chat.id.0,
        thread_id,
        message_id: i64::from(message.id.0),
    })))
}

/// Parses "approve" or "reject REASON" (any case; trailing punctuation ignored).
fn parse_reply(text: &str) -> Result<Verdict, &'static str> {
    let mut words = text.splitn(2, char::is_whitespace);
    let word = words
        .next()
        .unwrap_or_default()
        .trim_end_matches(['.', '!'])
        .to_lowercase();
    let rest = words.next().unwrap_or_default().trim();
    match word.as_str() {
        "approve" | "approved" if rest.is_empty() => Ok(Verdict::Approve),
        "reject" | "rejected" if rest.is_empty() => Err("Say why: reply “reject REASON”."),
        "reject" | "rejected" => Ok(Verdict::Reject(cut_plain(rest, REASON_LIMIT))),
        _ => Err("Reply “approve”, or “reject REASON”."),
    }
}

async fn decide_by_reply(
    lookup: CardReplyLookup,
    context: Arc<BotContext>,
    poster: Poster<Claudia>,
    work: UnitOfWork,
) -> HandlerResult {
    let reply = match lookup {
        CardReplyLookup::Card(reply) => *reply,
        CardReplyLookup::Failed(failure) => return Err(failure.into_error()),
    };
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
            format!("refused: not an approver ({})", reply.approval.invoice_id),
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
    let outcome = decide(&context, &poster, &work, &reply.approval, &member, &verdict).await?;
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

    #[test]
    fn replies_parse_to_decisions_or_usage() {
        assert_eq!(parse_reply("approve"), Ok(Verdict::Approve));
        assert_eq!(parse_reply("Approve."), Ok(Verdict::Approve));
        assert_eq!(
            parse_reply("reject wrong PO number"),
            Ok(Verdict::Reject("wrong PO number".into()))
        );
        assert!(parse_reply("reject").is_err());
        assert!(parse_reply("approve it please").is_err());
        assert!(parse_reply("lgtm").is_err());
    }
}
