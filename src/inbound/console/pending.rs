//! `/pending`: open approval cards, and approvals not yet written to Xero.

use minijinja::context;
use serde::Serialize;

use super::session::{render, Session};
use crate::identity::BotIdentity;
use crate::inbound::HandlerError;
use crate::store::approvals;

#[derive(Serialize)]
struct Open {
    number: String,
    contact: String,
    total: String,
    posted: String,
    expires: String,
}

#[derive(Serialize)]
struct NotInXero {
    number: String,
    contact: String,
    decided_by: String,
    attempts: i64,
    given_up: bool,
    last_error: String,
}

pub(super) async fn answer<I: BotIdentity>(
    session: &mut Session<'_, I>,
) -> Result<String, HandlerError> {
    let tz = session.context.roster.timezone();
    let local = |text: &str| {
        crate::store::parse_time(text)
            .map(|t| t.with_timezone(&tz).format("%a %-d %b %H:%M").to_string())
            .unwrap_or_default()
    };
    let open: Vec<Open> = approvals::open(session.conn)
        .await?
        .into_iter()
        .map(|a| Open {
            posted: local(&a.posted_at),
            expires: local(&a.expires_at),
            number: a.number,
            contact: a.contact,
            total: a.total,
        })
        .collect();
    let not_in_xero: Vec<NotInXero> = approvals::not_in_xero(session.conn)
        .await?
        .into_iter()
        .map(|a| NotInXero {
            given_up: a.xero == crate::store::approvals::XeroState::Failed,
            number: a.number,
            contact: a.contact,
            decided_by: a.decided_by.unwrap_or_else(|| "?".to_owned()),
            attempts: a.xero_attempts,
            last_error: a.last_error.unwrap_or_else(|| "not tried yet".to_owned()),
        })
        .collect();
    session
        .reply(render(
            "command_pending.html",
            context! { open, not_in_xero },
        ))
        .await?;
    Ok("answered".to_owned())
}
