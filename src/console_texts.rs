//! The operator's texts: every DM herald writes to the operator (alerts, console replies, the
//! last words before a stop) is a template in `templates/console/`, compiled into the binary.
//! They are herald's own words, not the team's, so they do not depend on the deployment's
//! templates folder: an alert must render even when that folder is broken.
//!
//! Rendering uses the team templates' environment (strict undefined variables, Telegram's
//! HTML escaping), and a render failure never silences an alert: it yields a plain notice
//! naming the template and the error, which the caller sends instead.

use std::sync::OnceLock;

use minijinja::{Environment, Value};

/// Every console template: its name (the file name in `templates/console/`) and its source.
/// Adding one: a file in `templates/console/`, a line here, and a sample in [`samples`].
const SOURCES: &[(&str, &str)] = &[
    (
        "herald_stopped.html",
        include_str!("../templates/console/herald_stopped.html"),
    ),
    // The console's answers to operator commands (src/inbound/console/).
    (
        "command_diagnose_mode.html",
        include_str!("../templates/console/command_diagnose_mode.html"),
    ),
    (
        "command_help.html",
        include_str!("../templates/console/command_help.html"),
    ),
    (
        "command_jobs.html",
        include_str!("../templates/console/command_jobs.html"),
    ),
    (
        "command_log.html",
        include_str!("../templates/console/command_log.html"),
    ),
    (
        "command_next.html",
        include_str!("../templates/console/command_next.html"),
    ),
    (
        "command_no_outbox_rows.html",
        include_str!("../templates/console/command_no_outbox_rows.html"),
    ),
    (
        "command_outbox_row.html",
        include_str!("../templates/console/command_outbox_row.html"),
    ),
    (
        "command_pause.html",
        include_str!("../templates/console/command_pause.html"),
    ),
    (
        "command_pending.html",
        include_str!("../templates/console/command_pending.html"),
    ),
    (
        "command_preview.html",
        include_str!("../templates/console/command_preview.html"),
    ),
    (
        "command_resume.html",
        include_str!("../templates/console/command_resume.html"),
    ),
    (
        "command_run.html",
        include_str!("../templates/console/command_run.html"),
    ),
    (
        "command_status.html",
        include_str!("../templates/console/command_status.html"),
    ),
    (
        "command_unknown.html",
        include_str!("../templates/console/command_unknown.html"),
    ),
    (
        "command_unknown_identity.html",
        include_str!("../templates/console/command_unknown_identity.html"),
    ),
    (
        "command_unknown_job.html",
        include_str!("../templates/console/command_unknown_job.html"),
    ),
    (
        "command_usage.html",
        include_str!("../templates/console/command_usage.html"),
    ),
    // The scheduler's, the sender's and the approval desk's alerts.
    (
        "job_ran_by_hand.html",
        include_str!("../templates/console/job_ran_by_hand.html"),
    ),
    (
        "job_failed.html",
        include_str!("../templates/console/job_failed.html"),
    ),
    // Notes from job runs (src/jobs/).
    (
        "leave_from_snapshot.html",
        include_str!("../templates/console/leave_from_snapshot.html"),
    ),
    (
        "leave_unchecked.html",
        include_str!("../templates/console/leave_unchecked.html"),
    ),
    (
        "talenox_unmatched.html",
        include_str!("../templates/console/talenox_unmatched.html"),
    ),
    // Posted in a job's thread by the scheduler's delivery reports (src/schedule/delivery.rs).
    (
        "dm_unreachable.html",
        include_str!("../templates/console/dm_unreachable.html"),
    ),
    (
        "job_interrupted.html",
        include_str!("../templates/console/job_interrupted.html"),
    ),
    (
        "job_overdue.html",
        include_str!("../templates/console/job_overdue.html"),
    ),
    (
        "scheduler_stopped.html",
        include_str!("../templates/console/scheduler_stopped.html"),
    ),
    (
        "slots_missed.html",
        include_str!("../templates/console/slots_missed.html"),
    ),
    (
        "job_gone.html",
        include_str!("../templates/console/job_gone.html"),
    ),
    (
        "run_paused.html",
        include_str!("../templates/console/run_paused.html"),
    ),
    (
        "run_slot_taken.html",
        include_str!("../templates/console/run_slot_taken.html"),
    ),
    (
        "job_preview.html",
        include_str!("../templates/console/job_preview.html"),
    ),
    (
        "pause_changes.html",
        include_str!("../templates/console/pause_changes.html"),
    ),
    (
        "desk_step_panicked.html",
        include_str!("../templates/console/desk_step_panicked.html"),
    ),
    (
        "approvals_xero_unreadable.html",
        include_str!("../templates/console/approvals_xero_unreadable.html"),
    ),
    (
        "approval_not_yet_in_xero.html",
        include_str!("../templates/console/approval_not_yet_in_xero.html"),
    ),
    (
        "approval_not_written_to_xero.html",
        include_str!("../templates/console/approval_not_written_to_xero.html"),
    ),
    // The console channel's alerts (outbox/alerts.rs) and the fleet's start-up notices.
    (
        "ambiguous_send.html",
        include_str!("../templates/console/ambiguous_send.html"),
    ),
    (
        "ambiguous_group.html",
        include_str!("../templates/console/ambiguous_group.html"),
    ),
    (
        "failed_send.html",
        include_str!("../templates/console/failed_send.html"),
    ),
    (
        "diagnose_mode.html",
        include_str!("../templates/console/diagnose_mode.html"),
    ),
    (
        "privacy_mode.html",
        include_str!("../templates/console/privacy_mode.html"),
    ),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = crate::templates::base_environment();
        for (name, source) in SOURCES {
            // The sources are part of the binary and each is rendered by the tests below;
            // one that does not parse is reported by `render`, never a panic here.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "a console template does not parse");
            }
        }
        env
    })
}

