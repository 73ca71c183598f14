//! The last configurations that worked. After a healthy boot `herald run` saves the files it
//! booted with (`bots/*.toml` and the templates, exactly what herald reads from the folder,
//! never a secrets file) under `state/config-good/<timestamp>/`, keeping the newest
//! [`KEEP`]. `herald config diff` compares the folder with one of them and
//! `herald config restore` copies one back. The files are read when the boot loads its
//! configuration ([`ConfigFiles::read`]), so an edit made while the boot was becoming healthy
//! is never saved as good.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

/// How many healthy configurations are kept.
pub const KEEP: usize = 10;

/// The folders herald reads a deployment from, relative to the config folder.
const FOLDERS: [&str; 2] = ["bots", "templates"];

/// A deployment's configuration files: relative path (`bots/roster.toml`) to contents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFiles(pub BTreeMap<String, Vec<u8>>);

/// A saved configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// Its name under `state/config-good/`: the UTC instant of the save, `20261203T065300Z`.
    pub stamp: String,
    pub path: PathBuf,
}

/// What went wrong with a backup, naming the path.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no configuration has been saved yet in {dir} (herald run saves one after a healthy boot)"
    )]
    NoBackups { dir: String },
    #[error("no saved configuration {stamp} in {dir}; `herald config backups` lists them")]
    Unknown { stamp: String, dir: String },
    #[error("the saved configuration {stamp} does not pass `herald check`, so it was not restored:\n{findings}")]
    Invalid { stamp: String, findings: String },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// `state/config-good/` of the deployment in `config_dir`.
pub fn backups_dir(config_dir: &Path) -> PathBuf {
    config_dir.join("state").join("config-good")
}

impl ConfigFiles {
    /// Reads `bots/*.toml` and every file directly in `templates/` (what a deployment is
    /// loaded from); a missing folder reads as no files.
    pub fn read(dir: &Path) -> Result<Self, BackupError> {
        let mut files = BTreeMap::new();
        for folder in FOLDERS {
            for path in config_files_in(&dir.join(folder), folder)? {
                let bytes = std::fs::read(&path).map_err(io_error(&path))?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                files.insert(format!("{folder}/{name}"), bytes);
            }
        }
        Ok(Self(files))
    }

    fn write_into(&self, dir: &Path) -> Result<(), BackupError> {
        for (relative, bytes) in &self.0 {
            let path = dir.join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io_error(parent))?;
            }
            write_replacing(&path, bytes)?;
        }
        Ok(())
    }
}

/// The configuration files directly in `folder` (`bots/` holds `*.toml` files only, so a
/// secrets file kept there is never copied), sorted.
fn config_files_in(path: &Path, folder: &str) -> Result<Vec<PathBuf>, BackupError> {
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(path)(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error(path))?;
        let file = entry.path();
        let is_toml = file.extension().is_some_and(|e| e == "toml");
        if file.is_file() && (folder != "bots" || is_toml) {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}

/// Replaces `path` with `bytes`, durably ([`crate::durable::replace_file`], mode 600).
fn write_replacing(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    crate::durable::replace_file(path, 0o600, |file| file.write_all(bytes))
        .map_err(|e| io_error(path)(e.source))
}

/// How a copy being written is named, until it is renamed to its timestamp.
const PARTIAL_PREFIX: &str = ".saving-";

/// The saved configurations, oldest first.
pub fn list(config_dir: &Path) -> Result<Vec<Backup>, BackupError> {
    let dir = backups_dir(config_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(&dir)(e)),
    };
    let mut backups = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error(&dir))?;
        let stamp = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && is_stamp(&stamp) {
            backups.push(Backup {
                stamp,
                path: entry.path(),
            });
        }
    }
    backups.sort_by(|a, b| a.stamp.cmp(&b.stamp));
    Ok(backups)
}

