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
    (
        "job_ran_by_hand.html",
        include_str!("../templates/console/job_ran_by_hand.html"),
    ),
    (
        "job_failed.html",
        include_str!("../templates/console/job_failed.html"),
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
    let slot = "Mon 2026-11-23 11:00 +08 (03:00 UTC)";
    vec![
        (
            "herald_stopped.html",
            vec![context! { cause => "the database is corrupt: file is not a database <main.db>" }],
        ),
        // The scheduler (`schedule/runner/`).
        (
            "job_ran_by_hand.html",
            vec![context! { job => "team-pulse", messages => 2, thread => "pulse & <co>" }],
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
