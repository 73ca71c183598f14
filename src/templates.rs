//! Message templates: every file in `<config>/templates/`, rendered by minijinja with HTML
//! auto-escaping (for `.html` files) and strict undefined variables, so a typo in a template
//! is an error and never a silently empty line.

use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

/// Why a template could not be loaded or rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the templates folder {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("templates/{name}: {message}")]
    Invalid { name: String, message: String },
    #[error("templates/{name}: render failed: {message}")]
    Render { name: String, message: String },
}

/// The loaded templates of a deployment.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Loads every file directly in `dir` (the deployment's `templates/`).
    pub fn load(dir: &Path) -> Result<Self, TemplateError> {
        let read_error = |source| TemplateError::Read {
            path: dir.to_owned(),
            source,
        };
        let mut env = base_environment();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(read_error)?
            .collect::<Result<_, _>>()
            .map_err(read_error)?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let source = std::fs::read_to_string(&path).map_err(read_error)?;
            env.add_template_owned(name.clone(), source)
                .map_err(|e| TemplateError::Invalid {
                    name,
                    message: e.to_string(),
                })?;
        }
        Ok(Self { env })
    }

    /// Templates from `(name, source)` pairs (tests).
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<Self, TemplateError> {
        let mut env = base_environment();
        for (name, source) in sources {
            env.add_template_owned(name.to_string(), source.to_string())
                .map_err(|e| TemplateError::Invalid {
                    name: name.to_string(),
                    message: e.to_string(),
                })?;
        }
        Ok(Self { env })
    }

    /// Whether a template called `name` was loaded.
    pub fn contains(&self, name: &str) -> bool {
        self.env.get_template(name).is_ok()
    }

    /// Renders `name` with `context`. Trailing whitespace is trimmed.
    pub fn render(&self, name: &str, context: minijinja::Value) -> Result<String, TemplateError> {
        let render_error = |e: minijinja::Error| TemplateError::Render {
            name: name.to_owned(),
            message: e.to_string(),
        };
        let template = self.env.get_template(name).map_err(render_error)?;
        let text = template.render(context).map_err(render_error)?;
        Ok(text.trim_end().to_owned())
    }
}

/// The templates herald's own commands render (not jobs), each with sample contexts shaped
/// as their callers build them: `/help` (`inbound/common.rs`), a volts grant
/// (`inbound/clawrence.rs`) and an approval card (`approvals::CardContext`). Strict undefined
/// variables make a template that asks for more than its caller gives fail here.
pub fn command_samples() -> Vec<(&'static str, Vec<minijinja::Value>)> {
    use minijinja::context;
    let with_handle =
        context! { name => "Priya Raman", handle => "priya_raman", id => 6023847561i64 };
    let without =
        context! { name => "Hui Min \"Min\" Ong & co", handle => (), id => 6650192834i64 };
    vec![
        (
            "help.html",
            vec![context! {
                bot => "Clawrence",
                commands => vec![
                    context! { name => "volts", description => "Give volts: /volts @handle N reason <fast & fair>", places => "#volts, #general or a DM with me" },
                    context! { name => "help", description => "List my commands", places => () },
                ],
            }],
        ),
        (
            "volts_granted.html",
            vec![
                context! { giver => with_handle.clone(), receiver => without.clone(), amount => 3, reason => "for the Tan & Sons <deck> \"v2\"", link => "https://t.me/c/2233445566/14/120", left => 2 },
                context! { giver => without, receiver => with_handle, amount => 1, reason => "🙏", link => "https://t.me/c/2233445566/14/121", left => 0 },
            ],
        ),
        (
            "approval_card.html",
            vec![
                context! { number => "INV-0060", contact => "Tan & Sons <Trading> Pte Ltd", total => "SGD 4,360.00", due => "Fri 4 Dec 2026", link => "https://go.xero.com/app/invoicing/view/4d2c8b7e?a=1&b=2", status => () },
                context! { number => "INV-0061", contact => "Lim & Co", total => "USD 12.00", due => (), link => "https://go.xero.com/x", status => "❌ Rejected by Priya Raman at Fri 20 Nov 14:05: wrong PO <#12>" },
            ],
        ),
    ]
}

