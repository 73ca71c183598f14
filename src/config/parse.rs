//! Reading and parsing the deployment's TOML files. Every problem (a missing file, bad UTF-8, a
//! syntax error, a wrong type, an unknown key) becomes a [`Finding`] located by line or field,
//! with any quoted value left out of the text (a token written where a reference belongs must
//! not be echoed back).

use std::fs;
use std::path::Path;

use serde::de::DeserializeOwned;

use super::finding::{without_values, Finding};
use super::model::{DEPLOYMENT_FILE, ROSTER_FILE};

/// An I/O error as a reason an operator can act on.
pub(super) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or folder".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

/// The text of `file` (relative to `dir`); a missing, unreadable or non-UTF-8 file is a finding.
pub(super) fn read_text(dir: &Path, file: &str, findings: &mut Vec<Finding>) -> Option<String> {
    match fs::read(dir.join(file)) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Some(text),
            Err(_) => {
                findings.push(Finding::new(file, "-", "file is not valid UTF-8"));
                None
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let what = if file == DEPLOYMENT_FILE {
                "missing deployment file (console identity and secret providers)"
            } else if file == ROSTER_FILE {
                "missing roster file"
            } else {
                "missing file"
            };
            findings.push(Finding::new(file, "-", what));
            None
        }
        Err(e) => {
            findings.push(Finding::new(
                file,
                "-",
                format!("cannot read: {}", io_reason(&e)),
            ));
            None
        }
    }
}

/// `line N` for a byte offset into `text`.
fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let end = span.start.min(text.len());
            let line = text.as_bytes()[..end]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            format!("line {line}")
        }
        None => "-".to_owned(),
    }
}

/// Writes a serde_ignored path as `members[2].roles`.
fn dotted(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", dotted(parent)),
        Path::Map { parent, key } => {
            let parent = dotted(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => dotted(parent),
    }
}

/// Parses one TOML file; unknown keys and errors become findings.
pub(super) fn parse_toml<T: DeserializeOwned>(
    file: &str,
    text: &str,
    findings: &mut Vec<Finding>,
) -> Option<T> {
    let de = match toml::Deserializer::parse(text) {
        Ok(de) => de,
        Err(e) => {
            findings.push(Finding::new(
                file,
                line_of(text, e.span()),
                format!("TOML syntax error: {}", without_values(e.message())),
            ));
            return None;
        }
    };
    let mut unknown = Vec::new();
    let parsed = serde_ignored::deserialize(de, |path| unknown.push(dotted(&path)));
    for key in unknown {
        findings.push(Finding::new(file, key, "unknown key"));
    }
    match parsed {
        Ok(value) => Some(value),
        Err(e) => {
            findings.push(Finding::new(
                file,
                line_of(text, e.span()),
                without_values(e.message()),
            ));
            None
        }
    }
}
