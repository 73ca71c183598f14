//! `herald init DIR`: a new deployment folder from the example this binary was built with.
//! The files are the shipped example (`bots/`, `templates/`) with every team-specific value
//! blanked, so that `herald check` on the new folder lists exactly what is still to fill, one
//! line each, and nothing else: bot usernames, the team's name, chat, timezone and topic ids,
//! one operator, and the tokens (from an empty secrets file, mode 600, that `herald.toml`
//! names). Comments survive the blanking (`toml_edit`), so every field keeps its explanation.

use std::io::Write;
use std::path::{Path, PathBuf};

use toml_edit::{value, Array, DocumentMut, Item, Table};

/// One file of the shipped example, as it is in the repository.
#[derive(Debug, Clone, Copy)]
pub struct ExampleFile {
    /// The path inside a deployment folder, e.g. `bots/roster.toml`.
    pub path: &'static str,
    pub text: &'static str,
}

macro_rules! example {
    ($($path:literal),* $(,)?) => {
        &[$(ExampleFile {
            path: $path,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path)),
        }),*]
    };
}

/// The shipped example: every file of `bots/` and every template a deployment may edit (the
/// operator texts under `templates/console/` are built into the binary, not deployed).
pub const EXAMPLE: &[ExampleFile] = example![
    "bots/herald.toml",
    "bots/roster.toml",
    "bots/claims.toml",
    "bots/claudia.toml",
    "bots/clawrence.toml",
    "bots/gymbooker.toml",
    "bots/happy.toml",
    "bots/lawrence.toml",
    "bots/pakgupei.toml",
    "templates/_macros.html",
    "templates/approval_card.html",
    "templates/claim_card.html",
    "templates/claims_summary.html",
    "templates/ar_brief.html",
    "templates/cake_reminder.html",
    "templates/capability_probe.html",
    "templates/call_reminder.html",
    "templates/help.html",
    "templates/hr_pulse.html",
    "templates/laser_chase.html",
    "templates/morning_brief.html",
    "templates/team_pulse.html",
    "templates/volts_granted.html",
    "templates/volts_leaderboard.html",
];

/// Where the new deployment's secrets file lives, relative to the folder (`herald.toml`'s
/// file provider names it; config backups copy `bots/` and `templates/` only, never this).
pub const SECRETS_FILE: &str = "secrets.json";

/// The walk-through written beside the files; `{dir}` is the folder.
const NEXT_STEPS: &str = include_str!("next_steps.md");

/// Why a folder could not be initialised.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{dir} is not empty: herald init only writes a new folder (nothing was written)")]
    NotEmpty { dir: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the example {path} does not parse: {reason}")]
    Example { path: &'static str, reason: String },
}

/// What `init` wrote.
#[derive(Debug)]
pub struct Initialised {
    /// Every file written, relative to the folder, in writing order.
    pub files: Vec<PathBuf>,
}

/// Writes a new deployment into `dir`, which must not exist or be empty. Everything is
/// rendered (and the example parsed) before the first write; a write that then fails (a full
/// disk) leaves the files written so far, and the error names the file.
pub fn init(dir: &Path) -> Result<Initialised, InitError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| InitError::Io { path, source }
    };
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(InitError::NotEmpty {
                    dir: dir.display().to_string(),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(dir)(e)),
    }
    let mut files: Vec<(PathBuf, String)> = EXAMPLE
        .iter()
        .map(|file| Ok((PathBuf::from(file.path), blanked(file)?)))
        .collect::<Result<_, InitError>>()?;
    files.push((PathBuf::from(SECRETS_FILE), "{}\n".to_owned()));
    files.push((
        PathBuf::from("NEXT-STEPS.md"),
        NEXT_STEPS.replace("{dir}", &dir.display().to_string()),
    ));

    for folder in ["bots", "templates"] {
        let path = dir.join(folder);
        create_private_dir(&path).map_err(io(&path))?;
    }
    for (relative, text) in &files {
        let path = dir.join(relative);
        write_new_private(&path, text).map_err(io(&path))?;
    }
    Ok(Initialised {
        files: files.into_iter().map(|(path, _)| path).collect(),
    })
}

/// The example file with the team's values blanked.
fn blanked(file: &ExampleFile) -> Result<String, InitError> {
    if !file.path.starts_with("bots/") {
        return Ok(file.text.to_owned());
    }
    let mut doc: DocumentMut =
        file.text
            .parse()
            .map_err(|e: toml_edit::TomlError| InitError::Example {
                path: file.path,
                reason: e.to_string(),
            })?;
    match file.path {
        "bots/herald.toml" => {
            if let Some(local) = doc
                .get_mut("secret_providers")
                .and_then(|providers| providers.get_mut("local"))
            {
                local["path"] = value(SECRETS_FILE);
            }
        }
        "bots/roster.toml" => blank_roster(&mut doc),
        _ => {
            if doc.contains_key("username") {
                doc["username"] = value("");
            }
        }
    }
    Ok(doc.to_string())
}