fn stamp_of(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

fn is_stamp(name: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(name, "%Y%m%dT%H%M%SZ").is_ok()
}

/// Saves `files` as a healthy configuration at `at`, unless the newest saved one holds the
/// same files (a restart with an unchanged configuration saves nothing), then keeps the
/// newest [`KEEP`]. Returns the new backup, or `None` when nothing changed. The copy is
/// written under a temporary name and renamed, so a crash never leaves half a backup.
pub fn save(
    config_dir: &Path,
    files: &ConfigFiles,
    at: DateTime<Utc>,
) -> Result<Option<Backup>, BackupError> {
    let existing = list(config_dir)?;
    if let Some(newest) = existing.last() {
        if &ConfigFiles::read(&newest.path)? == files {
            return Ok(None);
        }
    }
    let dir = backups_dir(config_dir);
    std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    remove_partial_copies(&dir);
    let stamp = stamp_of(at);
    let path = dir.join(&stamp);
    let partial = tempfile::Builder::new()
        .prefix(PARTIAL_PREFIX)
        .tempdir_in(&dir)
        .map_err(io_error(&dir))?;
    files.write_into(partial.path())?;
    if path.exists() {
        // A second healthy boot within the same second with other files: the newer wins.
        std::fs::remove_dir_all(&path).map_err(io_error(&path))?;
    }
    let partial = partial.keep();
    std::fs::rename(&partial, &path).map_err(io_error(&path))?;
    let mut all = list(config_dir)?;
    while all.len() > KEEP {
        let oldest = all.remove(0);
        std::fs::remove_dir_all(&oldest.path).map_err(io_error(&oldest.path))?;
    }
    Ok(Some(Backup { stamp, path }))
}

/// Removes the half-written copies (`.saving-*`) a crash during an earlier save left in `dir`.
/// Only one herald saves at a time (it holds the database lease). Failures are logged: a
/// leftover costs disk space, never a wrong restore (`list` never shows one).
fn remove_partial_copies(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let partial = entry
            .file_name()
            .to_string_lossy()
            .starts_with(PARTIAL_PREFIX);
        if partial && entry.path().is_dir() {
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!(path = %entry.path().display(), error = %e, "cannot remove a half-written configuration copy");
            }
        }
    }
}

/// The saved configuration named `stamp`, or the newest for `None`.
pub fn find(config_dir: &Path, stamp: Option<&str>) -> Result<Backup, BackupError> {
    let dir = backups_dir(config_dir).display().to_string();
    let backups = list(config_dir)?;
    match stamp {
        None => backups
            .last()
            .cloned()
            .ok_or(BackupError::NoBackups { dir }),
        Some(stamp) => backups
            .into_iter()
            .find(|b| b.stamp == stamp)
            .ok_or_else(|| BackupError::Unknown {
                stamp: stamp.to_owned(),
                dir,
            }),
    }
}

