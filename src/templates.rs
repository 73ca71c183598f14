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

fn base_environment() -> Environment<'static> {
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
