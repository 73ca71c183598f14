//! `/run JOB`: queues a manual run that the scheduler takes at once (the request's commit wakes
//! it), through the
//! same path and rules as a scheduled slot (a paused job is not run); the scheduler tells the
//! operator how it went.

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
        RequestKind::Run,
        &session.operator.name,
        session.chat,
        session.now,
    )
    .await?;
    session
        .reply(render("command_run.html", context! { job }))
        .await?;
    Ok(format!("queued run {job}"))
}