/// Renders the console template `name` with `context`; trailing whitespace is trimmed. A
/// template that fails to render yields a plain, escaped notice saying so (loud, never
/// silent), and the failure is logged at ERROR.
pub fn render(name: &str, context: Value) -> String {
    let rendered = environment()
        .get_template(name)
        .and_then(|template| template.render(context));
    match rendered {
        Ok(text) => text.trim_end().to_owned(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "a console template failed to render");
            crate::text::escape_html(&format!(
                "herald could not render its message templates/console/{name}: {e}"
            ))
        }
    }
}

/// Sample contexts for every console template, shaped as their callers build them, with
/// text that needs escaping. The golden tests render each one.
pub fn samples() -> Vec<(&'static str, Vec<Value>)> {
    use minijinja::context;
    let mut samples = vec![(
        "herald_stopped.html",
        vec![context! { cause => "the database is corrupt: file is not a database <main.db>" }],
    )];
    samples.extend(console_command_samples());
    samples.extend(alert_samples());
    samples.extend(channel_samples());
    samples
}

/// Samples of the console channel's alerts and the fleet's notices, shaped as their callers
/// build them.
fn channel_samples() -> Vec<(&'static str, Vec<Value>)> {
    use minijinja::context;
    let row = |job: Option<&str>, slot: Option<&str>| {
        context! {
            id => 42,
            bot => "clawrence",
            place => "#pulse",
            job => job,
            slot => slot,
        }
    };
    let grouped = |id: i64, job: Option<&str>| {
        context! {
            id => id,
            place => "DM to Ana <Admin> & Co",
            job => job,
            excerpt => "Standup in 5 <b>now</b> & \"then\"",
            cause => "timed out",
        }
    };
    vec![
        (
            "ambiguous_send.html",
            vec![
                context! {
                    row => row(Some("team-pulse"), Some("2026-11-23T01:00:00Z")),
                    cause => "the connection dropped after the request was sent",
                    excerpt => "Pulse: what's <blocking> you & why?",
                },
                context! {
                    row => row(None, None),
                    cause => "unknown",
                    excerpt => "a reply",
                },
            ],
        ),
        (
            "ambiguous_group.html",
            vec![
                context! {
                    count => 3,
                    bot => "clawrence",
                    rows => vec![grouped(7, Some("team-pulse")), grouped(8, None), grouped(9, None)],
                    more => 0,
                },
                context! {
                    count => 19,
                    bot => "clawrence",
                    rows => vec![grouped(7, None), grouped(8, Some("team-pulse"))],
                    more => 17,
                },
            ],
        ),
        (
            "failed_send.html",
            vec![context! {
                row => row(Some("team-pulse"), Some("2026-11-23T01:00:00Z")),
                description => "Bad Request: message thread not found <#14>",
                excerpt => "Pulse: what's <blocking> you & why?",
            }],
        ),
        (
            "diagnose_mode.html",
            vec![context! {
                boots => vec![
                    context! { started_at => "2026-11-23T01:00:00Z", outcome => "a task of herald panicked: <boom>" },
                    context! { started_at => "2026-11-23T01:01:00Z", outcome => "ended without a clean stop (killed or crashed)" },
                ],
                window_minutes => 10,
            }],
        ),
        (
            "privacy_mode.html",
            vec![context! {
                problem => "clawrence (@acme_clawrence_bot) has Telegram privacy mode on & misses <plain> messages.",
            }],
        ),
    ]
}

