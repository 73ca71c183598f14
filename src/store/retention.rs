//! Bounded storage: the daily prune that keeps the database from growing with traffic.
//!
//! Everything herald writes per event is pruned once it has settled and aged past the
//! retention (`audit_retention_days`, default 90):
//! - the audit log (a gap-free prefix, see [`super::audit::prune`]);
//! - `processed_updates` (replay protection: Telegram keeps an unconfirmed update for 24 hours
//!   at most, and the offset in `poll_offsets` is kept, so an old mark protects nothing);
//! - `job_slots` that are decided (`done`, `failed`, `missed`, `paused`): the job's cursor is
//!   past them, so they are never looked at again; a `running` slot is kept;
//! - outbox rows that are settled: `sent`, and `cancelled` (what a dismissal or a cancel
//!   leaves). `pending`, `sending`, `ambiguous` and `failed` rows are kept whatever their age:
//!   each still waits on a send or on an operator's decision;
//! - `job_once`: every key names its day (a pulse's day, a birthday), so an old claim guards
//!   nothing.
//!
//! - `capability_snapshots` (audits) except the newest, which the next audit compares with.
//!
//! One transaction; the audit log records what was pruned, one entry per table that lost rows.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::audit::{self, AuditEntry};
use super::slots::SlotState;
use super::time_key;

/// How many rows one prune removed, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub audit: u64,
    pub processed_updates: u64,
    pub job_slots: u64,
    pub outbox: u64,
    pub job_once: u64,
    pub capability_snapshots: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.audit
            + self.processed_updates
            + self.job_slots
            + self.outbox
            + self.job_once
            + self.capability_snapshots
    }
}

