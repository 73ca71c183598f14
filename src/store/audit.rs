//! The append-only audit log: everything the operator would ask "what did it do?" about.
//! Entries are written inside the transaction of the change they record.

use chrono::{DateTime, Utc};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};

/// One audit entry. `kind` groups entries (`inbound`, `outbox`, `boot`, `config`, ...);
/// `decision` says what herald did and why, in a few words.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    pub kind: &'static str,
    pub bot: Option<String>,
    pub job: Option<String>,
    pub user_id: Option<i64>,
    pub chat_id: Option<i64>,
    pub thread_id: Option<i32>,
    pub command: Option<String>,
    pub decision: String,
    pub detail: Option<String>,
}

impl AuditEntry {
    pub fn new(kind: &'static str, decision: impl Into<String>) -> Self {
        Self {
            kind,
            decision: decision.into(),
            ..Self::default()
        }
    }

    pub fn bot(mut self, bot: &str) -> Self {
        self.bot = Some(bot.to_owned());
        self
    }

    pub fn job(mut self, job: &str) -> Self {
        self.job = Some(job.to_owned());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// Appends `entry` and returns its sequence number.
pub async fn record(
    conn: &mut SqliteConnection,
    at: DateTime<Utc>,
    entry: &AuditEntry,
) -> Result<i64, sqlx::Error> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO audit (at, kind, bot, job, user_id, chat_id, thread_id, command, decision, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
    )
    .bind(at.to_rfc3339())
    .bind(entry.kind)
    .bind(&entry.bot)
    .bind(&entry.job)
    .bind(entry.user_id)
    .bind(entry.chat_id)
    .bind(entry.thread_id)
    .bind(&entry.command)
    .bind(&entry.decision)
    .bind(&entry.detail)
    .fetch_one(conn)
    .await?;
    Ok(seq)
}

/// A stored audit entry, as read back.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: String,
    pub kind: String,
    pub bot: Option<String>,
    pub job: Option<String>,
    pub user_id: Option<i64>,
    pub chat_id: Option<i64>,
    pub thread_id: Option<i64>,
    pub command: Option<String>,
    pub decision: String,
    pub detail: Option<String>,
}

impl AuditRow {
    /// The entry as one line of `herald log`:
    /// `#SEQ AT KIND [BOT] [job=JOB] [user=ID] [chat=ID] [thread=ID] [cmd=COMMAND]: DECISION [(DETAIL)]`,
    /// the bracketed parts only when set, control characters escaped (`\n`) so that an entry
    /// never spans lines.
    pub fn line(&self) -> String {
        use std::fmt::Write;

        fn clean(text: &str) -> String {
            text.chars()
                .map(|c| match c {
                    c if c.is_control() => c.escape_default().to_string(),
                    c => c.to_string(),
                })
                .collect()
        }
        let mut line = format!("#{} {} {}", self.seq, clean(&self.at), clean(&self.kind));
        if let Some(bot) = &self.bot {
            let _ = write!(line, " {}", clean(bot));
        }
        if let Some(job) = &self.job {
            let _ = write!(line, " job={}", clean(job));
        }
        if let Some(user) = self.user_id {
            let _ = write!(line, " user={user}");
        }
        if let Some(chat) = self.chat_id {
            let _ = write!(line, " chat={chat}");
        }
        if let Some(thread) = self.thread_id {
            let _ = write!(line, " thread={thread}");
        }
        if let Some(command) = &self.command {
            let _ = write!(line, " cmd={}", clean(command));
        }
        let _ = write!(line, ": {}", clean(&self.decision));
        if let Some(detail) = &self.detail {
            let _ = write!(line, " ({})", clean(detail));
        }
        line
    }
}

/// Which entries [`query`] returns. Every field that is set must match; the default matches
/// every entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only entries recorded at or after this instant.
    pub since: Option<DateTime<Utc>>,
    pub bot: Option<String>,
    pub job: Option<String>,
    pub user: Option<i64>,
    /// Only the newest `limit` matching entries (by `seq`); `Some(0)` or less matches nothing.
    pub limit: Option<i64>,
}

