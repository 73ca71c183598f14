//! The scheduler's tables: each job's cursor (how far its schedule has been looked at) and
//! one row per decided slot. Inserting the slot row is the claim: the primary key
//! `(job, slot)` makes a second claim (a restart, a second look) a no-op.

use chrono::{DateTime, Utc};

use super::{parse_time, time_key};
use sqlx::{SqliteConnection, SqlitePool};

/// How a slot came to run (`job_slots.trigger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
pub enum Trigger {
    /// On time.
    Schedule,
    /// Late, after downtime, within the job's grace window.
    CatchUp,
    /// Asked for by the operator.
    Manual,
    /// Once at every start, when the boot has become healthy (a job that runs at start: the
    /// capability probe).
    Start,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::CatchUp => "catch_up",
            Trigger::Manual => "manual",
            Trigger::Start => "start",
        }
    }
}

/// A slot's state (`job_slots.state`; see the migration for the meaning of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
pub enum SlotState {
    Running,
    Done,
    Failed,
    Missed,
    Paused,
}

impl SlotState {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotState::Running => "running",
            SlotState::Done => "done",
            SlotState::Failed => "failed",
            SlotState::Missed => "missed",
            SlotState::Paused => "paused",
        }
    }
}

impl std::fmt::Display for SlotState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stored form of a slot instant: RFC 3339, UTC, whole seconds (`2026-11-23T03:00:00Z`).
/// Also the `slot` of the outbox rows the run wrote.
pub fn slot_key(slot: DateTime<Utc>) -> String {
    super::time_key(slot)
}

/// The instant up to which `job`'s slots were decided. A job seen for the first time starts
/// at `now`: adding a job never fires its past slots.
pub async fn cursor(
    conn: &mut SqliteConnection,
    job: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query(
        "INSERT INTO job_cursors (job, first_seen, considered_until) VALUES (?1, ?2, ?2)
         ON CONFLICT (job) DO NOTHING",
    )
    .bind(job)
    .bind(time_key(now))
    .execute(&mut *conn)
    .await?;
    let until: String =
        sqlx::query_scalar("SELECT considered_until FROM job_cursors WHERE job = ?")
            .bind(job)
            .fetch_one(&mut *conn)
            .await?;
    Ok(parse_time(&until).unwrap_or(now))
}

/// Every job's cursor, read without taking the write lock: the scheduler's quick look.
pub async fn cursors(
    pool: &sqlx::SqlitePool,
) -> Result<std::collections::HashMap<String, DateTime<Utc>>, sqlx::Error> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT job, considered_until FROM job_cursors")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(job, until)| parse_time(&until).map(|t| (job, t)))
        .collect())
}

pub async fn advance_cursor(
    conn: &mut SqliteConnection,
    job: &str,
    to: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE job_cursors SET considered_until = ? WHERE job = ?")
        .bind(time_key(to))
        .bind(job)
        .execute(conn)
        .await?;
    Ok(())
}

/// Claims `(job, slot)` in `state`. False if the slot was already decided.
#[allow(clippy::too_many_arguments)]
pub async fn claim(
    conn: &mut SqliteConnection,
    job: &str,
    slot: DateTime<Utc>,
    bot: &str,
    trigger: Trigger,
    state: SlotState,
    detail: Option<&str>,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let finished = (state != SlotState::Running).then(|| time_key(at));
    let inserted = sqlx::query(
        "INSERT INTO job_slots (job, slot, bot, trigger, state, detail, claimed_at, finished_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job, slot) DO NOTHING",
    )
    .bind(job)
    .bind(slot_key(slot))
    .bind(bot)
    .bind(trigger)
    .bind(state)
    .bind(detail)
    .bind(time_key(at))
    .bind(finished)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Ends a running slot. False if the slot was not running any more (another process
/// decided it meanwhile): the caller must then roll back.
pub async fn finish(
    conn: &mut SqliteConnection,
    job: &str,
    slot: &str,
    state: SlotState,
    messages: usize,
    detail: Option<&str>,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE job_slots SET state = ?, messages = ?, detail = ?, finished_at = ?
         WHERE job = ? AND slot = ? AND state = ?",
    )
    .bind(state)
    .bind(i64::try_from(messages).unwrap_or(i64::MAX))
    .bind(detail)
    .bind(time_key(at))
    .bind(job)
    .bind(slot)
    .bind(SlotState::Running)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// A done slot one of whose messages Telegram refused becomes failed. True if it changed.
pub async fn fail_done(
    conn: &mut SqliteConnection,
    job: &str,
    slot: &str,
    detail: &str,
) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query(
        "UPDATE job_slots SET state = ?, detail = ? WHERE job = ? AND slot = ? AND state = ?",
    )
    .bind(SlotState::Failed)
    .bind(detail)
    .bind(job)
    .bind(slot)
    .bind(SlotState::Done)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// One stored slot.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SlotRow {
    pub job: String,
    pub slot: String,
    pub bot: String,
    pub trigger: Trigger,
    pub state: SlotState,
    pub messages: i64,
    pub detail: Option<String>,
    pub claimed_at: String,
    pub finished_at: Option<String>,
}

impl SlotRow {
    pub fn instant(&self) -> Option<DateTime<Utc>> {
        parse_time(&self.slot)
    }
}

/// Slots left `running` by a process that stopped: they become `failed`. Their messages
/// were never written (the run writes them with the `done` mark), so nothing was posted.
pub async fn fail_interrupted(
    conn: &mut SqliteConnection,
    at: DateTime<Utc>,
) -> Result<Vec<SlotRow>, sqlx::Error> {
    let rows: Vec<SlotRow> = sqlx::query_as(
        "UPDATE job_slots SET state = ?, finished_at = ?,
             detail = 'herald stopped while the job was running'
         WHERE state = ? RETURNING job, slot, bot, trigger, state, messages, detail,
             claimed_at, finished_at",
    )
    .bind(SlotState::Failed)
    .bind(time_key(at))
    .bind(SlotState::Running)
    .fetch_all(conn)
    .await?;
    Ok(rows)
}

/// Running slots that started (or were due, whichever is later) before `before` and that
/// nobody was told about yet; they are marked told.
/// Whether any slot [`take_overdue`] would take (a read: the watchdog's look needs no write
/// when nothing is overdue).
pub async fn any_overdue(pool: &SqlitePool, before: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM job_slots
         WHERE state = ? AND overdue_told = 0 AND MAX(slot, claimed_at) < ?)",
    )
    .bind(SlotState::Running)
    .bind(slot_key(before))
    .fetch_one(pool)
    .await
}

