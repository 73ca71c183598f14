-- Scheduler and kill switch.

-- How far each job's schedule has been looked at. Slots in (considered_until, now] are the
-- ones still to decide; a job seen for the first time starts at "now" (no backfill).
CREATE TABLE job_cursors (
    job              TEXT PRIMARY KEY,
    first_seen       TEXT NOT NULL,
    considered_until TEXT NOT NULL
);

-- One row per (job, slot): the slot is claimed by inserting it, so it is decided once.
--   running  claimed and being run        done     its messages are in the outbox
--   failed   the run failed (DM sent)     missed   too late to run (downtime), reported
--   paused   skipped while paused
CREATE TABLE job_slots (
    job          TEXT    NOT NULL,
    slot         TEXT    NOT NULL,
    bot          TEXT    NOT NULL,
    trigger      TEXT    NOT NULL CHECK (trigger IN ('schedule', 'catch_up', 'manual')),
    state        TEXT    NOT NULL CHECK (state IN ('running', 'done', 'failed', 'missed', 'paused')),
    messages     INTEGER NOT NULL DEFAULT 0,
    detail       TEXT,
    claimed_at   TEXT    NOT NULL,
    finished_at  TEXT,
    -- Set once the operator was told this slot overran (absence detection).
    overdue_told INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job, slot)
);
CREATE INDEX job_slots_state ON job_slots (state, slot);

-- The kill switch: one row per active pause. scope is 'all', 'bot:<name>' or 'job:<name>'.
CREATE TABLE pauses (
    scope     TEXT PRIMARY KEY,
    paused_at TEXT NOT NULL,
    paused_by TEXT NOT NULL
);

-- An operator alert Telegram refused (or whose outcome is unknown) is retried, not dropped:
-- it waits in `pending` until this instant (RFC 3339, UTC, whole seconds).
ALTER TABLE outbox ADD COLUMN not_before TEXT;