/// Deletes what settled more than `keep_days` days before `now` (see the module docs).
pub async fn prune(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
    keep_days: u32,
) -> Result<Pruned, sqlx::Error> {
    let Some(cutoff) = now.checked_sub_signed(chrono::Duration::days(i64::from(keep_days))) else {
        return Ok(Pruned::default());
    };
    // Columns written with `to_rfc3339` ("+00:00") and with `time_key` ("Z") each compare
    // against a cutoff in their own format, as text.
    let rfc3339 = cutoff.to_rfc3339();
    let key = time_key(cutoff);
    let mut pruned = Pruned {
        audit: audit::prune(&mut *conn, now, keep_days).await?,
        ..Pruned::default()
    };
    pruned.processed_updates = sqlx::query("DELETE FROM processed_updates WHERE handled_at < ?")
        .bind(&rfc3339)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    pruned.job_slots =
        sqlx::query("DELETE FROM job_slots WHERE slot < ? AND state IN (?, ?, ?, ?)")
            .bind(&key)
            .bind(SlotState::Done)
            .bind(SlotState::Failed)
            .bind(SlotState::Missed)
            .bind(SlotState::Paused)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    pruned.outbox =
        sqlx::query("DELETE FROM outbox WHERE updated_at < ? AND state IN ('sent', 'cancelled')")
            .bind(&rfc3339)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    pruned.job_once = sqlx::query("DELETE FROM job_once WHERE claimed_at < ?")
        .bind(&key)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    pruned.capability_snapshots = sqlx::query(
        "DELETE FROM capability_snapshots
         WHERE at < ? AND id < (SELECT MAX(id) FROM capability_snapshots)",
    )
    .bind(&rfc3339)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    for (table, count) in [
        ("processed_updates", pruned.processed_updates),
        ("capability_snapshots", pruned.capability_snapshots),
        ("job_slots", pruned.job_slots),
        ("outbox", pruned.outbox),
        ("job_once", pruned.job_once),
    ] {
        if count > 0 {
            let entry = AuditEntry::new(
                "retention",
                format!("pruned {count} {table} rows older than {keep_days} days"),
            )
            .detail(rfc3339.clone());
            audit::record(&mut *conn, now, &entry).await?;
        }
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::Store;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let store = Store::open(&url).await.expect("store opens");
        (dir, store)
    }

    async fn outbox_row(conn: &mut SqliteConnection, state: &str, at: DateTime<Utc>) {
        sqlx::query(
            "INSERT INTO outbox (bot, kind, lane, chat_id, text, state, created_at, updated_at)
             VALUES ('claudia', 'send', 0, 1, 'x', ?, ?, ?)",
        )
        .bind(state)
        .bind(at.to_rfc3339())
        .bind(at.to_rfc3339())
        .execute(conn)
        .await
        .expect("outbox row");
    }

    async fn slot_row(conn: &mut SqliteConnection, job: &str, state: SlotState, at: DateTime<Utc>) {
        sqlx::query(
            "INSERT INTO job_slots (job, slot, bot, trigger, state, claimed_at)
             VALUES (?, ?, 'clawrence', 'schedule', ?, ?)",
        )
        .bind(job)
        .bind(time_key(at))
        .bind(state)
        .bind(at.to_rfc3339())
        .execute(conn)
        .await
        .expect("slot row");
    }

    async fn count(store: &Store, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(store.pool())
            .await
            .expect("count")
    }

    #[tokio::test]
    async fn prunes_settled_rows_past_the_retention_and_keeps_everything_open() {
        let (_dir, store) = store().await;
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 3, 0, 0).unwrap();
        let old = now - chrono::Duration::days(8);
        let young = now - chrono::Duration::days(6);
        let mut tx = store.begin_write().await.unwrap();
        for state in [
            "sent",
            "cancelled",
            "pending",
            "sending",
            "ambiguous",
            "failed",
        ] {
            outbox_row(&mut tx, state, old).await;
            outbox_row(&mut tx, state, young).await;
        }
        for (job, state) in [
            ("a", SlotState::Done),
            ("b", SlotState::Failed),
            ("c", SlotState::Missed),
            ("d", SlotState::Paused),
        ] {
            slot_row(&mut tx, job, state, old).await;
            slot_row(&mut tx, job, state, young).await;
        }
        slot_row(&mut tx, "e", SlotState::Running, old).await;
        for (key, at) in [("old", old), ("young", young)] {
            assert!(
                crate::store::job_once::claim(&mut tx, "team-pulse", key, at)
                    .await
                    .unwrap()
            );
        }
        for (id, at) in [(1, old), (2, young)] {
            crate::store::updates::mark_handled(&mut tx, "claudia", id, at)
                .await
                .unwrap();
        }
        crate::store::updates::commit_offset(&mut tx, "claudia", 3)
            .await
            .unwrap();
        // Three old audits: the newest is kept whatever its age, the next audit's baseline.
        for at in [old, old, old] {
            crate::store::capability_snapshots::insert(&mut tx, at, "audit", "[]")
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();

        let mut tx = store.begin_write().await.unwrap();
        let pruned = prune(&mut tx, now, 7).await.unwrap();
        tx.commit().await.unwrap();

        assert_eq!(
            pruned,
            Pruned {
                audit: 0,
                processed_updates: 1,
                job_slots: 4,
                outbox: 2,
                job_once: 1,
                capability_snapshots: 2,
            }
        );
        assert_eq!(
            count(
                &store,
                "SELECT count(*) FROM outbox WHERE state IN ('sent', 'cancelled')"
            )
            .await,
            2,
            "the young settled rows stay"
        );
        assert_eq!(
            count(
                &store,
                "SELECT count(*) FROM outbox WHERE state NOT IN ('sent', 'cancelled')"
            )
            .await,
            8,
            "open rows stay whatever their age"
        );
        assert_eq!(
            count(
                &store,
                "SELECT count(*) FROM job_slots WHERE state = 'running'"
            )
            .await,
            1
        );
        assert_eq!(count(&store, "SELECT count(*) FROM job_slots").await, 5);
        assert_eq!(
            count(&store, "SELECT count(*) FROM processed_updates").await,
            1
        );
        assert_eq!(
            count(&store, "SELECT count(*) FROM capability_snapshots").await,
            1,
            "the newest audit stays"
        );
        assert_eq!(
            crate::store::updates::next_offset(store.pool(), "claudia")
                .await
                .unwrap(),
            3,
            "the offset is kept"
        );
        let audited: Vec<String> =
            sqlx::query_scalar("SELECT decision FROM audit WHERE kind = 'retention' ORDER BY seq")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(
            audited,
            vec![
                "pruned 1 processed_updates rows older than 7 days",
                "pruned 2 capability_snapshots rows older than 7 days",
                "pruned 4 job_slots rows older than 7 days",
                "pruned 2 outbox rows older than 7 days",
                "pruned 1 job_once rows older than 7 days",
            ]
        );

        let mut tx = store.begin_write().await.unwrap();
        let again = prune(&mut tx, now, 7).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(again.total(), 0, "a second prune finds nothing");
        assert_eq!(
            count(&store, "SELECT count(*) FROM job_once WHERE key = 'young'").await,
            1
        );
    }
}
