//! The database refuses a row written as a bot that does not exist: every table with a `bot`
//! column has a CHECK listing exactly the identities' names (migration 0010), and that
//! migration keeps every row, index, foreign key and AUTOINCREMENT counter of a database made
//! by the migrations before it.

use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::SqlitePool;

use herald::identity::IDENTITY_NAMES;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A plain connection to the database file at `dir/t.db`, foreign keys on (as herald's).
async fn raw(dir: &Path) -> SqlitePool {
    let options = SqliteConnectOptions::from_str(&url(dir))
        .expect("database URL")
        .create_if_missing(true)
        .foreign_keys(true);
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("database opens")
}

fn url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("t.db").display())
}

/// A database migrated by herald (every migration).
async fn migrated() -> (tempfile::TempDir, SqlitePool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = herald::store::Store::open(&url(dir.path()))
        .await
        .expect("store opens");
    store.close().await;
    let pool = raw(dir.path()).await;
    (dir, pool)
}

/// Every table with a `bot` column.
async fn tables_with_bot(pool: &SqlitePool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT m.name FROM sqlite_master m
         WHERE m.type = 'table'
           AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) c WHERE c.name = 'bot')
         ORDER BY m.name",
    )
    .fetch_all(pool)
    .await
    .expect("schema readable")
}

/// The names a table's CHECK on `bot` allows, from its SQL.
fn checked_names(sql: &str) -> Option<BTreeSet<String>> {
    let start = sql.find("bot IN (")? + "bot IN (".len();
    let list = &sql[start..start + sql[start..].find(')')?];
    Some(
        list.split(',')
            .map(|name| name.trim().trim_matches('\'').to_owned())
            .collect(),
    )
}

#[tokio::test]
async fn every_identity_name_passes_every_bot_check() {
    let (_dir, pool) = migrated().await;
    let tables = tables_with_bot(&pool).await;
    assert!(
        tables.len() >= 9,
        "outbox, audit and the other bot tables: {tables:?}"
    );
    let names: BTreeSet<String> = IDENTITY_NAMES.iter().map(|n| n.to_string()).collect();
    for table in &tables {
        let sql: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = ?")
            .bind(table)
            .fetch_one(&pool)
            .await
            .expect("table SQL");
        assert_eq!(
            checked_names(&sql).as_ref(),
            Some(&names),
            "{table}: the CHECK on bot must list exactly the identities (a new identity needs a \
             migration rebuilding it): {sql}"
        );
    }
}

#[tokio::test]
async fn a_row_as_an_unknown_bot_is_refused_and_a_known_one_accepted() {
    let (_dir, pool) = migrated().await;
    let outbox = "INSERT INTO outbox (bot, kind, lane, chat_id, text, created_at, updated_at)
                  VALUES (?, 'send', 0, 1, 'hello', 't', 't')";
    for bot in ["nobody", "Claudia", "claudia ", ""] {
        let refused = sqlx::query(outbox).bind(bot).execute(&pool).await;
        let message = refused.expect_err(bot).to_string();
        assert!(
            message.contains("CHECK constraint failed"),
            "{bot:?}: {message}"
        );
    }
    for bot in IDENTITY_NAMES {
        sqlx::query(outbox)
            .bind(bot)
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{bot}: {e}"));
    }
    let refused = sqlx::query(
        "INSERT INTO job_slots (job, slot, bot, trigger, state, claimed_at)
         VALUES ('pulse', 's', 'nobody', 'schedule', 'running', 't')",
    )
    .execute(&pool)
    .await;
    assert!(refused.is_err(), "job_slots refuses an unknown bot");
    // An audit entry about no bot in particular keeps a NULL bot; a named one must exist.
    let audit = "INSERT INTO audit (at, kind, bot, decision) VALUES ('t', 'boot', ?, 'started')";
    sqlx::query(audit)
        .bind(None::<String>)
        .execute(&pool)
        .await
        .expect("no bot");
    assert!(sqlx::query(audit)
        .bind("herald")
        .execute(&pool)
        .await
        .is_err());
}

/// A deterministic text of every row of `table` (ordered by rowid).
async fn columns(pool: &SqlitePool, table: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("columns")
}

/// The rows of `table`, each as its `columns` quoted and joined.
async fn dump(pool: &SqlitePool, table: &str, columns: &[String]) -> Vec<String> {
    let quoted: Vec<String> = columns.iter().map(|c| format!("quote(\"{c}\")")).collect();
    let sql = format!(
        "SELECT {} FROM \"{table}\" ORDER BY rowid",
        quoted.join(" || '|' || ")
    );
    sqlx::query_scalar(&sql)
        .fetch_all(pool)
        .await
        .expect("rows")
}

async fn schema_objects(pool: &SqlitePool, kind: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .bind(kind)
    .fetch_all(pool)
    .await
    .expect("schema")
}

