//! `/jobs`: every configured job with its bot, thread, schedule, next run and any pause
//! holding it.

use minijinja::context;
use serde::Serialize;

use super::session::{render, Session};
use crate::identity::BotIdentity;
use crate::inbound::HandlerError;
use crate::store::pauses;

#[derive(Serialize)]
struct JobLine {
    name: String,
    /// The scope of the pause holding the job, if one does.
    paused: Option<String>,
    bot: &'static str,
    thread: String,
    cron: String,
    timezone: &'static str,
    next: String,
}

pub(super) async fn answer<I: BotIdentity>(
    session: &mut Session<'_, I>,
) -> Result<String, HandlerError> {
    let paused = pauses::current(session.conn).await?;
    let jobs: Vec<JobLine> = session
        .context
        .jobs
        .iter()
        .map(|spec| JobLine {
            name: spec.name.clone(),
            paused: paused
                .holding_job(spec.bot, &spec.name)
                .map(|p| p.scope.to_string()),
            bot: spec.bot,
            thread: spec.thread.clone(),
            cron: spec.cron.source().to_owned(),
            timezone: spec.timezone.name(),
            next: spec
                .cron
                .next_after(spec.timezone, session.now)
                .map_or_else(|| "none".to_owned(), |t| session.local(t)),
        })
        .collect();
    session
        .reply(render("command_jobs.html", context! { jobs }))
        .await?;
    Ok("answered".to_owned())
}