/// Samples of the scheduler's, the sender's and the approval desk's alerts, shaped as their
/// callers build them.
fn alert_samples() -> Vec<(&'static str, Vec<Value>)> {
    use minijinja::context;
    let slot = "Mon 2026-11-23 11:00 +08 (03:00 UTC)";
    vec![
        // The scheduler (`schedule/runner/`).
        (
            "job_ran_by_hand.html",
            vec![
                context! { job => "team-pulse", messages => 2, direct => 0, thread => "pulse & <co>" },
                context! { job => "cake-reminder", messages => 0, direct => 3, thread => "ops" },
            ],
        ),
        // Notes from job runs (`jobs/`).
        (
            "leave_from_snapshot.html",
            vec![
                context! { job => "laser-chase", source => "Talenox", cause => "Talenox failed with HTTP 500 on the leave applications: <b>down</b> & out", taken_at => "Sun 22 Nov 11:00" },
            ],
        ),
        (
            "leave_unchecked.html",
            vec![
                context! { job => "laser-chase", source => "Talenox", cause => "cannot reach Talenox for the employee list: connection refused", day => "Monday 23 November 2026" },
            ],
        ),
        (
            "dm_unreachable.html",
            vec![
                context! { job => "cake-reminder", member => "Siti <Rahman> & co", bot => "Clawrence", description => "Forbidden: bot was blocked by the user" },
            ],
        ),
        (
            "talenox_unmatched.html",
            vec![
                context! { job => "team-pulse", day => "Monday 23 November 2026", employees => vec!["Zoë <New> & Co", "Arjun Nair"], members => vec!["Marcus Lim"] },
                context! { job => "team-pulse", day => "Monday 23 November 2026", employees => Vec::<String>::new(), members => vec!["Marcus Lim"] },
            ],
        ),
        (
            "job_failed.html",
            vec![
                context! { job => "laser-chase", bot => "clawrence", thread => "daily-updates", slot, trigger => "schedule", cause => "template laser_chase.html: undefined value <name>" },
                context! { job => "ar-brief", bot => "claudia", thread => "ar-brief", slot, trigger => "catch_up", cause => "Xero asked to wait 3600 s, more than the 60 s cap" },
                context! { job => "team-pulse", bot => "clawrence", thread => "pulse", slot, trigger => "manual", cause => "panicked: \"boom\" & <more>" },
            ],
        ),
        (
            "job_interrupted.html",
            vec![context! { job => "team-pulse <v2>", slot }],
        ),
        (
            "job_overdue.html",
            vec![context! { job => "ar-brief & co", slot, minutes => 5 }],
        ),
        ("scheduler_stopped.html", vec![context! { seconds => 60 }]),
        (
            "slots_missed.html",
            vec![
                context! { count => 1, jobs => vec![context! { name => "team-pulse", slots => vec![slot], more => 0 }] },
                context! { count => 13, jobs => vec![
                    context! { name => "laser-chase <a&b>", slots => vec![slot; 10], more => 2 },
                    context! { name => "volts-leaderboard", slots => vec![slot], more => 0 },
                ] },
            ],
        ),
        (
            "job_gone.html",
            vec![
                context! { job => "old <job>", preview => true },
                context! { job => "old & gone", preview => false },
            ],
        ),
        (
            "run_paused.html",
            vec![context! { job => "team-pulse", scope => "bot clawrence <all>" }],
        ),
        (
            "run_slot_taken.html",
            vec![context! { job => "team-pulse & co", slot => "2026-11-23T03:00:00Z" }],
        ),
        (
            "job_preview.html",
            vec![
                context! { job => "team-pulse", thread => "pulse", failed => (), refused => (), posts => vec!["<b>Team pulse</b>\nAll <i>good</i> &amp; well", "Part two"] },
                context! { job => "team-pulse", thread => "pulse", failed => (), refused => (), posts => Vec::<String>::new() },
                context! { job => "tuesday-note", thread => "general", failed => (), refused => "can't parse entities: Unsupported start tag \"br\" at byte offset 16", posts => () },
                context! { job => "ar-brief <x>", thread => "ar-brief", failed => "the job panicked: template engine exploded & <died>", refused => (), posts => () },
            ],
        ),
        (
            "pause_changes.html",
            vec![
                context! { changes => vec![context! { kind => "started_paused", scope => "bot clawrence", since => "2026-11-23T02:00:00Z", by => "Wei Ming <ops>" }], still => () },
                context! { changes => vec![
                    context! { kind => "paused", scope => "job team-pulse", by => "Priya & co" },
                    context! { kind => "resumed", scope => "all", skipped => Vec::<minijinja::Value>::new(), more => 0 },
                ], still => vec!["job team-pulse"] },
                context! { changes => vec![
                    context! { kind => "resumed", scope => "bot clawrence", skipped => vec![
                        context! { job => "laser-chase", slot => "2026-11-23T03:00:00Z" },
                        context! { job => "team-pulse <v2>", slot => "2026-11-23T01:00:00Z" },
                    ], more => 3 },
                ], still => vec!["job a&b <c>", "bot b"] },
            ],
        ),
        // The approval desk (`approvals/`).
        (
            "desk_step_panicked.html",
            vec![
                context! { step => "posting the card of invoice INV-0060", panic => "index out of bounds: <3> & more" },
            ],
        ),
        (
            "approvals_xero_unreadable.html",
            vec![
                context! { cause => "Xero answered 503 <Service Unavailable> & closed", seconds => 300 },
            ],
        ),
        (
            "approval_not_yet_in_xero.html",
            vec![
                context! { number => "INV-0060", contact => "Tan & Sons <Trading> Pte Ltd", by => "Priya Raman", when => "Fri 20 Nov 14:05", cause => "Xero answered 500", seconds => 30 },
            ],
        ),
        (
            "approval_not_written_to_xero.html",
            vec![
                context! { number => "INV-0061", contact => "Lim & Co", by => "Priya Raman", when => "Fri 20 Nov 14:05", cause => "the invoice is VOIDED in Xero, not awaiting approval" },
            ],
        ),
    ]
}

