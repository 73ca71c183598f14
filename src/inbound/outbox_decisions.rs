//! The console's buttons on outbox rows: *Resend* / *Mark sent* on an ambiguous send,
//! *Retry* / *Dismiss* on a failed one (`/failed`), and *Resend all* / *Mark all sent* on a
//! DM grouping a bot's ambiguous sends ([`crate::outbox::ambiguous`]). Only operators decide;
//! the decision is applied once (a row must still be in the state the buttons were for: a
//! group's buttons decide only its rows still `ambiguous`), each row's change is audited, the
//! tap is answered, and the message is edited to say who decided what. A second tap, by
//! anyone, is told the rows were already decided.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use teloxide::types::CallbackQuery;

use super::{BotContext, Decision, HandlerResult, UnitOfWork};
use crate::identity::{BotIdentity, Poster};
use crate::outbox::{
    ambiguous, audit_transition, set_state, OutboxRow, OutboxState, OutgoingMessage,
};
use crate::roster::{Member, Role};
use crate::store::Write;
use crate::text::escape_html;

/// What the operator chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Ambiguous: send it again.
    Resend,
    /// Ambiguous: it did arrive.
    MarkSent,
    /// Failed: try it again (after fixing the cause).
    Retry,
    /// Failed: give up on it.
    Dismiss,
}

impl Choice {
    /// The state a row must be in for this choice, and the state it moves to.
    fn transition(self) -> (OutboxState, OutboxState) {
        use OutboxState::{Ambiguous, Cancelled, Failed, Pending, Sent};
        match self {
            Choice::Resend => (Ambiguous, Pending),
            Choice::MarkSent => (Ambiguous, Sent),
            Choice::Retry => (Failed, Pending),
            Choice::Dismiss => (Failed, Cancelled),
        }
    }
}

/// What a tap decides: one row, or every row of a grouped DM still undecided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Row(i64),
    Group(i64),
}

/// A tap on one of the buttons of [`crate::outbox::ambiguous::tell`]
/// or of `/ambiguous` and `/failed`.
#[derive(Debug, Clone)]
pub struct OutboxDecision {
    choice: Choice,
    target: Target,
    query_id: String,
    user_id: i64,
    /// The alert that carried the buttons: (chat, message).
    alert: Option<(i64, i32)>,
}

/// Parses `ob:<action>:<row>` taps (`resend`, `sent`, `retry`, `dismiss`) and
/// `ob:resend-all:<group>` / `ob:sent-all:<group>`, on the console identity only.
pub fn outbox_decision(query: CallbackQuery, context: Arc<BotContext>) -> Option<OutboxDecision> {
    if !context.is_console {
        return None;
    }
    let (action, id) = query
        .data
        .as_deref()?
        .strip_prefix("ob:")?
        .split_once(':')?;
    let id: i64 = id.parse().ok()?;
    let (choice, target) = match action {
        "resend" => (Choice::Resend, Target::Row(id)),
        "sent" => (Choice::MarkSent, Target::Row(id)),
        "retry" => (Choice::Retry, Target::Row(id)),
        "dismiss" => (Choice::Dismiss, Target::Row(id)),
        "resend-all" => (Choice::Resend, Target::Group(id)),
        "sent-all" => (Choice::MarkSent, Target::Group(id)),
        _ => return None,
    };
    Some(OutboxDecision {
        choice,
        target,
        query_id: query.id.0.clone(),
        user_id: query.from.id.0 as i64,
        alert: query.message.as_ref().map(|m| (m.chat().id.0, m.id().0)),
    })
}

pub async fn apply_outbox_decision<I: BotIdentity>(
    decision: OutboxDecision,
    context: Arc<BotContext>,
    poster: Poster<I>,
    work: UnitOfWork,
) -> HandlerResult {
    let command = Some(match (decision.choice, decision.target) {
        (Choice::Resend, Target::Row(_)) => "resend",
        (Choice::MarkSent, Target::Row(_)) => "mark sent",
        (Choice::Resend, Target::Group(_)) => "resend all",
        (Choice::MarkSent, Target::Group(_)) => "mark all sent",
        (Choice::Retry, _) => "retry",
        (Choice::Dismiss, _) => "dismiss",
    });
    let mut tx = work.lock().await;
    let answer = |text: &str| OutgoingMessage::callback_answer(decision.query_id.clone(), text);
    let Some(operator) = context
        .roster
        .member_by_telegram_id(decision.user_id)
        .filter(|m| context.roster.has_role(m.telegram_id, Role::Operator))
        .cloned()
    else {
        poster
            .enqueue(&mut tx, answer("Only an operator can decide this."))
            .await?;
        return Ok(Decision::new(command, "refused: not an operator"));
    };
    if context.diagnose {
        poster
            .enqueue(
                &mut tx,
                answer("herald is in diagnose mode: decide after a normal start."),
            )
            .await?;
        return Ok(Decision::new(command, "refused: diagnose mode"));
    }
    let decided = match decision.target {
        Target::Row(row) => decide_row(&decision, row, &operator, &context, &mut tx).await?,
        Target::Group(group) => {
            decide_group(&decision, group, &operator, &context, &mut tx).await?
        }
    };
    poster.enqueue(&mut tx, answer(&decided.toast)).await?;
    if let (Some(html), Some((chat, message))) = (decided.edit, decision.alert) {
        let html = crate::text::cut(&html, crate::text::TELEGRAM_MESSAGE_LIMIT);
        let mut edit = OutgoingMessage::new(chat, None, html);
        edit.kind = crate::outbox::MessageKind::Edit {
            message_id: i64::from(message),
        };
        poster.enqueue(&mut tx, edit).await?;
    }
    Ok(Decision::new(command, decided.decision))
}