/// The entries matching `filter`, oldest first (by `seq`). With a `limit`, the newest `limit`
/// of them, still oldest first.
///
/// `since` is compared as text against the `at` column. That is exact because every entry is
/// written by [`record`] with `at.to_rfc3339()` of a UTC instant, and `since` is formatted the
/// same way: the offset is always `+00:00`, and the fractional seconds are either absent or
/// 3, 6 or 9 digits with trailing zeros dropped to the shortest of those, so `+` (which sorts
/// before every digit and before `.`) ends a shorter reading exactly where a longer one is
/// later in time.
pub async fn query(
    pool: &sqlx::SqlitePool,
    filter: &AuditFilter,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    query_conn(&mut conn, filter).await
}

/// [`query`] on one connection, e.g. inside the transaction of a console command.
pub async fn query_conn(
    conn: &mut SqliteConnection,
    filter: &AuditFilter,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    let mut sql = query_sql(filter);
    let mut rows: Vec<AuditRow> = sql.build_query_as().fetch_all(conn).await?;
    rows.reverse();
    Ok(rows)
}

/// The SELECT of [`query`], newest first.
fn query_sql(filter: &AuditFilter) -> QueryBuilder<'static, Sqlite> {
    let mut sql = QueryBuilder::new("SELECT * FROM audit WHERE 1 = 1");
    if let Some(since) = filter.since {
        sql.push(" AND at >= ").push_bind(since.to_rfc3339());
    }
    if let Some(bot) = &filter.bot {
        sql.push(" AND bot = ").push_bind(bot.clone());
    }
    if let Some(job) = &filter.job {
        sql.push(" AND job = ").push_bind(job.clone());
    }
    if let Some(user) = filter.user {
        sql.push(" AND user_id = ").push_bind(user);
    }
    sql.push(" ORDER BY seq DESC");
    if let Some(limit) = filter.limit {
        // SQLite reads a negative LIMIT as "no limit".
        sql.push(" LIMIT ").push_bind(limit.max(0));
    }
    sql
}

