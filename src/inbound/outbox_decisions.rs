//! The console's buttons on outbox rows: *Resend* / *Mark sent* on an ambiguous send,
//! *Retry* / *Dismiss* on a failed one (`/failed`). Only operators decide; the decision is
//! applied once (the row must still be in the state the buttons were for), audited, the tap
//! is answered, and the message is edited to say who decided what. A second tap, by anyone,
//! is told the row was already decided.

use std::sync::Arc;

use teloxide::types::CallbackQuery;

use super::{Behaviour, BotContext, Decision, HandlerResult, UnitOfWork};
use crate::identity::Poster;
use crate::outbox::{audit_transition, set_state, OutboxRow, OutgoingMessage};
use crate::roster::Role;
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
    fn transition(self) -> (&'static str, &'static str) {
        match self {
            Choice::Resend => ("ambiguous", "pending"),
            Choice::MarkSent => ("ambiguous", "sent"),
            Choice::Retry => ("failed", "pending"),
            Choice::Dismiss => ("failed", "cancelled"),
        }
    }
}

/// A tap on one of the buttons of [`crate::outbox::alerts::ConsoleChannel::ambiguous_send`].
#[derive(Debug, Clone)]
pub struct OutboxDecision {
    choice: Choice,
    row: i64,
    query_id: String,
    user_id: i64,
    /// The alert that carried the buttons: (chat, message).
    alert: Option<(i64, i32)>,
}

/// Parses `ob:resend:<row>` / `ob:sent:<row>` taps, on the console identity only.
pub fn outbox_decision(query: CallbackQuery, context: Arc<BotContext>) -> Option<OutboxDecision> {
    if !context.is_console {
        return None;
    }
    let (action, row) = query
        .data
        .as_deref()?
        .strip_prefix("ob:")?
        .split_once(':')?;
    let choice = match action {
        "resend" => Choice::Resend,
        "sent" => Choice::MarkSent,
        "retry" => Choice::Retry,
        "dismiss" => Choice::Dismiss,
        _ => return None,
    };
    Some(OutboxDecision {
        choice,
        row: row.parse().ok()?,
        query_id: query.id.0.clone(),
        user_id: query.from.id.0 as i64,
        alert: query.message.as_ref().map(|m| (m.chat().id.0, m.id().0)),
    })
}

pub async fn apply_outbox_decision<I: Behaviour>(
    decision: OutboxDecision,
    context: Arc<BotContext>,
    poster: Poster<I>,
    work: UnitOfWork,
) -> HandlerResult {
    let command = Some(match decision.choice {
        Choice::Resend => "resend",
        Choice::MarkSent => "mark sent",
        Choice::Retry => "retry",
        Choice::Dismiss => "dismiss",
    });
    let mut tx = work.lock().await;
    let answer = |text: &str| OutgoingMessage::callback_answer(decision.query_id.clone(), text);
    let Some(operator) = context
        .roster
        .member_by_telegram_id(decision.user_id)
        .filter(|m| context.roster.has_role(m.telegram_id, Role::Operator))
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
    let row: Option<OutboxRow> = sqlx::query_as("SELECT * FROM outbox WHERE id = ?")
        .bind(decision.row)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(mut row) = row else {
        poster
            .enqueue(&mut tx, answer("That message is not in the outbox."))
            .await?;
        return Ok(Decision::new(command, "refused: no such outbox row"));
    };
    let (from, to) = decision.choice.transition();
    if row.state != from {
        poster
            .enqueue(
                &mut tx,
                answer(&format!("Already decided: that message is {}.", row.state)),
            )
            .await?;
        return Ok(Decision::new(
            command,
            format!("refused: row {} already {}", row.id, row.state),
        ));
    }
    let now = context.clock.now();
    let (toast, verdict) = match decision.choice {
        Choice::Resend => ("Resending it now.", "resend"),
        Choice::MarkSent => ("Marked as sent; it will not be resent.", "marked sent"),
        Choice::Retry => ("Retrying it now.", "retry"),
        Choice::Dismiss => ("Dismissed; it will not be sent.", "dismissed"),
    };
    let state = to;
    let transition = format!("{from} -> {to} ({verdict} by {})", operator.name);
    row.error = Some(format!("{verdict} by {}", operator.name));
    set_state(&mut tx, row.id, state, row.error.as_deref(), now).await?;
    audit_transition(&mut tx, &row, &transition, now).await?;
    poster.enqueue(&mut tx, answer(toast)).await?;
    if let Some((chat, message)) = decision.alert {
        let local = now.with_timezone(&context.roster.timezone());
        let html = format!(
            "Outbox row {} ({} → {}), {from}.\nDecided: <b>{verdict}</b> by {} at {}.",
            row.id,
            escape_html(&row.bot),
            escape_html(&context.roster.place(row.chat_id, row.thread_id)),
            escape_html(&operator.name),
            local.format("%Y-%m-%d %H:%M %Z"),
        );
        let html = crate::text::cut(&html, crate::text::TELEGRAM_MESSAGE_LIMIT);
        let mut edit = OutgoingMessage::new(chat, None, html);
        edit.kind = crate::outbox::MessageKind::Edit {
            message_id: i64::from(message),
        };
        poster.enqueue(&mut tx, edit).await?;
    }
    Ok(Decision::new(
        command,
        format!("decided: row {} {verdict}", row.id),
    ))
}
