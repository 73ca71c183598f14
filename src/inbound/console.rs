//! The operator console: the console identity (Lawrence by default) answers DMs from roster
//! operators. Every command reads or changes state inside the update's transaction, so its
//! reply, its audit entry and its effect commit together; a malformed command gets a reply
//! saying how to use it and changes nothing.
//!
//! `/run` and `/preview` queue a request that the scheduler takes on its next tick (within a
//! second), so a manual run goes through exactly the path and rules of a scheduled slot.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::SqliteConnection;

use super::{Behaviour, BotContext, Command, Decision, HandlerResult, UnitOfWork};
use crate::identity::Poster;
use crate::outbox::{Lane, OutboxRow, OutgoingMessage};
use crate::roster::{Member, Role};
use crate::store::audit::{self, AuditFilter, AuditRow};
use crate::store::pauses::{self, PauseChange, PauseScope, UnknownName};
use crate::store::requests::{self, RequestKind};
use crate::store::{parse_time, slots, time_key};
use crate::text::{echo, escape_html, fit_operator_message, ECHO_LIMIT};

/// Every console command: name, usage, what it does.
pub const CONSOLE_COMMANDS: &[(&str, &str, &str)] = &[
    (
        "status",
        "/status",
        "uptime, bots, pauses, outbox, jobs, last failures",
    ),
    ("jobs", "/jobs", "every job with its schedule and next run"),
    (
        "next",
        "/next [N]",
        "the next N slots of all jobs (default 10)",
    ),
    ("run", "/run JOB", "run a job now (marked manual)"),
    (
        "preview",
        "/preview JOB",
        "show me what a job would post now; posts nothing",
    ),
    (
        "pause",
        "/pause [all | bot NAME | job NAME]",
        "the kill switch",
    ),
    (
        "resume",
        "/resume [all | bot NAME | job NAME]",
        "lift a pause",
    ),
    (
        "ambiguous",
        "/ambiguous",
        "undecided sends, with Resend / Mark sent",
    ),
    (
        "failed",
        "/failed",
        "recent sends Telegram refused, with Retry / Dismiss",
    ),
    (
        "log",
        "/log [bot NAME | job NAME | user ID]",
        "the last audit entries",
    ),
    ("pending", "/pending", "open approvals"),
    ("help", "/help", "this list"),
];

/// How much of a problem with an operator's arguments (it quotes them) is shown.
const PROBLEM_LIMIT: usize = 160;

/// Commands that still work in diagnose mode.
const DIAGNOSE_COMMANDS: &[&str] = &["status", "log", "help"];

/// The operator behind a console DM, if the sender is one.
pub fn operator(context: &BotContext, user_id: i64) -> Option<&Member> {
    context
        .roster
        .member_by_telegram_id(user_id)
        .filter(|m| m.roles.contains(&Role::Operator))
}

/// A console answer: split into as many messages as it takes (`/log`, `/status`, a long
/// list), or cut to one when it carries buttons, which go on its last message.
async fn send<I: Behaviour>(
    poster: &Poster<I>,
    conn: &mut SqliteConnection,
    chat_id: i64,
    html: String,
    markup: Option<serde_json::Value>,
) -> Result<(), super::HandlerError> {
    let parts = fit_operator_message(&html, markup.is_some());
    let last = parts.len().saturating_sub(1);
    for (i, part) in parts.into_iter().enumerate() {
        let mut message = OutgoingMessage::direct(chat_id, part).in_lane(Lane::Urgent);
        if i == last {
            message.reply_markup = markup.clone();
        }
        poster.enqueue(conn, message).await?;
    }
    Ok(())
}

