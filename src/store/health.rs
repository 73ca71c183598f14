//! What `herald audit` asks of the database: does it exist, is it in WAL mode with
//! `synchronous=FULL`, are its migrations those of this binary, does it take a write lock,
//! and how much disk is left beside it. Opened the way `herald run` opens it, never migrated
//! here: an audit does not change the schema under a running herald.

use std::path::Path;

use sqlx::Connection;

use super::StoreError;

/// The facts about one database.
#[derive(Debug, Clone)]
pub struct DatabaseFacts {
    /// `PRAGMA journal_mode` as herald's connections get it (`wal`).
    pub journal_mode: String,
    /// `PRAGMA synchronous`: 2 is FULL.
    pub synchronous: i64,
    /// The newest migration applied to the file (0 for none).
    pub applied_migration: i64,
    /// The newest migration this binary has.
    pub latest_migration: i64,
    /// Whether a write transaction could begin (`BEGIN IMMEDIATE`), or why not.
    pub writable: Result<(), String>,
    /// Bytes free for this user on the database's file system.
    pub free_bytes: Option<u64>,
}

/// The newest migration this binary carries.
pub fn latest_migration() -> i64 {
    sqlx::migrate!("./migrations")
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

/// Reads the facts of the database at `url`. `Ok(None)` when its file does not exist yet.
pub async fn facts(url: &str) -> Result<Option<DatabaseFacts>, StoreError> {
    let Some(file) = super::file_of(url) else {
        return Ok(None);
    };
    if !file.exists() {
        return Ok(None);
    }
    let pool = super::connect(url).await?;
    let opened = |source| StoreError::Open {
        url: url.to_owned(),
        source,
    };
    let mut conn = pool.acquire().await.map_err(opened)?;
    let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .map_err(opened)?;
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .map_err(opened)?;
    let has_migrations: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(opened)?;
    let applied_migration: i64 = if has_migrations > 0 {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut *conn)
            .await
            .map_err(opened)?
    } else {
        0
    };
    let writable = match conn.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx.rollback().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    drop(conn);
    pool.close().await;
    Ok(Some(DatabaseFacts {
        journal_mode: journal_mode.to_lowercase(),
        synchronous,
        applied_migration,
        latest_migration: latest_migration(),
        writable,
        free_bytes: file.parent().and_then(free_bytes),
    }))
}

/// Bytes available to an unprivileged user on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid NUL-terminated string and `stat` is written by statvfs
    // before it is read, only when it returns 0.
    let stat = unsafe {
        if libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return None;
        }
        stat.assume_init()
    };
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    Some(stat.f_bavail as u64 * stat.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_migrated_database_is_current_wal_full_and_writable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("h.db").display());
        assert!(facts(&url).await.expect("no file is no error").is_none());
        super::super::Store::open(&url)
            .await
            .expect("opens")
            .close()
            .await;
        let facts = facts(&url).await.expect("reads").expect("exists");
        assert_eq!(facts.journal_mode, "wal");
        assert_eq!(facts.synchronous, 2);
        assert_eq!(facts.applied_migration, facts.latest_migration);
        assert!(facts.latest_migration >= 12);
        assert_eq!(facts.writable, Ok(()));
        assert!(facts.free_bytes.is_some_and(|b| b > 0));
    }
}
