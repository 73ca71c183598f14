//! The database probe: it exists (or `herald run` will create it), takes a write lock, runs
//! in WAL mode with `synchronous=FULL`, has this binary's migrations, and has disk left.

use tokio::time::Instant;

use super::Check;
use crate::store::health::{facts, DatabaseFacts};

/// Below this much free disk the database is BROKEN (a write may fail any moment)...
const FREE_BROKEN: u64 = 100 * 1024 * 1024;
/// ...and below this, DEGRADED.
const FREE_DEGRADED: u64 = 1024 * 1024 * 1024;

/// The database checks for `url`.
pub async fn database(url: &str, deadline: Instant) -> Vec<Check> {
    let found = match tokio::time::timeout_at(deadline, facts(url)).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            return vec![Check::broken(
                "database: open",
                e.to_string(),
                "check the path and permissions of --db (default state/herald.db)",
            )]
        }
        Err(_) => {
            return vec![Check::broken(
                "database: open",
                "no answer in time",
                "look for a process holding the database (`herald log` still reads it)",
            )]
        }
    };
    match found {
        None => vec![Check::degraded(
            "database: open",
            "no database yet",
            "`herald run` creates it at its first start",
        )],
        Some(facts) => checks(&facts),
    }
}

fn checks(facts: &DatabaseFacts) -> Vec<Check> {
    let mut checks = vec![Check::ok("database: open", "opened")];
    checks.push(match &facts.writable {
        Ok(()) => Check::ok("database: writable", "took the write lock"),
        Err(cause) => Check::broken(
            "database: writable",
            cause.clone(),
            "check the file's permissions and the disk (`herald log` still reads it)",
        ),
    });
    checks.push(if facts.journal_mode == "wal" {
        Check::ok("database: WAL", "journal_mode=wal")
    } else {
        Check::broken(
            "database: WAL",
            format!("journal_mode={}", facts.journal_mode),
            "keep the database on a local file system (WAL does not work over NFS or SMB)",
        )
    });
    checks.push(if facts.synchronous == 2 {
        Check::ok("database: synchronous=FULL", "synchronous=2")
    } else {
        Check::broken(
            "database: synchronous=FULL",
            format!("synchronous={}", facts.synchronous),
            "report this: herald opens every connection with synchronous=FULL",
        )
    });
    let (applied, latest) = (facts.applied_migration, facts.latest_migration);
    checks.push(if applied == latest {
        Check::ok("database: migrations", format!("current ({latest})"))
    } else if applied < latest {
        Check::degraded(
            "database: migrations",
            format!("at {applied}, this binary has {latest}"),
            "the next `herald run` applies them",
        )
    } else {
        Check::broken(
            "database: migrations",
            format!("at {applied}, newer than this binary's {latest}"),
            "run the herald that wrote it, or upgrade this one",
        )
    });
    let mib = |bytes: u64| bytes / (1024 * 1024);
    checks.push(match facts.free_bytes {
        None => Check::degraded(
            "database: free disk",
            "could not read the free space",
            "check the disk by hand (df)",
        ),
        Some(free) if free < FREE_BROKEN => Check::broken(
            "database: free disk",
            format!("{} MiB free", mib(free)),
            "free disk space beside the database",
        ),
        Some(free) if free < FREE_DEGRADED => Check::degraded(
            "database: free disk",
            format!("{} MiB free", mib(free)),
            "free disk space beside the database",
        ),
        Some(free) => Check::ok("database: free disk", format!("{} MiB free", mib(free))),
    });
    checks
}