/// The differences between a saved configuration and the folder, as unified diffs, one per
/// changed file, in path order; empty when they hold the same files.
pub fn diff(config_dir: &Path, backup: &Backup) -> Result<String, BackupError> {
    let saved = ConfigFiles::read(&backup.path)?;
    let current = ConfigFiles::read(config_dir)?;
    let paths: std::collections::BTreeSet<&String> =
        saved.0.keys().chain(current.0.keys()).collect();
    let mut out = String::new();
    for path in paths {
        let (old, new) = (saved.0.get(path), current.0.get(path));
        if old == new {
            continue;
        }
        let text = |bytes: Option<&Vec<u8>>| {
            bytes.map_or_else(String::new, |b| String::from_utf8_lossy(b).into_owned())
        };
        let (old_text, new_text) = (text(old), text(new));
        let old_name = match old {
            Some(_) => format!("{}/{path}", backup.stamp),
            None => "/dev/null".to_owned(),
        };
        let new_name = match new {
            Some(_) => path.clone(),
            None => "/dev/null".to_owned(),
        };
        let unified = similar::TextDiff::from_lines(&old_text, &new_text)
            .unified_diff()
            .context_radius(3)
            .header(&old_name, &new_name)
            .to_string();
        out.push_str(&unified);
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    /// Where the files it replaced or removed were moved to.
    pub previous: PathBuf,
    /// How many files it wrote.
    pub written: usize,
}

/// Copies the saved configuration back into the folder once `validate` accepts it (given a
/// scratch folder holding it), first moving the files it replaces to
/// `state/config-replaced/<at>/`. Secrets files are never read or written.
pub fn restore(
    config_dir: &Path,
    backup: &Backup,
    at: DateTime<Utc>,
    validate: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<Restored, BackupError> {
    let saved = ConfigFiles::read(&backup.path)?;
    let scratch = tempfile::tempdir().map_err(io_error(Path::new("temporary folder")))?;
    saved.write_into(scratch.path())?;
    validate(scratch.path()).map_err(|findings| BackupError::Invalid {
        stamp: backup.stamp.clone(),
        findings,
    })?;
    let current = ConfigFiles::read(config_dir)?;
    let previous = config_dir
        .join("state")
        .join("config-replaced")
        .join(stamp_of(at));
    current.write_into(&previous)?;
    saved.write_into(config_dir)?;
    for path in current.0.keys().filter(|p| !saved.0.contains_key(*p)) {
        let path = config_dir.join(path);
        std::fs::remove_file(&path).map_err(io_error(&path))?;
    }
    Ok(Restored {
        previous,
        written: saved.0.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_796_000_000 + seconds, 0).unwrap()
    }

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn reads_what_herald_reads_and_never_a_secrets_file() {
        let dir = folder(&[
            ("bots/roster.toml", "a"),
            ("bots/secrets.json", "{}"),
            ("templates/help.html", "h"),
            ("templates/console/x.html", "nested"),
            ("secrets.json", "{}"),
        ]);
        let files = ConfigFiles::read(dir.path()).unwrap();
        assert_eq!(
            files.0.keys().collect::<Vec<_>>(),
            ["bots/roster.toml", "templates/help.html"]
        );
    }

    #[test]
    fn saves_only_changes_and_keeps_the_newest_ten() {
        let dir = folder(&[("bots/roster.toml", "v0")]);
        let files = ConfigFiles::read(dir.path()).unwrap();
        // A copy half-written when an earlier herald crashed mid-save.
        let leftover = backups_dir(dir.path()).join(".saving-crashed");
        std::fs::create_dir_all(leftover.join("bots")).unwrap();
        let first = save(dir.path(), &files, at(0)).unwrap().unwrap();
        assert!(!leftover.exists(), "the half-written copy is gone");
        assert_eq!(first.stamp, "20261130T005320Z");
        assert_eq!(save(dir.path(), &files, at(60)).unwrap(), None);
        for i in 1..=12 {
            let mut files = files.clone();
            files
                .0
                .insert("bots/roster.toml".into(), format!("v{i}").into_bytes());
            save(dir.path(), &files, at(i * 3600)).unwrap().unwrap();
        }
        let kept = list(dir.path()).unwrap();
        assert_eq!(kept.len(), KEEP);
        let newest = ConfigFiles::read(&kept[KEEP - 1].path).unwrap();
        assert_eq!(newest.0["bots/roster.toml"], b"v12");
        let oldest = ConfigFiles::read(&kept[0].path).unwrap();
        assert_eq!(oldest.0["bots/roster.toml"], b"v3");
        // No temporary folder is left behind.
        let names: Vec<_> = std::fs::read_dir(backups_dir(dir.path()))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| is_stamp(n)), "{names:?}");
    }

    #[test]
    fn restore_refuses_what_does_not_validate_and_changes_nothing() {
        let dir = folder(&[("bots/roster.toml", "good")]);
        let good = save(dir.path(), &ConfigFiles::read(dir.path()).unwrap(), at(0))
            .unwrap()
            .unwrap();
        std::fs::write(dir.path().join("bots/roster.toml"), "edited").unwrap();
        let error = restore(dir.path(), &good, at(10), |_| Err("bad".into())).unwrap_err();
        assert!(matches!(error, BackupError::Invalid { .. }), "{error}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("bots/roster.toml")).unwrap(),
            "edited"
        );
        assert!(!dir.path().join("state/config-replaced").exists());
    }
}