/// Answers one console command from an operator.
pub async fn console_command<I: Behaviour>(
    command: Command,
    context: Arc<BotContext>,
    poster: Poster<I>,
    work: UnitOfWork,
) -> HandlerResult {
    let Some(who) = operator(&context, command.user_id).cloned() else {
        return Ok(Decision::new(
            Some(&command.name),
            "refused: not an operator",
        ));
    };
    let name = command.name.as_str();
    let mut tx = work.lock().await;
    let chat = command.chat_id;
    if context.diagnose && !DIAGNOSE_COMMANDS.contains(&name) {
        let html = "🩺 herald is in diagnose mode: only /status, /log and /help work. Fix the cause, then restart with <code>herald run --force</code>.".to_owned();
        send(&poster, &mut tx, chat, html, None).await?;
        return Ok(Decision::new(Some(name), "refused: diagnose mode"));
    }
    let args: Vec<&str> = command.args.split_whitespace().collect();
    let now = context.clock.now();
    let (html, decision) = match name {
        "help" => (help_text(), "answered".to_owned()),
        "status" => (status(&context, &mut tx, now).await?, "answered".to_owned()),
        "jobs" => (jobs(&context, &mut tx, now).await?, "answered".to_owned()),
        "next" => {
            let count = match args.as_slice() {
                [] => Some(10),
                [n] => n.parse::<usize>().ok().filter(|n| (1..=50).contains(n)),
                _ => None,
            };
            match count {
                Some(n) => (next(&context, n, now), "answered".to_owned()),
                None => (
                    "Usage: /next [N], with N from 1 to 50.".to_owned(),
                    "refused: bad argument".to_owned(),
                ),
            }
        }
        "run" | "preview" => {
            let kind = if name == "run" {
                RequestKind::Run
            } else {
                RequestKind::Preview
            };
            match args.as_slice() {
                [job] if context.jobs.iter().any(|s| s.name == *job) => {
                    requests::add(&mut tx, job, kind, &who.name, chat, now).await?;
                    let html = match kind {
                        RequestKind::Run => format!(
                            "Running <b>{}</b> now; I will tell you how it went.",
                            escape_html(job)
                        ),
                        RequestKind::Preview => format!(
                            "Rendering <b>{}</b>; the preview comes to you only.",
                            escape_html(job)
                        ),
                    };
                    (html, format!("queued {name} {job}"))
                }
                [job] => (
                    format!(
                        "No job {}. Jobs: {}.",
                        echo(job, ECHO_LIMIT),
                        escape_html(&job_names(&context))
                    ),
                    "refused: unknown job".to_owned(),
                ),
                _ => (
                    format!(
                        "Usage: /{name} JOB. Jobs: {}.",
                        escape_html(&job_names(&context))
                    ),
                    "refused: bad argument".to_owned(),
                ),
            }
        }
        "pause" | "resume" => {
            let pause = name == "pause";
            match PauseScope::parse_words(&args) {
                Ok(scope) => match check_scope(&context, &scope) {
                    Err(problem) if pause => (problem, "refused: unknown name".to_owned()),
                    _ => {
                        let html = if pause {
                            pause_scope(&mut tx, &scope, &who, now).await?
                        } else {
                            resume_scope(&mut tx, &scope, &who, now).await?
                        };
                        (html, format!("{name} {scope}"))
                    }
                },
                Err(problem) => (
                    format!(
                        "Usage: /{name} [all | bot NAME | job NAME] ({})",
                        echo(&problem, PROBLEM_LIMIT)
                    ),
                    "refused: bad argument".to_owned(),
                ),
            }
        }
        "ambiguous" => {
            let rows = rows_in_state(&mut tx, "ambiguous").await?;
            list_rows(&poster, &mut tx, &context, chat, &rows, "ambiguous").await?;
            return Ok(Decision::new(
                Some(name),
                format!("answered: {} row(s)", rows.len()),
            ));
        }
        "failed" => {
            let rows = rows_in_state(&mut tx, "failed").await?;
            list_rows(&poster, &mut tx, &context, chat, &rows, "failed").await?;
            return Ok(Decision::new(
                Some(name),
                format!("answered: {} row(s)", rows.len()),
            ));
        }
        "log" => match log_filter(&args) {
            Ok(filter) => (
                log(&mut tx, &filter, &context).await?,
                "answered".to_owned(),
            ),
            Err(problem) => (
                format!(
                    "Usage: /log [bot NAME | job NAME | user ID] ({})",
                    echo(&problem, PROBLEM_LIMIT)
                ),
                "refused: bad argument".to_owned(),
            ),
        },
        "pending" => (pending(&context, &mut tx).await?, "answered".to_owned()),
        other => (
            format!(
                "I don't know /{}. /help lists the console commands.",
                echo(other, ECHO_LIMIT)
            ),
            "refused: unknown command".to_owned(),
        ),
    };
    send(&poster, &mut tx, chat, html, None).await?;
    Ok(Decision::new(Some(name), decision))
}

