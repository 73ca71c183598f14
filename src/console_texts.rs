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
            "herald_stopped.html",
            vec![context! { cause => "the database is corrupt: file is not a database <main.db>" }],
        ),
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
