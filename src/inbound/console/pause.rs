//! `/pause SCOPE`, the kill switch. The operator who asked gets this answer and is then left
//! out of the scheduler's announcement of the same change (one message, not two).

use minijinja::context;

use super::session::{quoted, render, Session};
use crate::identity::BotIdentity;
use crate::inbound::HandlerError;
use crate::store::pauses::{self, PauseChange, PauseScope};
use crate::store::time_key;
use crate::text::ECHO_LIMIT;

pub(super) async fn answer<I: BotIdentity>(
    session: &mut Session<'_, I>,
    scope: &PauseScope,
) -> Result<String, HandlerError> {
    let by = session.operator;
    let paused_now = pauses::pause(session.conn, scope, &by.name, session.now).await?;
    if paused_now {
        pauses::told(
            session.conn,
            scope,
            PauseChange::Pause,
            &time_key(session.now),
            by.telegram_id,
        )
        .await?;
    }
    let html = render(
        "command_pause.html",
        context! { scope => quoted(&scope.to_string(), ECHO_LIMIT), already => !paused_now },
    );
    session.reply(html).await?;
    Ok(format!("pause {scope}"))
}