/// `/pause SCOPE`: the answer to the operator who asked, who is then left out of the
/// scheduler's announcement of the same change (one message, not two).
async fn pause_scope(
    conn: &mut SqliteConnection,
    scope: &PauseScope,
    who: &Member,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let shown = echo(&scope.to_string(), ECHO_LIMIT);
    if !pauses::pause(conn, scope, &who.name, now).await? {
        return Ok(format!("{shown} was already paused."));
    }
    pauses::told(
        conn,
        scope,
        PauseChange::Pause,
        &time_key(now),
        who.telegram_id,
    )
    .await?;
    Ok(format!("⏸ Paused <b>{shown}</b>. Nothing but my DMs to operators goes out for it until /resume {shown}."))
}

/// `/resume SCOPE`: the answer (with the slots skipped meanwhile, as the scheduler would
/// say), the operator left out of the scheduler's announcement of the same change.
async fn resume_scope(
    conn: &mut SqliteConnection,
    scope: &PauseScope,
    who: &Member,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let lifted = pauses::current(conn)
        .await?
        .pauses
        .into_iter()
        .find(|p| &p.scope == scope);
    let shown = echo(&scope.to_string(), ECHO_LIMIT);
    let Some(lifted) = lifted else {
        pauses::resume(conn, scope, &who.name, now).await?;
        return Ok(format!("{shown} was not paused."));
    };
    pauses::resume(conn, scope, &who.name, now).await?;
    pauses::told(
        conn,
        scope,
        PauseChange::Resume,
        &lifted.paused_at,
        who.telegram_id,
    )
    .await?;
    let mut html = crate::schedule::runner::resumed_line(conn, &lifted).await?;
    let still = pauses::current(conn).await?;
    if !still.is_empty() {
        let scopes: Vec<String> = still.pauses.iter().map(|p| p.scope.to_string()).collect();
        html.push_str(&format!(
            "\nStill paused: {}.",
            escape_html(&scopes.join(", "))
        ));
    }
    Ok(html)
}

fn help_text() -> String {
    let mut html = "<b>Console</b> (operators only, in this DM):\n".to_owned();
    for (_, usage, what) in CONSOLE_COMMANDS {
        let _ = writeln!(html, "{}: {}", escape_html(usage), escape_html(what));
    }
    html
}

fn job_names(context: &BotContext) -> String {
    let names: Vec<&str> = context.jobs.iter().map(|s| s.name.as_str()).collect();
    if names.is_empty() {
        "none configured".to_owned()
    } else {
        names.join(", ")
    }
}

/// `Err` holds the answer (HTML) naming what does not exist.
fn check_scope(context: &BotContext, scope: &PauseScope) -> Result<(), String> {
    let jobs: Vec<&str> = context.jobs.iter().map(|s| s.name.as_str()).collect();
    match scope.unknown_name(&jobs) {
        None => Ok(()),
        Some(UnknownName::Identity(name)) => Err(format!(
            "No identity {}. Identities: {}.",
            echo(&name, ECHO_LIMIT),
            escape_html(&crate::identity::IDENTITY_NAMES.join(", "))
        )),
        Some(UnknownName::Job(name)) => Err(format!(
            "No job {}. Jobs: {}.",
            echo(&name, ECHO_LIMIT),
            escape_html(&job_names(context))
        )),
    }
}

