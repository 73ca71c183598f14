//! Replacing a file so that a crash or a power cut leaves the old one or the new one, never
//! half of either: the new content goes to a fresh temporary file beside the target (created
//! mode 600, never through a symlink), is fsynced, gets its mode, is renamed over the target,
//! and then the folder is fsynced, because the rename lives in the folder's metadata. The
//! secrets file (a rotated Xero token), the saved last-good configuration and the service's
//! binary, unit and plist are all written this way.

use std::fs::File;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Which step of [`replace_file`] failed, and how.
#[derive(Debug, thiserror::Error)]
#[error("cannot {step}: {source}")]
pub struct ReplaceError {
    pub step: &'static str,
    pub source: io::Error,
}

/// Replaces `target` with what `write` puts in a temporary file beside it, which gets `mode`
/// before the rename. On failure the temporary file is removed and `target` is as it was
/// (except after the rename, when only the folder's fsync failed).
pub fn replace_file(
    target: &Path,
    mode: u32,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), ReplaceError> {
    let failed = |step| move |source| ReplaceError { step, source };
    let dir = target
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A dot file with a random suffix, created exclusively (O_EXCL: never through a link).
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}.herald-"))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(failed("create a temporary file beside it"))?;
    write(temp.as_file_mut()).map_err(failed("write the temporary file"))?;
    let file = temp.as_file();
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(failed("set the temporary file's mode"))?;
    file.sync_all()
        .map_err(failed("fsync the temporary file"))?;
    temp.persist(target)
        .map_err(|e| failed("rename the temporary file over it")(e.error))?;
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(failed("fsync its folder after the rename"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_file_is_swapped_with_its_mode_and_no_temporary_file_is_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("secrets.json");
        std::fs::write(&target, "old").expect("write");
        replace_file(&target, 0o600, |file| file.write_all(b"new")).expect("replaced");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "new");
        let mode = std::fs::metadata(&target)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["secrets.json"]);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("unit");
        std::fs::write(&target, "old").expect("write");
        let failed = replace_file(&target, 0o644, |_| Err(io::Error::other("disk full")))
            .expect_err("the write failed");
        assert_eq!(failed.step, "write the temporary file");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "old");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    }
}