/// What a tap led to: the answer to the tap, the new text of the message that carried the
/// buttons (none when nothing changed), and the audit line of the update.
struct Decided {
    toast: String,
    edit: Option<String>,
    decision: String,
}

/// How the verdict reads in toasts, edits and the audit log.
fn verdict(choice: Choice) -> &'static str {
    match choice {
        Choice::Resend => "resend",
        Choice::MarkSent => "marked sent",
        Choice::Retry => "retry",
        Choice::Dismiss => "dismissed",
    }
}

fn when(context: &BotContext, now: DateTime<Utc>) -> String {
    now.with_timezone(&context.roster.timezone())
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// One row's buttons.
async fn decide_row(
    decision: &OutboxDecision,
    id: i64,
    operator: &Member,
    context: &BotContext,
    tx: &mut Write,
) -> Result<Decided, super::HandlerError> {
    let row: Option<OutboxRow> = sqlx::query_as("SELECT * FROM outbox WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(mut row) = row else {
        return Ok(Decided {
            toast: "That message is not in the outbox.".to_owned(),
            edit: None,
            decision: "refused: no such outbox row".to_owned(),
        });
    };
    let (from, to) = decision.choice.transition();
    if row.state != from {
        return Ok(Decided {
            toast: format!("Already decided: that message is {}.", row.state),
            edit: None,
            decision: format!("refused: row {} already {}", row.id, row.state),
        });
    }
    let now = context.clock.now();
    let toast = match decision.choice {
        Choice::Resend => "Resending it now.",
        Choice::MarkSent => "Marked as sent; it will not be resent.",
        Choice::Retry => "Retrying it now.",
        Choice::Dismiss => "Dismissed; it will not be sent.",
    };
    let verdict = verdict(decision.choice);
    let transition = format!("{from} -> {to} ({verdict} by {})", operator.name);
    row.error = Some(format!("{verdict} by {}", operator.name));
    set_state(tx, row.id, to, row.error.as_deref(), now).await?;
    audit_transition(tx, &row, &transition, now).await?;
    let edit = format!(
        "Outbox row {} ({} → {}), {from}.\nDecided: <b>{verdict}</b> by {} at {}.",
        row.id,
        escape_html(&row.bot),
        escape_html(&context.roster.place(row.chat_id, row.thread_id)),
        escape_html(&operator.name),
        when(context, now),
    );
    Ok(Decided {
        toast: toast.to_owned(),
        edit: Some(edit),
        decision: format!("decided: row {} {verdict}", row.id),
    })
}

/// A grouped DM's buttons: the verdict applies to each of the group's rows still
/// `ambiguous`, each change audited; rows decided meanwhile (one by one, or by another tap)
/// are left as they are and counted.
async fn decide_group(
    decision: &OutboxDecision,
    group: i64,
    operator: &Member,
    context: &BotContext,
    tx: &mut Write,
) -> Result<Decided, super::HandlerError> {
    let rows = ambiguous::rows(tx, group).await?;
    if rows.is_empty() {
        return Ok(Decided {
            toast: "Those messages are not in the outbox.".to_owned(),
            edit: None,
            decision: format!("refused: no group {group}"),
        });
    }
    let (from, to) = decision.choice.transition();
    let (undecided, settled): (Vec<OutboxRow>, Vec<OutboxRow>) =
        rows.into_iter().partition(|r| r.state == from);
    if undecided.is_empty() {
        return Ok(Decided {
            toast: "Already decided: none of these messages is still unsure.".to_owned(),
            edit: None,
            decision: format!("refused: group {group} already decided"),
        });
    }
    let now = context.clock.now();
    let verdict = verdict(decision.choice);
    let transition = format!(
        "{from} -> {to} ({verdict} by {}, all of group {group})",
        operator.name
    );
    for row in &undecided {
        let mut row = row.clone();
        row.error = Some(format!("{verdict} by {}", operator.name));
        set_state(tx, row.id, to, row.error.as_deref(), now).await?;
        audit_transition(tx, &row, &transition, now).await?;
    }
    let n = undecided.len();
    let mut toast = match decision.choice {
        Choice::MarkSent => format!("Marked {n} message(s) as sent; they will not be resent."),
        _ => format!("Resending {n} message(s) now."),
    };
    if !settled.is_empty() {
        toast.push_str(&format!(
            " {} were already decided and stay as they are.",
            settled.len()
        ));
    }
    let ids: Vec<String> = undecided.iter().map(|r| r.id.to_string()).collect();
    let edit = format!(
        "Outbox rows {} ({}), ambiguous.\nDecided: <b>{verdict}</b> for {n} row(s) by {} at {}{}.",
        escape_html(&list(&ids)),
        escape_html(&undecided[0].bot),
        escape_html(&operator.name),
        when(context, now),
        if settled.is_empty() {
            String::new()
        } else {
            format!("; {} already decided before", settled.len())
        },
    );
    Ok(Decided {
        toast,
        edit: Some(edit),
        decision: format!("decided: group {group} {verdict} (rows {})", list(&ids)),
    })
}

/// `1, 2, 3`, or the first 20 and how many more.
fn list(ids: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut text = ids
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > SHOWN {
        text.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    text
}