fn local(context: &BotContext, at: DateTime<Utc>) -> String {
    at.with_timezone(&context.roster.timezone())
        .format("%a %d %b %H:%M")
        .to_string()
}

async fn status(
    context: &BotContext,
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let mut html = String::new();
    let uptime = now - context.started_at;
    let _ = writeln!(
        html,
        "<b>herald status</b>{} · up {}h {:02}m since {}",
        if context.diagnose {
            " (DIAGNOSE MODE)"
        } else {
            ""
        },
        uptime.num_hours(),
        uptime.num_minutes() % 60,
        escape_html(&local(context, context.started_at))
    );
    let paused = pauses::current(conn).await?;
    if paused.is_empty() {
        html.push_str("Pauses: none\n");
    } else {
        let list: Vec<String> = paused
            .pauses
            .iter()
            .map(|p| format!("{} (by {})", p.scope, p.paused_by))
            .collect();
        let _ = writeln!(html, "⏸ Paused: {}", escape_html(&list.join(", ")));
    }
    let verified: Vec<(String, String, String)> =
        sqlx::query_as("SELECT bot, username, verified_at FROM bot_status ORDER BY bot")
            .fetch_all(&mut *conn)
            .await?;
    let counts: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT bot, state, count(*) FROM outbox
         WHERE state IN ('pending', 'sending', 'ambiguous', 'failed') GROUP BY bot, state",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut per_bot: BTreeMap<&str, BTreeMap<&str, i64>> = BTreeMap::new();
    for (bot, state, n) in &counts {
        per_bot.entry(bot).or_default().insert(state, *n);
    }
    html.push_str("\n<b>Bots</b> (getMe verified · queued · ambiguous · failed)\n");
    for (bot, username, at) in &verified {
        let c = per_bot.get(bot.as_str());
        let n = |s: &str| c.and_then(|c| c.get(s)).copied().unwrap_or(0);
        let when = parse_time(at).map_or_else(|| at.clone(), |t| local(context, t));
        let _ = writeln!(
            html,
            "{} @{} · {} · {} · {} · {}",
            escape_html(bot),
            escape_html(username),
            escape_html(&when),
            n("pending") + n("sending"),
            n("ambiguous"),
            n("failed")
        );
    }
    html.push_str("\n<b>Jobs</b> (last · next)\n");
    if context.jobs.is_empty() {
        html.push_str("none configured\n");
    }
    for spec in context.jobs.iter() {
        let last = slots::recent(conn, &spec.name, 1).await?;
        let last = match last.first() {
            Some(row) => format!(
                "{} {}",
                row.instant()
                    .map_or_else(|| row.slot.clone(), |t| local(context, t)),
                row.state
            ),
            None => "never".to_owned(),
        };
        let next = spec
            .cron
            .next_after(spec.timezone, now)
            .map_or_else(|| "none".to_owned(), |t| local(context, t));
        let _ = writeln!(
            html,
            "{} · {} · {}",
            escape_html(&spec.name),
            escape_html(&last),
            escape_html(&next)
        );
    }
    html.push_str("\n<b>Last failures</b>\n");
    let mut failures: Vec<(String, String)> = Vec::new();
    let rows: Vec<(String, i64, String, Option<String>)> = sqlx::query_as(
        "SELECT updated_at, id, bot, error FROM outbox WHERE state IN ('failed', 'ambiguous')
         ORDER BY id DESC LIMIT 5",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (at, id, bot, error) in rows {
        failures.push((at, format!("{bot} row {id}: {}", error.unwrap_or_default())));
    }
    let jobs: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT IFNULL(finished_at, claimed_at), job, slot, detail FROM job_slots
         WHERE state = 'failed' ORDER BY slot DESC LIMIT 5",
    )
    .fetch_all(&mut *conn)
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
    if failures.is_empty() {
        html.push_str("none\n");
    }
    for (at, what) in failures.iter().take(5) {
        let when = parse_time(at).map_or_else(|| at.clone(), |t| local(context, t));
        let _ = writeln!(html, "{} · {}", escape_html(&when), escape_html(what));
    }
    Ok(html)
}

