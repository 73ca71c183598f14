//! `/status`: uptime, readiness (what `/readyz` answers), pauses, each bot's verification and
//! queue, each job's last and next run, the last failures of sends and jobs, and the last
//! capability probe.

use std::collections::BTreeMap;

use minijinja::context;
use serde::Serialize;

use super::session::{render, Session};
use crate::identity::BotIdentity;
use crate::inbound::HandlerError;
use crate::outbox::OutboxState;
use crate::store::failures::{self, Failure};
use crate::store::{parse_time, pauses, slots};

/// How many failures `/status` shows.
const FAILURES_SHOWN: usize = 5;

#[derive(Serialize)]
struct BotLine {
    name: String,
    username: String,
    verified: String,
    queued: i64,
    ambiguous: i64,
    failed: i64,
}

#[derive(Serialize)]
struct JobLine {
    name: String,
    last: String,
    next: String,
}

#[derive(Serialize)]
struct FailureLine {
    at: String,
    what: String,
}

pub(super) async fn answer<I: BotIdentity>(
    session: &mut Session<'_, I>,
) -> Result<String, HandlerError> {
    let context = session.context;
    let now = session.now;
    let uptime = now - context.started_at;
    let paused: Vec<String> = pauses::current(session.conn)
        .await?
        .pauses
        .iter()
        .map(|p| format!("{} (by {})", p.scope, p.paused_by))
        .collect();

    let verified: Vec<(String, String, String)> =
        sqlx::query_as("SELECT bot, username, verified_at FROM bot_status ORDER BY bot")
            .fetch_all(&mut *session.conn)
            .await?;
    let counts: Vec<(String, OutboxState, i64)> = sqlx::query_as(
        "SELECT bot, state, count(*) FROM outbox
         WHERE state IN ('pending', 'sending', 'ambiguous', 'failed') GROUP BY bot, state",
    )
    .fetch_all(&mut *session.conn)
    .await?;
    let mut per_bot: BTreeMap<&str, BTreeMap<OutboxState, i64>> = BTreeMap::new();
    for (bot, state, n) in &counts {
        per_bot.entry(bot).or_default().insert(*state, *n);
    }
    let bots: Vec<BotLine> = verified
        .iter()
        .map(|(bot, username, at)| {
            let c = per_bot.get(bot.as_str());
            let n = |s: OutboxState| c.and_then(|c| c.get(&s)).copied().unwrap_or(0);
            BotLine {
                name: bot.clone(),
                username: username.clone(),
                verified: parse_time(at).map_or_else(|| at.clone(), |t| session.local(t)),
                queued: n(OutboxState::Pending) + n(OutboxState::Sending),
                ambiguous: n(OutboxState::Ambiguous),
                failed: n(OutboxState::Failed),
            }
        })
        .collect();

    let mut jobs = Vec::with_capacity(context.jobs.len());
    for spec in context.jobs.iter() {
        let last = slots::recent(session.conn, &spec.name, 1).await?;
        let last = match last.first() {
            Some(row) => format!(
                "{} {}",
                row.instant()
                    .map_or_else(|| row.slot.clone(), |t| session.local(t)),
                row.state
            ),
            None => "never".to_owned(),
        };
        let next = spec
            .cron
            .next_after(spec.timezone, now)
            .map_or_else(|| "none".to_owned(), |t| session.local(t));
        jobs.push(JobLine {
            name: spec.name.clone(),
            last,
            next,
        });
    }

    let failures = last_failures(session).await?;
    let probe = last_probe(session).await?;
    let readiness = context.readiness.check();
    let html = render(
        "command_status.html",
        context! {
            diagnose => context.diagnose,
            uptime => format!("{}h {:02}m", uptime.num_hours(), uptime.num_minutes() % 60),
            started => session.local(context.started_at),
            paused,
            bots,
            jobs,
            failures,
            probe,
            readiness,
        },
    );
    session.reply(html).await?;
    Ok("answered".to_owned())
}

/// The newest capability snapshot (`herald audit` or the daily probe): when, the counts,
/// and what was not OK.
#[derive(Serialize)]
struct ProbeLine {
    at: String,
    summary: String,
    not_ok: Vec<String>,
}

async fn last_probe<I: BotIdentity>(
    session: &mut Session<'_, I>,
) -> Result<Option<ProbeLine>, sqlx::Error> {
    let Some(snapshot) = crate::health::latest(session.conn).await? else {
        return Ok(None);
    };
    Ok(Some(ProbeLine {
        at: session.local(snapshot.at),
        summary: snapshot.report.summary(),
        not_ok: snapshot.report.not_ok(),
    }))
}

/// The newest failed or ambiguous sends and failed job slots, newest first.
async fn last_failures<I: BotIdentity>(
    session: &mut Session<'_, I>,
) -> Result<Vec<FailureLine>, sqlx::Error> {
    let recent = failures::recent(session.conn, None, FAILURES_SHOWN as i64).await?;
    Ok(recent
        .into_iter()
        .take(FAILURES_SHOWN)
        .map(|failure| FailureLine {
            at: session.local(failure.at()),
            what: match failure {
                Failure::Send { id, bot, error, .. } => format!("{bot} row {id}: {error}"),
                Failure::Run {
                    job, slot, detail, ..
                } => format!("job {job} {slot}: {detail}"),
            },
        })
        .collect())
}