#[tokio::test]
async fn the_bot_check_migration_keeps_rows_indexes_foreign_keys_and_counters() {
    // A database as the migrations before 0010 left it.
    let dir = tempfile::tempdir().expect("tempdir");
    let before = dir.path().join("before");
    std::fs::create_dir(&before).expect("dir");
    for entry in std::fs::read_dir(Path::new(REPO).join("migrations")).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name < "0010" {
            std::fs::copy(&path, before.join(name)).expect("copy");
        }
    }
    let pool = raw(dir.path()).await;
    sqlx::migrate::Migrator::new(before.as_path())
        .await
        .expect("migrations")
        .run(&pool)
        .await
        .expect("migrations up to 0009 apply");
    let seed = [
        "INSERT INTO outbox (bot, kind, lane, chat_id, thread_id, text, job, slot, part, state,
             attempts, error, created_at, updated_at, not_before)
         VALUES ('clawrence', 'send', 1, -100, 7, 'pulse', 'team-pulse', 's1', 0, 'ambiguous', 1,
                 'timeout', 't1', 't2', NULL),
                ('lawrence', 'send', 0, 42, NULL, 'unsure DM', NULL, NULL, 0, 'pending', 0, NULL,
                 't1', 't1', 't9'),
                ('claudia', 'answer_callback', 0, 0, NULL, 'ok', NULL, NULL, 0, 'sent', 1, NULL,
                 't1', 't1', NULL),
                ('happy', 'send', 2, 5, NULL, 'gone', NULL, NULL, 0, 'sent', 1, NULL, 't', 't', NULL)",
        // The highest ids were pruned: the counter stays above them.
        "DELETE FROM outbox WHERE text = 'gone'",
        "INSERT INTO ambiguous_groups (bot, created_at, notify_at) VALUES ('clawrence', 't', 't')",
        "INSERT INTO ambiguous_group_rows (group_id, outbox_id) VALUES (1, 1)",
        "INSERT INTO ambiguous_group_alerts (group_id, outbox_id) VALUES (1, 2)",
        "INSERT INTO processed_updates (bot, update_id, handled_at, outcome)
         VALUES ('claudia', 10, 't', 'failed')",
        "INSERT INTO poll_offsets (bot, next_offset) VALUES ('claudia', 11)",
        "INSERT INTO audit (at, kind, bot, decision, detail)
         VALUES ('t', 'boot', NULL, 'started', NULL), ('t', 'outbox', 'clawrence', 'enqueued', 'row 1')",
        "INSERT INTO bot_status (bot, username, bot_user_id, can_read_all_group_messages,
             verified_at, commands_digest)
         VALUES ('pakgupei', 'pakgupei_bot', 7, 0, 't', 'abc')",
        "INSERT INTO job_slots (job, slot, bot, trigger, state, claimed_at, overdue_told)
         VALUES ('team-pulse', 's1', 'clawrence', 'schedule', 'done', 't', 1)",
        "INSERT INTO command_windows (bot, user_id, window_start, commands)
         VALUES ('gymbooker', 5, 't', 3)",
        "INSERT INTO fault_counts (bot, kind, occurrences, first_at, last_at, held_back)
         VALUES ('claims', 'handler', 2, 't', 't', 1)",
    ];
    for sql in seed {
        sqlx::query(sql)
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"));
    }
    let tables = schema_objects(&pool, "table").await;
    let indexes = schema_objects(&pool, "index").await;
    let mut rows = Vec::new();
    for table in &tables {
        let columns = columns(&pool, table).await;
        rows.push((dump(&pool, table, &columns).await, columns));
    }
    let outbox_counter: i64 =
        sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")
            .fetch_one(&pool)
            .await
            .expect("counter");
    assert_eq!(outbox_counter, 4);
    pool.close().await;

    // herald opens it: 0010 runs.
    herald::store::Store::open(&url(dir.path()))
        .await
        .expect("the migration applies")
        .close()
        .await;

    let pool = raw(dir.path()).await;
    // Tables of later migrations (0011: job_once, leave_snapshots; 0012:
    // capability_snapshots; 0014: claims, claim_decisions and their indexes; 0016:
    // gym_bookings) are new; every
    // older one is still there, with its indexes and rows (columns added later, such as
    // 0015's outbox columns, are left out of the comparison).
    let later = [
        "job_once",
        "leave_snapshots",
        "capability_snapshots",
        "claims",
        "claim_decisions",
        "claims_member",
        "claims_decided",
        "gym_bookings",
    ];
    let without_later = |names: Vec<String>| -> Vec<String> {
        names
            .into_iter()
            .filter(|t| !later.contains(&t.as_str()))
            .collect()
    };
    assert_eq!(without_later(schema_objects(&pool, "table").await), tables);
    assert_eq!(without_later(schema_objects(&pool, "index").await), indexes);
    for (table, (before, columns)) in tables.iter().zip(&rows) {
        if table == "_sqlx_migrations" {
            continue;
        }
        assert_eq!(&dump(&pool, table, columns).await, before, "{table}");
    }
    let broken: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
        .fetch_all(&pool)
        .await
        .expect("foreign key check");
    assert!(broken.is_empty(), "{broken:?}");
    // The counter still stands above the pruned row: a new row gets id 5, not 4.
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (bot, kind, lane, chat_id, text, created_at, updated_at)
         VALUES ('happy', 'send', 2, 5, 'new', 't', 't') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("insert");
    assert_eq!(id, 5);
    // The foreign keys still cascade: deleting an outbox row takes its group membership.
    sqlx::query("DELETE FROM outbox WHERE id = 1")
        .execute(&pool)
        .await
        .expect("delete");
    let members: i64 = sqlx::query_scalar("SELECT count(*) FROM ambiguous_group_rows")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(members, 0);
    // And the new CHECK holds on the rebuilt table.
    assert!(sqlx::query(
        "INSERT INTO outbox (bot, kind, lane, chat_id, text, created_at, updated_at)
         VALUES ('nobody', 'send', 2, 5, 'x', 't', 't')"
    )
    .execute(&pool)
    .await
    .is_err());
}