async fn jobs(
    context: &BotContext,
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    if context.jobs.is_empty() {
        return Ok("No jobs are configured.".to_owned());
    }
    let paused = pauses::current(conn).await?;
    let mut html = "<b>Jobs</b>\n".to_owned();
    for spec in context.jobs.iter() {
        let next = spec
            .cron
            .next_after(spec.timezone, now)
            .map_or_else(|| "none".to_owned(), |t| local(context, t));
        let held = paused
            .holding_job(spec.bot, &spec.name)
            .map(|p| format!(" ⏸ ({})", p.scope))
            .unwrap_or_default();
        let _ = writeln!(
            html,
            "<b>{}</b>{}: {} → #{}, <code>{}</code> {}, next {}",
            escape_html(&spec.name),
            escape_html(&held),
            escape_html(spec.bot),
            escape_html(&spec.thread),
            escape_html(spec.cron.source()),
            escape_html(spec.timezone.name()),
            escape_html(&next)
        );
    }
    Ok(html)
}

fn next(context: &BotContext, n: usize, now: DateTime<Utc>) -> String {
    let mut upcoming: Vec<(DateTime<Utc>, &str)> = Vec::new();
    for spec in context.jobs.iter() {
        for slot in spec.cron.slots_after(spec.timezone, now).take(n) {
            upcoming.push((slot, spec.name.as_str()));
        }
    }
    upcoming.sort();
    upcoming.truncate(n);
    if upcoming.is_empty() {
        return "No upcoming slots.".to_owned();
    }
    let mut html = format!(
        "<b>Next {}</b> ({} time)\n",
        upcoming.len(),
        escape_html(context.roster.timezone().name())
    );
    for (slot, job) in upcoming {
        let _ = writeln!(
            html,
            "{} · {}",
            escape_html(&local(context, slot)),
            escape_html(job)
        );
    }
    html
}

async fn rows_in_state(
    conn: &mut SqliteConnection,
    state: &str,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM outbox WHERE state = ? ORDER BY id DESC LIMIT 10")
        .bind(state)
        .fetch_all(conn)
        .await
}

/// One message per row, each with its decision buttons.
async fn list_rows<I: Behaviour>(
    poster: &Poster<I>,
    conn: &mut SqliteConnection,
    context: &BotContext,
    chat: i64,
    rows: &[OutboxRow],
    state: &str,
) -> Result<(), super::HandlerError> {
    if rows.is_empty() {
        let html = format!("No {state} sends.");
        return send(poster, conn, chat, html, None).await;
    }
    let (first, second) = if state == "ambiguous" {
        (("Resend", "resend"), ("Mark sent", "sent"))
    } else {
        (("Retry", "retry"), ("Dismiss", "dismiss"))
    };
    for row in rows.iter().rev() {
        let place = context.roster.place(row.chat_id, row.thread_id);
        let excerpt = crate::text::cut_plain(&crate::text::html_to_plain(&row.text), 300);
        let html = format!(
            "<b>Row {}</b> {} → {} ({})\n{}\n<blockquote>{}</blockquote>",
            row.id,
            escape_html(&row.bot),
            escape_html(&place),
            escape_html(&row.updated_at),
            escape_html(row.error.as_deref().unwrap_or("")),
            escape_html(&excerpt)
        );
        let markup = json!({"inline_keyboard": [[
            {"text": first.0, "callback_data": format!("ob:{}:{}", first.1, row.id)},
            {"text": second.0, "callback_data": format!("ob:{}:{}", second.1, row.id)},
        ]]});
        send(poster, conn, chat, html, Some(markup)).await?;
    }
    Ok(())
}

