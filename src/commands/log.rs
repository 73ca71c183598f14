//! `herald log`: prints the matching audit entries, oldest first (the line format is in the
//! help text of `cli::Command::Log`). Exit code 0 (also when nothing matches), 2 when the
//! database is missing or unreadable.

use std::io::Write;
use std::process::ExitCode;

use super::global;
use crate::cli::{GlobalOptions, LogArgs};
use crate::store::audit::{self, AuditFilter, AuditRow};

/// Runs `herald log` and prints the entries.
pub async fn execute(global: &GlobalOptions, args: &LogArgs) -> ExitCode {
    let url = global::db_url(global);
    // Opening would create an empty database; a typo in --db or --config should not.
    let file = std::str::FromStr::from_str(&url)
        .ok()
        .filter(|_| !url.contains(":memory:") && !url.contains("mode=memory"))
        .map(|options: sqlx::sqlite::SqliteConnectOptions| options.get_filename().to_owned());
    if let Some(file) = file.filter(|file| !file.exists()) {
        eprintln!("herald log: no database at {}", file.display());
        return ExitCode::from(2);
    }
    let store = match crate::store::Store::open(&url).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("herald log: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = AuditFilter {
        since: args
            .since
            .map(|since| since.resolve(global::clock(global).now())),
        bot: args.bot.as_deref().map(str::to_ascii_lowercase),
        job: args.job.clone(),
        user: args.user,
        // One more than asked, to tell whether older entries were left out.
        limit: Some(args.limit.saturating_add(1)),
    };
    let result = audit::query(store.pool(), &filter).await;
    store.close().await;
    let mut rows: Vec<AuditRow> = match result {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("herald log: cannot read the audit log: {e}");
            return ExitCode::from(2);
        }
    };
    let truncated = rows.len() as i64 > args.limit;
    if truncated {
        rows.remove(0);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for row in &rows {
        let line = if args.json {
            serde_json::to_string(row).expect("an audit row is plain strings and numbers")
        } else {
            row.line()
        };
        // A closed pipe (`herald log | head`) ends the listing quietly.
        if writeln!(out, "{line}").is_err() {
            return ExitCode::SUCCESS;
        }
    }
    // The same here; the notes below go to stderr, which is still open.
    if let Err(e) = out.flush() {
        tracing::debug!(error = %e, "stdout closed before the audit listing was flushed");
    }
    if rows.is_empty() && !args.json {
        eprintln!("no audit entries match");
    }
    if truncated {
        eprintln!(
            "herald log: only the newest {} matching entries are shown; use --limit or --since for more",
            args.limit
        );
    }
    ExitCode::SUCCESS
}
