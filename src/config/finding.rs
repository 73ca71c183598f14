//! [`Finding`]: one problem in a deployment, as `herald check` and a refused `herald run`
//! print it (`FILE: FIELD: problem`), with the text hygiene every finding gets: one line, and
//! nothing shaped like a bot token. Its own module so that every part of the config (and the
//! roster) can report problems without importing the loader.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// One problem in a deployment, displayed as `FILE: FIELD: problem` on one line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Finding {
    /// Path relative to the config folder, e.g. `bots/roster.toml`.
    pub file: String,
    /// Where in the file: `members[2].roles[0]`, `token`, `line 12`, or `-` for the whole file.
    pub field: String,
    pub problem: String,
}

impl Finding {
    /// Builds a finding, keeping it on one line and scrubbing anything shaped like a token.
    pub fn new(
        file: impl Into<String>,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Finding {
        Finding {
            file: one_line(&file.into()),
            field: scrub(&one_line(&field.into())),
            problem: scrub(&one_line(&problem.into())),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.field, self.problem)
    }
}

/// The shape of a Telegram bot token: bot id, colon, secret.
pub(crate) static TOKEN_SHAPE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d{5,12}:[A-Za-z0-9_-]{30,}\b").expect("constant pattern"));

fn one_line(text: &str) -> String {
    if text.contains(['\n', '\r']) {
        text.split(['\n', '\r'])
            .filter(|part| !part.trim().is_empty())
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        text.to_owned()
    }
}

/// Replaces anything shaped like a bot token with `<redacted>`.
pub(crate) fn scrub(text: &str) -> String {
    TOKEN_SHAPE.replace_all(text, "<redacted>").into_owned()
}

/// Removes quoted string values from a deserializer message (`invalid type: string "..."`):
/// a token written where a reference belongs would otherwise be echoed back.
pub(crate) fn without_values(message: &str) -> String {
    static QUOTED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"string "(?:[^"\\]|\\.)*""#).expect("constant pattern"));
    QUOTED.replace_all(message, "a string").into_owned()
}

/// Sorts and deduplicates findings (by file, then field, then problem).
pub(crate) fn tidy(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort();
    findings.dedup();
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line() {
        let f = Finding::new("bots/roster.toml", "members[2].roles[0]", "bad\nrole");
        assert_eq!(
            f.to_string(),
            "bots/roster.toml: members[2].roles[0]: bad role"
        );
    }

    #[test]
    fn token_shapes_are_scrubbed() {
        let token = format!("{}:{}", "1234567890", "A".repeat(35));
        let f = Finding::new("bots/x.toml", "-", format!("saw {token} here"));
        assert_eq!(f.problem, "saw <redacted> here");
    }

    #[test]
    fn quoted_values_are_removed() {
        assert_eq!(
            without_values(r#"invalid type: string "111:AAA\"x", expected a ref"#),
            "invalid type: a string, expected a ref"
        );
    }
}
