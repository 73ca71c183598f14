//! `/status`: uptime, pauses, each bot's verification and queue, each job's last and next
//! run, and the last failures of sends and jobs.

use std::collections::BTreeMap;

use minijinja::context;
use serde::Serialize;

use super::{render, HandlerError, Session};
use crate::identity::BotIdentity;
use crate::outbox::OutboxState;
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
    let Some(stored) = crate::store::capability_snapshots::latest(session.conn, None).await? else {
        return Ok(None);
    };
    let report = crate::health::Report {
        checks: serde_json::from_str(&stored.checks).unwrap_or_default(),
    };
    Ok(Some(ProbeLine {
        at: session.local(stored.at),
        summary: crate::health::audit::summary(&report),
        not_ok: report
            .checks
            .iter()
            .filter(|c| c.verdict != crate::health::Verdict::Ok)
            .map(|c| format!("{} {}: {}", c.verdict.as_str(), c.capability, c.cause))
            .collect(),
    }))
}

/// The newest failed or ambiguous sends and failed job slots, newest first.
async fn last_failures<I: BotIdentity>(
    session: &mut Session<'_, I>,
) -> Result<Vec<FailureLine>, sqlx::Error> {
    let mut failures: Vec<(String, String)> = Vec::new();
    let rows: Vec<(String, i64, String, Option<String>)> = sqlx::query_as(
        "SELECT updated_at, id, bot, error FROM outbox WHERE state IN ('failed', 'ambiguous')
         ORDER BY id DESC LIMIT 5",
    )
    .fetch_all(&mut *session.conn)
    .await?;
    for (at, id, bot, error) in rows {
        failures.push((at, format!("{bot} row {id}: {}", error.unwrap_or_default())));
    }
    let jobs: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT IFNULL(finished_at, claimed_at), job, slot, detail FROM job_slots
         WHERE state = 'failed' ORDER BY slot DESC LIMIT 5",
    )
    .fetch_all(&mut *session.conn)
    .await?;
    for (at, job, slot, detail) in jobs {
        failures.push((
            at,
            format!("job {job} {slot}: {}", detail.unwrap_or_default()),
        ));
    }
    failures.sort_by(|a, b| {
        let (x, y) = (parse_time(&a.0), parse_time(&b.0));
        y.cmp(&x)
    });
    Ok(failures
        .into_iter()
        .take(FAILURES_SHOWN)
        .map(|(at, what)| FailureLine {
            at: parse_time(&at).map_or(at, |t| session.local(t)),
            what,
        })
        .collect())
}