pub async fn take_overdue(
    conn: &mut SqliteConnection,
    before: DateTime<Utc>,
) -> Result<Vec<SlotRow>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE job_slots SET overdue_told = 1
         WHERE state = ? AND overdue_told = 0 AND MAX(slot, claimed_at) < ?
         RETURNING job, slot, bot, trigger, state, messages, detail, claimed_at, finished_at",
    )
    .bind(SlotState::Running)
    .bind(slot_key(before))
    .fetch_all(conn)
    .await
}

/// Slots skipped while paused, decided at or after `since` (RFC 3339).
pub async fn paused_since(
    conn: &mut SqliteConnection,
    since: &str,
) -> Result<Vec<SlotRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT job, slot, bot, trigger, state, messages, detail, claimed_at, finished_at
         FROM job_slots WHERE state = ? AND claimed_at >= ? ORDER BY slot, job",
    )
    .bind(SlotState::Paused)
    .bind(since)
    .fetch_all(conn)
    .await
}

/// The slots of `job`, newest first.
pub async fn recent(
    conn: &mut SqliteConnection,
    job: &str,
    limit: i64,
) -> Result<Vec<SlotRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT job, slot, bot, trigger, state, messages, detail, claimed_at, finished_at
         FROM job_slots WHERE job = ? ORDER BY slot DESC LIMIT ?",
    )
    .bind(job)
    .bind(limit)
    .fetch_all(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// Every slot state and trigger is stored under the name the migration's CHECK allows,
    /// and reads back as itself.
    #[tokio::test]
    async fn states_and_triggers_are_stored_as_the_schema_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let states = [
            (SlotState::Running, "running"),
            (SlotState::Done, "done"),
            (SlotState::Failed, "failed"),
            (SlotState::Missed, "missed"),
            (SlotState::Paused, "paused"),
        ];
        let triggers = [
            (Trigger::Schedule, "schedule"),
            (Trigger::CatchUp, "catch_up"),
            (Trigger::Manual, "manual"),
            (Trigger::Start, "start"),
        ];
        let at = parse_time("2026-11-23T03:00:00Z").unwrap();
        let mut conn = store.pool().acquire().await.unwrap();
        for (i, (state, state_name)) in states.into_iter().enumerate() {
            let (trigger, trigger_name) = triggers[i % triggers.len()];
            assert_eq!(
                (state.as_str(), state.to_string()),
                (state_name, state_name.to_owned())
            );
            assert_eq!(trigger.as_str(), trigger_name);
            let job = format!("job-{i}");
            assert!(
                claim(&mut conn, &job, at, "clawrence", trigger, state, None, at)
                    .await
                    .unwrap()
            );
            let raw: (String, String) =
                sqlx::query_as("SELECT state, trigger FROM job_slots WHERE job = ?")
                    .bind(&job)
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
            assert_eq!(raw, (state_name.into(), trigger_name.into()));
            let row = recent(&mut conn, &job, 1).await.unwrap().remove(0);
            assert_eq!((row.state, row.trigger), (state, trigger));
        }
    }

    /// A done slot becomes failed when Telegram refuses one of its parts; any other slot
    /// stays as it is.
    #[tokio::test]
    async fn only_a_done_slot_fails_after_a_refused_part() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let at = parse_time("2026-11-23T03:00:00Z").unwrap();
        let key = slot_key(at);
        let mut conn = store.pool().acquire().await.unwrap();
        for (job, state) in [("a", SlotState::Running), ("b", SlotState::Missed)] {
            claim(
                &mut conn,
                job,
                at,
                "clawrence",
                Trigger::Schedule,
                state,
                None,
                at,
            )
            .await
            .unwrap();
        }
        assert!(finish(&mut conn, "a", &key, SlotState::Done, 2, None, at)
            .await
            .unwrap());
        assert!(fail_done(&mut conn, "a", &key, "refused").await.unwrap());
        assert!(!fail_done(&mut conn, "a", &key, "again").await.unwrap());
        assert!(!fail_done(&mut conn, "b", &key, "refused").await.unwrap());
        let a = recent(&mut conn, "a", 1).await.unwrap().remove(0);
        assert_eq!(
            (a.state, a.detail.as_deref()),
            (SlotState::Failed, Some("refused"))
        );
        let b = recent(&mut conn, "b", 1).await.unwrap().remove(0);
        assert_eq!(b.state, SlotState::Missed);
    }
}
