//! `/log [bot NAME | job NAME | user ID]`: the last audit entries, newest last, one line each.

use minijinja::context;
use serde::Serialize;

use super::command::one_line;
use super::session::{render, Session};
use crate::identity::BotIdentity;
use crate::inbound::HandlerError;
use crate::store::audit::{self, AuditFilter};
use crate::store::parse_time;

#[derive(Serialize)]
struct Entry {
    seq: i64,
    at: String,
    kind: String,
    bot: Option<String>,
    job: Option<String>,
    user: Option<i64>,
    command: Option<String>,
    decision: String,
}

pub(super) async fn answer<I: BotIdentity>(
    session: &mut Session<'_, I>,
    filter: &AuditFilter,
) -> Result<String, HandlerError> {
    // Every text field on one line, so that an entry never spans lines.
    let entries: Vec<Entry> = audit::query_conn(session.conn, filter)
        .await?
        .into_iter()
        .map(|row| Entry {
            seq: row.seq,
            at: parse_time(&row.at).map_or_else(|| one_line(&row.at), |t| session.local(t)),
            kind: one_line(&row.kind),
            bot: row.bot.as_deref().map(one_line),
            job: row.job.as_deref().map(one_line),
            user: row.user_id,
            command: row.command.as_deref().map(one_line),
            decision: one_line(&row.decision),
        })
        .collect();
    session
        .reply(render("command_log.html", context! { entries }))
        .await?;
    Ok("answered".to_owned())
}
