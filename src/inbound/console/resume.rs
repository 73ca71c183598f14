//! `/resume SCOPE`: lifts a pause. The answer says what the scheduler's announcement would
//! (the slots skipped meanwhile), and the operator who asked is left out of that
//! announcement.

use minijinja::{context, Value};

use super::session::{quoted, render, Session};
use crate::identity::BotIdentity;
use crate::inbound::HandlerError;
use crate::store::pauses::{self, PauseChange, PauseScope};
use crate::text::ECHO_LIMIT;

pub(super) async fn answer<I: BotIdentity>(
    session: &mut Session<'_, I>,
    scope: &PauseScope,
) -> Result<String, HandlerError> {
    let by = session.operator;
    let lifted = pauses::current(session.conn)
        .await?
        .pauses
        .into_iter()
        .find(|p| &p.scope == scope);
    pauses::resume(session.conn, scope, &by.name, session.now).await?;
    let shown = quoted(&scope.to_string(), ECHO_LIMIT);
    let html = match lifted {
        None => render(
            "command_resume.html",
            context! { scope => shown, resumed => Value::from(()), still_paused => Vec::<String>::new() },
        ),
        Some(lifted) => {
            pauses::told(
                session.conn,
                scope,
                PauseChange::Resume,
                &lifted.paused_at,
                by.telegram_id,
            )
            .await?;
            // The scheduler's own line (HTML), so the answer and the announcement agree.
            let resumed =
                crate::schedule::runner::tick::resumed_line(session.conn, &lifted).await?;
            let still_paused: Vec<String> = pauses::current(session.conn)
                .await?
                .pauses
                .iter()
                .map(|p| p.scope.to_string())
                .collect();
            render(
                "command_resume.html",
                context! {
                    scope => shown,
                    resumed => Value::from_safe_string(resumed),
                    still_paused,
                },
            )
        }
    };
    session.reply(html).await?;
    Ok(format!("resume {scope}"))
}
