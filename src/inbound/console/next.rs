//! `/next [N]`: the next N slots of all jobs together, in the team's time zone.

use chrono::{DateTime, Utc};
use minijinja::context;

use super::session::{render, Session};
use crate::identity::BotIdentity;
use crate::inbound::HandlerError;

pub(super) async fn answer<I: BotIdentity>(
    session: &mut Session<'_, I>,
    count: usize,
) -> Result<String, HandlerError> {
    let mut upcoming: Vec<(DateTime<Utc>, &str)> = Vec::new();
    for spec in session.context.jobs.iter() {
        for slot in spec
            .cron
            .slots_after(spec.timezone, session.now)
            .take(count)
        {
            upcoming.push((slot, spec.name.as_str()));
        }
    }
    upcoming.sort();
    upcoming.truncate(count);
    let slots: Vec<_> = upcoming
        .into_iter()
        .map(|(at, job)| context! { at => session.local(at), job })
        .collect();
    let html = render(
        "command_next.html",
        context! { timezone => session.context.roster.timezone().name(), slots },
    );
    session.reply(html).await?;
    Ok("answered".to_owned())
}