/// The roster keeps its threads (the bots' files name them) and holidays, and loses every
/// id, the team's name and zone, its people (one blank operator stays) and their leave.
fn blank_roster(doc: &mut DocumentMut) {
    if let Some(team) = doc.get_mut("team").and_then(Item::as_table_mut) {
        team["name"] = value("");
        team["chat_id"] = value(0);
        team["timezone"] = value("");
    }
    if let Some(threads) = doc
        .get_mut("threads")
        .and_then(Item::as_array_of_tables_mut)
    {
        for thread in threads.iter_mut() {
            if thread.contains_key("message_thread_id") {
                thread["message_thread_id"] = value(0);
            }
        }
    }
    if let Some(members) = doc
        .get_mut("members")
        .and_then(Item::as_array_of_tables_mut)
    {
        members.retain({
            let mut first = true;
            move |_| std::mem::take(&mut first)
        });
        if let Some(member) = members.get_mut(0) {
            let decor = member.decor().clone();
            let mut blank = Table::new();
            *blank.decor_mut() = decor;
            blank["name"] = value("");
            blank["telegram_id"] = value(0);
            blank["roles"] = value(Array::from_iter(["operator", "approver"]));
            *member = blank;
        }
    }
    doc.remove("leave");
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// Creates `path` (never overwriting) with mode 600 and `text`.
fn write_new_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::os::unix::fs::PermissionsExt;

    fn files_in(dir: &Path) -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_example_is_every_shipped_bot_file_and_template() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let shipped: BTreeSet<String> = ["bots", "templates"]
            .iter()
            .flat_map(|folder| {
                files_in(&root.join(folder))
                    .into_iter()
                    .map(move |name| format!("{folder}/{name}"))
            })
            .collect();
        let embedded: BTreeSet<String> = EXAMPLE.iter().map(|f| f.path.to_owned()).collect();
        assert_eq!(embedded, shipped, "add the new file to EXAMPLE");
    }

    #[test]
    fn blanking_keeps_comments_and_the_threads_and_drops_the_people() {
        let roster = EXAMPLE
            .iter()
            .find(|f| f.path == "bots/roster.toml")
            .unwrap();
        let text = blanked(roster).unwrap();
        assert!(text.contains("# The canonical roster"), "{text}");
        assert!(text.contains("name = \"daily-updates\""), "{text}");
        assert!(text.contains("message_thread_id = 0"), "{text}");
        assert!(text.contains("chat_id = 0"), "{text}");
        for gone in [
            "Acme",
            "Wei Ming",
            "5102938471",
            "Asia/Singapore\"",
            "[[leave]]",
        ] {
            assert!(!text.contains(gone), "{gone} is still in:\n{text}");
        }
        let doc: DocumentMut = text.parse().unwrap();
        assert_eq!(doc["members"].as_array_of_tables().unwrap().len(), 1);

        let happy = EXAMPLE
            .iter()
            .find(|f| f.path == "bots/happy.toml")
            .unwrap();
        let text = blanked(happy).unwrap();
        assert!(text.contains("username = \"\"\n"), "{text}");
        assert!(text.contains("/telegram/happy"), "{text}");
    }

    #[test]
    fn init_writes_private_files_and_refuses_a_folder_with_anything_in_it() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("acme");
        let written = init(&dir).unwrap();
        assert_eq!(written.files.len(), EXAMPLE.len() + 2);
        let secrets = dir.join(SECRETS_FILE);
        assert_eq!(std::fs::read_to_string(&secrets).unwrap(), "{}\n");
        let mode = std::fs::metadata(&secrets).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(dir.join("bots"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let steps = std::fs::read_to_string(dir.join("NEXT-STEPS.md")).unwrap();
        assert!(steps.contains(&format!("herald check --config {}", dir.display())));

        let before = std::fs::read_to_string(dir.join("bots/roster.toml")).unwrap();
        let error = init(&dir).unwrap_err();
        assert!(matches!(error, InitError::NotEmpty { .. }), "{error}");
        assert_eq!(
            std::fs::read_to_string(dir.join("bots/roster.toml")).unwrap(),
            before
        );

        let other = scratch.path().join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("notes.txt"), "mine").unwrap();
        assert!(matches!(init(&other), Err(InitError::NotEmpty { .. })));
        assert_eq!(files_in(&other), BTreeSet::from(["notes.txt".to_owned()]));
    }
}