/// Deletes the entries recorded more than `keep_days` days before `now` and returns how many
/// it deleted. When it deleted any, it records one entry (kind `audit`, decision `pruned N
/// entries older than D days`, detail the cutoff instant) in the same transaction; when there
/// was nothing to delete it records nothing, so a daily run on a young deployment stays quiet.
///
/// Only a prefix of the log is removed: the entries before the first (lowest `seq`) entry
/// that is still young. The remaining sequence numbers therefore stay contiguous, starting
/// just after the last pruned one. `at` normally grows with `seq`, but a rehearsal clock
/// (`--clock-start`) or concurrent writers can record an older `at` after a younger one; such
/// an entry is kept until everything before it has aged out too. `seq` is AUTOINCREMENT, so
/// a pruned number is never handed out again, even when every entry was pruned.
///
/// Runs in a savepoint when `conn` is already in a transaction (e.g. from
/// [`crate::store::Store::begin_write`]), otherwise in a transaction of its own.
pub async fn prune(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
    keep_days: u32,
) -> Result<u64, sqlx::Error> {
    let Some(cutoff) = now.checked_sub_signed(chrono::Duration::days(i64::from(keep_days))) else {
        return Ok(0); // before the start of time: nothing can be that old
    };
    let cutoff = cutoff.to_rfc3339();
    let mut tx = conn.begin().await?;
    let deleted = sqlx::query(
        "DELETE FROM audit WHERE at < ?1
           AND seq < coalesce((SELECT min(seq) FROM audit WHERE at >= ?1), 9223372036854775807)",
    )
    .bind(&cutoff)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if deleted > 0 {
        let entry = AuditEntry::new(
            "audit",
            format!("pruned {deleted} entries older than {keep_days} days"),
        )
        .detail(cutoff);
        record(&mut tx, now, &entry).await?;
    }
    tx.commit().await?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("audit.db").display());
        let store = Store::open(&url).await.expect("store opens");
        (dir, store)
    }

    /// Records `entries` in one transaction, in order.
    async fn seed(store: &Store, entries: &[(&str, AuditEntry)]) {
        let mut tx = store.begin_write().await.unwrap();
        for (at, entry) in entries {
            record(&mut tx, t(at), entry).await.unwrap();
        }
        tx.commit().await.unwrap();
    }

    fn entry(bot: &str, job: Option<&str>, user: Option<i64>, decision: &str) -> AuditEntry {
        AuditEntry {
            job: job.map(str::to_owned),
            user_id: user,
            ..AuditEntry::new("test", decision).bot(bot)
        }
    }

    fn decisions(rows: &[AuditRow]) -> Vec<&str> {
        rows.iter().map(|r| r.decision.as_str()).collect()
    }

    async fn sample() -> (tempfile::TempDir, Store) {
        let (dir, store) = store().await;
        seed(
            &store,
            &[
                (
                    "2026-11-20T09:00:00Z",
                    entry("clawrence", Some("team-pulse"), None, "a"),
                ),
                (
                    "2026-11-21T09:00:00Z",
                    entry("lawrence", None, Some(7), "b"),
                ),
                (
                    "2026-11-22T09:00:00Z",
                    entry("clawrence", None, Some(7), "c"),
                ),
                (
                    "2026-11-23T01:00:00Z",
                    entry("clawrence", Some("team-pulse"), Some(8), "d"),
                ),
                (
                    "2026-11-23T01:45:00Z",
                    entry("pakgupei", Some("weekly-call-reminder"), None, "e"),
                ),
            ],
        )
        .await;
        (dir, store)
    }

    #[tokio::test]
    async fn query_applies_every_filter_oldest_first() {
        let (_dir, store) = sample().await;
        let pool = store.pool();
        let all = query(pool, &AuditFilter::default()).await.unwrap();
        assert_eq!(decisions(&all), ["a", "b", "c", "d", "e"]);
        assert_eq!(
            all.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(all[0].at, "2026-11-20T09:00:00+00:00");
        assert_eq!(all[0].job.as_deref(), Some("team-pulse"));

        let by_bot = AuditFilter {
            bot: Some("clawrence".into()),
            ..AuditFilter::default()
        };
        assert_eq!(
            decisions(&query(pool, &by_bot).await.unwrap()),
            ["a", "c", "d"]
        );
        let by_job = AuditFilter {
            job: Some("team-pulse".into()),
            ..AuditFilter::default()
        };
        assert_eq!(decisions(&query(pool, &by_job).await.unwrap()), ["a", "d"]);
        let by_user = AuditFilter {
            user: Some(7),
            ..AuditFilter::default()
        };
        assert_eq!(decisions(&query(pool, &by_user).await.unwrap()), ["b", "c"]);
        let mut conn = pool.acquire().await.unwrap();
        assert_eq!(
            decisions(&query_conn(&mut conn, &by_user).await.unwrap()),
            ["b", "c"]
        );
        let combined = AuditFilter {
            bot: Some("clawrence".into()),
            user: Some(7),
            since: Some(t("2026-11-21T00:00:00Z")),
            ..AuditFilter::default()
        };
        assert_eq!(decisions(&query(pool, &combined).await.unwrap()), ["c"]);
        let nobody = AuditFilter {
            bot: Some("nobody".into()),
            ..AuditFilter::default()
        };
        assert!(query(pool, &nobody).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_row_prints_as_one_line_with_only_the_fields_set() {
        let (_dir, store) = store().await;
        let full = AuditEntry {
            job: Some("team-pulse".into()),
            user_id: Some(123),
            chat_id: Some(-1001234),
            thread_id: Some(39),
            command: Some("help".into()),
            ..AuditEntry::new("outbox", "pending -> sending")
                .bot("clawrence")
                .detail("row 4")
        };
        let bare = AuditEntry::new("boot", "started\nagain").detail("a\tb\r\n");
        seed(
            &store,
            &[
                ("2026-11-23T01:00:00Z", full),
                ("2026-11-23T01:00:00.25Z", bare),
            ],
        )
        .await;
        let mut conn = store.pool().acquire().await.unwrap();
        let rows = query_conn(&mut conn, &AuditFilter::default())
            .await
            .unwrap();
        let lines: Vec<String> = rows.iter().map(AuditRow::line).collect();
        assert_eq!(
            lines,
            [
                "#1 2026-11-23T01:00:00+00:00 outbox clawrence job=team-pulse user=123 chat=-1001234 thread=39 cmd=help: pending -> sending (row 4)",
                "#2 2026-11-23T01:00:00.250+00:00 boot: started\\nagain (a\\tb\\r\\n)",
            ]
        );
    }

    #[tokio::test]
    async fn limit_keeps_the_newest_matching_entries_oldest_first() {
        let (_dir, store) = sample().await;
        let pool = store.pool();
        let filter = |limit, bot: Option<&str>| AuditFilter {
            limit: Some(limit),
            bot: bot.map(str::to_owned),
            ..AuditFilter::default()
        };
        assert_eq!(
            decisions(&query(pool, &filter(2, None)).await.unwrap()),
            ["d", "e"]
        );
        assert_eq!(
            decisions(&query(pool, &filter(2, Some("clawrence"))).await.unwrap()),
            ["c", "d"]
        );
        assert_eq!(
            decisions(&query(pool, &filter(99, None)).await.unwrap()),
            ["a", "b", "c", "d", "e"]
        );
        assert!(query(pool, &filter(0, None)).await.unwrap().is_empty());
        assert!(query(pool, &filter(-1, None)).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn since_compares_instants_across_fractional_seconds() {
        let (_dir, store) = store().await;
        // As written by `record`: whole seconds have no fraction, others 3, 6 or 9 digits.
        let instants = [
            "2026-11-23T00:59:59.999999999Z",
            "2026-11-23T01:00:00Z",
            "2026-11-23T01:00:00.000001Z",
            "2026-11-23T01:00:00.001Z",
            "2026-11-23T01:00:00.1Z",
            "2026-11-23T01:00:00.100000001Z",
            "2026-11-23T01:00:00.5Z",
            "2026-11-23T01:00:01Z",
            "2026-11-23T01:00:10Z",
            "2026-11-24T00:00:00Z",
        ];
        let entries: Vec<_> = instants
            .iter()
            .map(|at| (*at, AuditEntry::new("test", *at)))
            .collect();
        seed(&store, &entries).await;
        let stored = query(store.pool(), &AuditFilter::default()).await.unwrap();
        assert_eq!(stored[0].at, "2026-11-23T00:59:59.999999999+00:00");
        assert_eq!(stored[1].at, "2026-11-23T01:00:00+00:00");
        assert_eq!(stored[4].at, "2026-11-23T01:00:00.100+00:00");
        // Every instant as `since`, and a few in between, against the instant order.
        let mut probes: Vec<DateTime<Utc>> = instants.iter().map(|s| t(s)).collect();
        probes.extend(
            [
                "2026-11-22T00:00:00Z",
                "2026-11-23T00:59:59Z",
                "2026-11-23T01:00:00.0000005Z",
                "2026-11-23T01:00:00.05Z",
                "2026-11-23T01:00:00.10000000Z",
                "2026-11-23T01:00:00.999Z",
                "2026-11-23T01:00:02Z",
                "2026-11-23T09:00:00+08:00", // = 01:00:00Z
                "2026-11-25T00:00:00Z",
            ]
            .map(t),
        );
        for since in probes {
            let filter = AuditFilter {
                since: Some(since),
                ..AuditFilter::default()
            };
            let got = decisions(&query(store.pool(), &filter).await.unwrap())
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>();
            let want: Vec<String> = instants
                .iter()
                .filter(|s| t(s) >= since)
                .map(|s| s.to_string())
                .collect();
            assert_eq!(got, want, "since {since:?}");
        }
    }

    #[tokio::test]
    async fn prune_removes_old_entries_and_records_one_entry() {
        let (_dir, store) = sample().await;
        let now = t("2026-11-23T12:00:00Z");
        let mut tx = store.begin_write().await.unwrap();
        // Keeps 2 days: everything before 2026-11-21T12:00 goes (a, b).
        let pruned = prune(&mut tx, now, 2).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(pruned, 2);
        let rows = query(store.pool(), &AuditFilter::default()).await.unwrap();
        assert_eq!(
            decisions(&rows),
            ["c", "d", "e", "pruned 2 entries older than 2 days"]
        );
        assert_eq!(
            rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [3, 4, 5, 6],
            "contiguous, and no pruned number reused"
        );
        let last = rows.last().unwrap();
        assert_eq!(last.kind, "audit");
        assert_eq!(last.at, "2026-11-23T12:00:00+00:00");
        assert_eq!(last.detail.as_deref(), Some("2026-11-21T12:00:00+00:00"));
        assert_eq!(last.bot, None);

        // Pruning again deletes and records nothing.
        let mut conn = store.pool().acquire().await.unwrap();
        assert_eq!(prune(&mut conn, now, 2).await.unwrap(), 0);
        assert_eq!(
            query(store.pool(), &AuditFilter::default())
                .await
                .unwrap()
                .len(),
            4
        );

        // Pruning everything still never reuses a sequence number.
        let later = t("2027-01-01T00:00:00Z");
        assert_eq!(prune(&mut conn, later, 0).await.unwrap(), 4);
        let rows = query(store.pool(), &AuditFilter::default()).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].seq, 7);
        assert_eq!(rows[0].decision, "pruned 4 entries older than 0 days");
    }

    #[tokio::test]
    async fn prune_on_a_young_log_is_quiet() {
        let (_dir, store) = sample().await;
        let mut conn = store.pool().acquire().await.unwrap();
        let now = t("2026-11-23T12:00:00Z");
        assert_eq!(prune(&mut conn, now, 90).await.unwrap(), 0);
        assert_eq!(prune(&mut conn, now, u32::MAX).await.unwrap(), 0);
        let rows = query(store.pool(), &AuditFilter::default()).await.unwrap();
        assert_eq!(decisions(&rows), ["a", "b", "c", "d", "e"]);
    }

    #[tokio::test]
    async fn prune_removes_only_a_prefix_when_times_go_backwards() {
        let (_dir, store) = store().await;
        seed(
            &store,
            &[
                ("2026-01-01T00:00:00Z", AuditEntry::new("test", "old 1")),
                ("2026-11-23T00:00:00Z", AuditEntry::new("test", "young")),
                // e.g. written by a rehearsal with --clock-start in the past
                ("2026-01-02T00:00:00Z", AuditEntry::new("test", "old 2")),
            ],
        )
        .await;
        let mut conn = store.pool().acquire().await.unwrap();
        let now = t("2026-11-23T12:00:00Z");
        assert_eq!(prune(&mut conn, now, 30).await.unwrap(), 1);
        let rows = query(store.pool(), &AuditFilter::default()).await.unwrap();
        assert_eq!(
            decisions(&rows),
            ["young", "old 2", "pruned 1 entries older than 30 days"]
        );
        assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3, 4]);
    }

    #[tokio::test]
    async fn a_failed_transaction_rolls_the_prune_back() {
        let (_dir, store) = sample().await;
        let now = t("2026-11-23T12:00:00Z");
        let mut tx = store.begin_write().await.unwrap();
        assert_eq!(prune(&mut tx, now, 2).await.unwrap(), 2);
        tx.rollback().await.unwrap();
        let rows = query(store.pool(), &AuditFilter::default()).await.unwrap();
        assert_eq!(decisions(&rows), ["a", "b", "c", "d", "e"]);
    }
}