/// Samples of the console's answers, shaped as `src/inbound/console/*.rs` builds them.
fn console_command_samples() -> Vec<(&'static str, Vec<Value>)> {
    use minijinja::context;
    let jobs = ["team-pulse", "r&d <weekly>"];
    vec![
        (
            "command_diagnose_mode.html",
            vec![
                context! { commands => ["/status", "/log", "/help"] },
                context! { commands => ["/status", "/help"] },
            ],
        ),
        (
            "command_help.html",
            vec![context! { commands => vec![
                context! { usage => "/status", description => "uptime, bots, pauses, outbox, jobs, last failures" },
                context! { usage => "/pause [all | bot NAME | job NAME]", description => "the kill switch" },
                context! { usage => "/a<b>", description => "escaped & shown" },
            ] }],
        ),
        (
            "command_jobs.html",
            vec![
                context! { jobs => vec![
                    context! { name => "team-pulse", paused => (), bot => "clawrence", thread => "pulse",
                               cron => "0 9 * * MON-FRI", timezone => "Asia/Singapore", next => "Mon 02 Nov 09:00" },
                    context! { name => "r&d <weekly>", paused => "bot claudia", bot => "claudia", thread => "ar-brief",
                               cron => "30 8 * * MON", timezone => "Europe/London", next => "none" },
                ] },
                context! { jobs => Vec::<Value>::new() },
            ],
        ),
        (
            "command_log.html",
            vec![
                context! { entries => vec![
                    context! { seq => 41, at => "Mon 02 Nov 09:00", kind => "boot", bot => (), job => (),
                               user => (), command => (), decision => "started" },
                    context! { seq => 42, at => "Mon 02 Nov 09:01", kind => "command", bot => "claudia",
                               job => "ar-brief", user => 1001, command => "help",
                               decision => "refused: <b>not</b> & \"quoted\"" },
                ] },
                context! { entries => Vec::<Value>::new() },
            ],
        ),
        (
            "command_next.html",
            vec![
                context! { timezone => "Asia/Singapore", slots => vec![
                    context! { at => "Mon 02 Nov 09:00", job => "team-pulse" },
                    context! { at => "Mon 02 Nov 09:30", job => "r&d <weekly>" },
                ] },
                context! { timezone => "Asia/Singapore", slots => Vec::<Value>::new() },
            ],
        ),
        (
            "command_no_outbox_rows.html",
            vec![
                context! { state => "ambiguous" },
                context! { state => "failed" },
            ],
        ),
        (
            "command_outbox_row.html",
            vec![context! {
                id => 17, bot => "claudia", place => "#ar-brief", updated_at => "2026-11-02T01:00:00Z",
                error => "Bad Request: can't parse entities: unexpected end tag <b>",
                excerpt => "Invoices due: Tan & Sons <overdue>",
            }],
        ),
        (
            "command_pause.html",
            vec![
                context! { scope => "all", already => false },
                context! { scope => "job r&d <weekly>", already => true },
            ],
        ),
        (
            "command_pending.html",
            vec![
                context! {
                    open => vec![context! { number => "INV-0042", contact => "Tan & Sons <Pte>", total => "SGD 1,200.00",
                                            posted => "Mon 2 Nov 09:00", expires => "Wed 4 Nov 09:00" }],
                    not_in_xero => vec![
                        context! { number => "INV-0040", contact => "Lim Ltd", decided_by => "Daniel Koh", attempts => 3,
                                   given_up => true, last_error => "Xero said 400: <ValidationException>" },
                        context! { number => "INV-0041", contact => "Ong", decided_by => "?", attempts => 0,
                                   given_up => false, last_error => "not tried yet" },
                    ],
                },
                context! { open => Vec::<Value>::new(), not_in_xero => Vec::<Value>::new() },
            ],
        ),
        ("command_preview.html", vec![context! { job => jobs[1] }]),
        (
            "command_resume.html",
            vec![
                context! { scope => "bot happy", resumed => (), still_paused => Vec::<String>::new() },
                context! {
                    scope => "all",
                    resumed => Value::from_safe_string("▶️ Resumed <b>all</b>. Held messages go out now. No scheduled slot was skipped while paused.".to_owned()),
                    still_paused => ["job r&d <weekly>", "bot happy"],
                },
            ],
        ),
        ("command_run.html", vec![context! { job => jobs[1] }]),
        (
            "command_status.html",
            vec![
                context! {
                    diagnose => false, uptime => "3h 04m", started => "Mon 02 Nov 06:00",
                    paused => ["job r&d <weekly> (by Daniel Koh)"],
                    bots => vec![context! { name => "claudia", username => "acme_claudia_bot", verified => "Mon 02 Nov 06:00",
                                            queued => 2, ambiguous => 1, failed => 0 }],
                    jobs => vec![context! { name => "team-pulse", last => "Mon 02 Nov 09:00 done", next => "Tue 03 Nov 09:00" }],
                    failures => vec![context! { at => "Mon 02 Nov 08:00", what => "claudia row 17: Forbidden: bot is not a member <of> the chat" }],
                    probe => context! { at => "Mon 02 Nov 08:00", summary => "31 OK, 1 DEGRADED, 1 BROKEN",
                        not_ok => ["DEGRADED clawrence: privacy mode: on: sees only commands & replies", "BROKEN claudia: thread ar-brief: the topic is gone <400>"] },
                    readiness => context! { ready => true, not_ready => Vec::<String>::new() },
                },
                context! {
                    diagnose => true, uptime => "0h 00m", started => "Mon 02 Nov 06:00", paused => Vec::<String>::new(),
                    bots => Vec::<Value>::new(), jobs => Vec::<Value>::new(), failures => Vec::<Value>::new(),
                    probe => Value::from(()),
                    readiness => context! { ready => false, not_ready => [
                        "diagnose mode: the last boots never became healthy; only the console polls",
                        "claudia: getUpdates failing: <timeout> & retrying",
                    ] },
                },
            ],
        ),
        (
            "command_unknown.html",
            vec![context! { command => "frobnicate" }],
        ),
        (
            "command_unknown_identity.html",
            vec![
                context! { name => "no<body>", identities => ["claudia", "clawrence", "lawrence"] },
            ],
        ),
        (
            "command_unknown_job.html",
            vec![
                context! { job => "no&pe", jobs },
                context! { job => "nope", jobs => Vec::<String>::new() },
            ],
        ),
        (
            "command_usage.html",
            vec![
                context! { usage => "/run JOB", problem => (), jobs },
                context! { usage => "/preview JOB", problem => (), jobs => Vec::<String>::new() },
                context! { usage => "/log [bot NAME | job NAME | user ID]", problem => "unknown filter `<colour>`", jobs => () },
                context! { usage => "/next [N]", problem => "N is a whole number from 1 to 50", jobs => () },
            ],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_has_samples_and_every_sample_renders_to_text_telegram_takes() {
        let samples = samples();
        for (name, _) in SOURCES {
            assert!(
                samples.iter().any(|(n, _)| n == name),
                "templates/console/{name} has no sample"
            );
        }
        for (name, contexts) in samples {
            assert!(!contexts.is_empty(), "{name}: no sample context");
            for (i, context) in contexts.into_iter().enumerate() {
                let text = environment()
                    .get_template(name)
                    .and_then(|t| t.render(context))
                    .unwrap_or_else(|e| panic!("{name} sample {i}: {e}"));
                crate::text::check(crate::text::TextKind::Message, text.trim_end())
                    .unwrap_or_else(|e| panic!("{name} sample {i}: {e}"));
                insta::assert_snapshot!(format!("{}-{i}", name.trim_end_matches(".html")), text);
            }
        }
    }

    #[test]
    fn a_template_that_fails_still_yields_a_notice() {
        let text = render("no_such_template.html", Value::UNDEFINED);
        assert!(
            text.contains("templates/console/no_such_template.html"),
            "{text}"
        );
        crate::text::check(crate::text::TextKind::Message, &text).expect("valid text");
    }
}