/// Renders every template in the folder that is neither a job's (jobs check their own, with
/// their own sample data) nor a partial (a name starting with `_`, checked through the
/// templates that use it), and checks that Telegram would take the output: the command
/// templates with [`command_samples`], any other `.html` file with a post job's sample
/// context (the one context a template can get without code). A template that does not
/// render with that context is left alone: nothing but a job could use it. `job_templates`
/// are the templates named by jobs; `post_sample` is the post job's sample context.
pub fn check_rendered(
    templates: &Templates,
    job_templates: &std::collections::BTreeSet<String>,
    post_sample: minijinja::Value,
) -> Vec<crate::config::Finding> {
    let samples = command_samples();
    let mut findings = Vec::new();
    let mut report = |name: &str, problem: String| {
        findings.push(crate::config::Finding::new(
            format!("templates/{name}"),
            "-",
            problem,
        ));
    };
    // Names first: the environment's template list is locked while it is iterated, and
    // rendering needs that lock.
    let names: Vec<String> = templates
        .env
        .templates()
        .map(|(name, _)| name.to_owned())
        .collect();
    for name in &names {
        let name = name.as_str();
        if name.starts_with('_') || job_templates.contains(name) {
            continue;
        }
        let renders: Vec<Result<String, TemplateError>> = match samples
            .iter()
            .find(|(command, _)| *command == name)
        {
            Some((_, contexts)) => contexts
                .iter()
                .map(|c| templates.render(name, c.clone()))
                .collect(),
            None if name.ends_with(".html") => match templates.render(name, post_sample.clone()) {
                Ok(html) => vec![Ok(html)],
                Err(_) => continue,
            },
            None => continue,
        };
        for rendered in renders {
            match rendered {
                Err(e) => {
                    report(name, format!("does not render with sample data: {e}"));
                    break;
                }
                Ok(html) => {
                    if let Err(e) = crate::text::split(&html, crate::text::TELEGRAM_MESSAGE_LIMIT) {
                        report(
                            name,
                            format!(
                                "Telegram would refuse what it renders from sample data: can't parse entities: {e}"
                            ),
                        );
                        break;
                    }
                }
            }
        }
    }
    findings
}

/// A roster member as templates see them: `name`, `handle` (none without one) and `id`, for
/// the `mention` macro in `templates/_macros.html`.
pub fn person(member: &crate::roster::Member) -> minijinja::Value {
    minijinja::context! {
        name => member.name,
        handle => member.handle,
        id => member.telegram_id,
    }
}

/// Auto-escaping for Telegram's HTML parse mode: `&`, `<`, `>` and `"` only. minijinja's own
/// HTML escaping also writes `/` and `'` as numeric entities, which makes links and `/help`
/// lines unreadable in logs and transcripts for no safety gain in Telegram's parser.
const TELEGRAM_HTML: AutoEscape = AutoEscape::Custom("telegram-html");

pub(crate) fn base_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(false);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            TELEGRAM_HTML
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(|out, state, value| {
        if state.auto_escape() == TELEGRAM_HTML && !value.is_safe() {
            let text = value.to_string();
            out.write_str(&html_escape::encode_double_quoted_attribute(&text))
                .map_err(minijinja::Error::from)
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_templates_escape_and_undefined_is_an_error() {
        let t = Templates::from_sources(&[("x.html", "<b>{{ name }}</b>")]).unwrap();
        assert_eq!(
            t.render("x.html", minijinja::context! { name => "Tan & <Sons>" })
                .unwrap(),
            "<b>Tan &amp; &lt;Sons&gt;</b>"
        );
        let link =
            Templates::from_sources(&[("l.html", "<a href=\"{{ u }}\">{{ n }}</a>")]).unwrap();
        assert_eq!(
            link.render(
                "l.html",
                minijinja::context! { u => "https://t.me/c/1/2?a=\"x\"", n => "it's /help" }
            )
            .unwrap(),
            "<a href=\"https://t.me/c/1/2?a=&quot;x&quot;\">it's /help</a>"
        );
        let err = t.render("x.html", minijinja::context! {}).unwrap_err();
        assert!(err.to_string().contains("templates/x.html"), "{err}");
    }
}
