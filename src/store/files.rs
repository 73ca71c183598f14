//! The database's files are private to the user running herald: they hold the audit log,
//! members' update texts, volts reasons and invoice contacts and amounts. herald creates
//! everything with a 077 umask ([`private_by_default`], first thing in `main`), creates the
//! state folder 0700 and the database 0600 before SQLite opens it (SQLite gives its `-wal` and
//! `-shm` files the database's mode), and warns about existing files that group or others can
//! read ([`exposure_warnings`]); it never changes the mode of something it did not create.

use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Makes everything this process creates from now on private to its user (umask 077).
pub fn private_by_default() {
    // SAFETY: umask only swaps the process's file-creation mask; it cannot fail and touches
    // no memory. Called before any thread starts.
    unsafe {
        libc::umask(0o077);
    }
}

/// Creates the folder of `db` (0700, with any missing parents) and the empty database file
/// (0600) when they do not exist yet, so that SQLite opens a private file.
pub(crate) fn prepare(db: &Path) -> io::Result<()> {
    if let Some(folder) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !folder.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(folder)?;
        }
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(db)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// One line per existing file of the database `db` (and its folder, when `folder_too`: the
/// deployment's own `state/`) that group or others may read or write, naming the path, its
/// mode and the fix. Empty when all is private or nothing exists yet.
pub fn exposure_warnings(db: &Path, folder_too: bool) -> Vec<String> {
    let mut paths: Vec<(PathBuf, u32)> = Vec::new();
    if folder_too {
        if let Some(folder) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
            paths.push((folder.to_owned(), 0o700));
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        paths.push((PathBuf::from(name), 0o600));
    }
    paths
        .into_iter()
        .filter_map(|(path, private)| {
            let mode = std::fs::metadata(&path).ok()?.permissions().mode() & 0o777;
            (mode & 0o077 != 0).then(|| {
                format!(
                    "{} is open to group or others (mode {mode:04o}) and holds the audit log, \
                     members' messages and invoice data; fix: chmod {private:o} {}",
                    path.display(),
                    path.display()
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn prepare_makes_a_private_folder_and_file_and_leaves_existing_ones_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("deep").join("state").join("herald.db");
        prepare(&db).expect("prepared");
        assert_eq!(mode(db.parent().expect("folder")), 0o700);
        assert_eq!(mode(&db), 0o600);
        std::fs::write(&db, b"kept").expect("write");
        prepare(&db).expect("again");
        assert_eq!(std::fs::read(&db).expect("read"), b"kept", "not truncated");
    }

    #[test]
    fn files_open_to_others_are_named_with_their_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        std::fs::create_dir(&state).expect("state");
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let db = state.join("herald.db");
        std::fs::write(&db, b"").expect("db");
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let wal = state.join("herald.db-wal");
        std::fs::write(&wal, b"").expect("wal");
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o600)).expect("chmod");

        let warnings = exposure_warnings(&db, true);
        assert_eq!(warnings.len(), 2, "{warnings:#?}");
        assert!(warnings[0].contains("(mode 0755)"), "{}", warnings[0]);
        assert!(
            warnings[0].ends_with(&format!("fix: chmod 700 {}", state.display())),
            "{}",
            warnings[0]
        );
        assert!(
            warnings[1].ends_with(&format!("fix: chmod 600 {}", db.display())),
            "{}",
            warnings[1]
        );
        assert_eq!(
            exposure_warnings(&db, false).len(),
            1,
            "the folder left out"
        );

        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(exposure_warnings(&db, true).is_empty());
    }
}
