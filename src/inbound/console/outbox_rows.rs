//! The listing `/ambiguous` and `/failed` share: one message per outbox row, oldest first,
//! each with the two buttons that decide it (handled in `inbound::outbox_decisions`).

use minijinja::context;
use serde_json::json;

use super::session::{render, Session};
use crate::identity::BotIdentity;
use crate::inbound::HandlerError;
use crate::outbox::{OutboxRow, OutboxState};
use crate::text::{cut_plain, html_to_plain};

/// How many rows one listing shows (the newest).
const ROWS_SHOWN: i64 = 10;

/// How much of a row's text is quoted.
const EXCERPT_LIMIT: usize = 300;

/// Rows in one undecided state, and the buttons that decide them.
pub(super) struct Listing {
    /// The outbox state listed.
    pub state: OutboxState,
    /// The two buttons: (label, action in the `ob:ACTION:ID` callback data).
    pub buttons: [(&'static str, &'static str); 2],
}

/// Lists the newest rows in `listing.state`; the decision says how many.
pub(super) async fn answer<I: BotIdentity>(
    session: &mut Session<'_, I>,
    listing: &Listing,
) -> Result<String, HandlerError> {
    let rows: Vec<OutboxRow> =
        sqlx::query_as("SELECT * FROM outbox WHERE state = ? ORDER BY id DESC LIMIT ?")
            .bind(listing.state)
            .bind(ROWS_SHOWN)
            .fetch_all(&mut *session.conn)
            .await?;
    if rows.is_empty() {
        let html = render(
            "command_no_outbox_rows.html",
            context! { state => listing.state.as_str() },
        );
        session.reply(html).await?;
    }
    for row in rows.iter().rev() {
        let html = render(
            "command_outbox_row.html",
            context! {
                id => row.id,
                bot => &row.bot,
                place => session.context.roster.place(row.chat_id, row.thread_id),
                updated_at => &row.updated_at,
                error => row.error.as_deref().unwrap_or(""),
                excerpt => cut_plain(&html_to_plain(&row.text), EXCERPT_LIMIT),
            },
        );
        let buttons: Vec<_> = listing
            .buttons
            .iter()
            .map(|(label, action)| {
                json!({"text": label, "callback_data": format!("ob:{action}:{}", row.id)})
            })
            .collect();
        let markup = json!({ "inline_keyboard": [buttons] });
        session.reply_with_buttons(html, markup).await?;
    }
    Ok(format!("answered: {} row(s)", rows.len()))
}