fn log_filter(args: &[&str]) -> Result<AuditFilter, String> {
    let mut filter = AuditFilter {
        limit: Some(15),
        ..AuditFilter::default()
    };
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let value = words
            .next()
            .ok_or_else(|| format!("`{word}` needs a value"))?;
        match *word {
            "bot" => filter.bot = Some(value.to_ascii_lowercase()),
            "job" => filter.job = Some((*value).to_owned()),
            "user" => {
                filter.user = Some(
                    value
                        .parse()
                        .map_err(|_| format!("`{value}` is not a Telegram user id"))?,
                )
            }
            other => return Err(format!("unknown filter `{other}`")),
        }
    }
    Ok(filter)
}

async fn log(
    conn: &mut SqliteConnection,
    filter: &AuditFilter,
    context: &BotContext,
) -> Result<String, sqlx::Error> {
    let rows: Vec<AuditRow> = audit::query_conn(conn, filter).await?;
    if rows.is_empty() {
        return Ok("No audit entries match.".to_owned());
    }
    let mut html = "<b>Audit log</b> (newest last)\n".to_owned();
    for row in rows {
        let when = parse_time(&row.at).map_or_else(|| row.at.clone(), |t| local(context, t));
        let mut line = format!("#{} {} {}", row.seq, when, row.kind);
        if let Some(bot) = &row.bot {
            let _ = write!(line, " {bot}");
        }
        if let Some(job) = &row.job {
            let _ = write!(line, " job={job}");
        }
        if let Some(user) = row.user_id {
            let _ = write!(line, " user={user}");
        }
        if let Some(command) = &row.command {
            let _ = write!(line, " /{command}");
        }
        let _ = write!(line, ": {}", row.decision);
        let _ = writeln!(html, "{}", escape_html(&line));
    }
    Ok(html)
}

/// `/pending`: open approval cards, and approvals not yet written to Xero.
async fn pending(
    context: &BotContext,
    conn: &mut sqlx::SqliteConnection,
) -> Result<String, sqlx::Error> {
    use crate::store::approvals;
    let open = approvals::open(conn).await?;
    let stuck = approvals::not_in_xero(conn).await?;
    if open.is_empty() && stuck.is_empty() {
        return Ok("No open approvals, and nothing waiting to be written to Xero.".to_owned());
    }
    let tz = context.roster.timezone();
    let local = |text: &str| {
        crate::store::parse_time(text)
            .map(|t| t.with_timezone(&tz).format("%a %-d %b %H:%M").to_string())
            .unwrap_or_default()
    };
    let mut lines = vec![format!("<b>Open approvals</b> ({})", open.len())];
    for a in &open {
        lines.push(format!(
            "• {} · {} · {} · posted {} · expires {}",
            escape_html(&a.number),
            escape_html(&a.contact),
            escape_html(&a.total),
            local(&a.posted_at),
            local(&a.expires_at)
        ));
    }
    if !stuck.is_empty() {
        lines.push(format!(
            "<b>Approved, not yet in Xero</b> ({})",
            stuck.len()
        ));
        for a in &stuck {
            lines.push(format!(
                "• {} · {} · by {} · {} tries{} · {}",
                escape_html(&a.number),
                escape_html(&a.contact),
                escape_html(a.decided_by.as_deref().unwrap_or("?")),
                a.xero_attempts,
                if a.xero == approvals::XeroState::Failed {
                    ", given up"
                } else {
                    ""
                },
                escape_html(a.last_error.as_deref().unwrap_or("not tried yet"))
            ));
        }
    }
    Ok(lines.join("\n"))
}
