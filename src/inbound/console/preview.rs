//! `/preview JOB`: queues a rendering of the job that the scheduler sends to the operator
//! only; it posts nothing.

use minijinja::context;

use super::session::{render, Session};
use crate::identity::BotIdentity;
use crate::inbound::HandlerError;
use crate::store::requests::{self, RequestKind};

pub(super) async fn answer<I: BotIdentity>(
    session: &mut Session<'_, I>,
    job: &str,
) -> Result<String, HandlerError> {
    requests::add(
        session.conn,
        job,
        RequestKind::Preview,
        &session.operator.name,
        session.chat,
        session.now,
    )
    .await?;
    session
        .reply(render("command_preview.html", context! { job }))
        .await?;
    Ok(format!("queued preview {job}"))
}
