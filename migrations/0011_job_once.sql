-- What a job did at most once: one row per (job, key), written in the run's transaction with
-- the message it guards, so a rerun of the same slot, a manual /run or a restart never sends
-- it twice (the team pulse's "these names match nobody" is keyed by its day, a cake reminder
-- by the birthday and the recipient).
CREATE TABLE job_once (
    job        TEXT NOT NULL,
    key        TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    PRIMARY KEY (job, key)
);

-- The last successful read of approved leave from the HR system, per source: what a
-- laser-chase uses while the source is down, if the read is at most 24 h old.
CREATE TABLE leave_snapshots (
    source   TEXT PRIMARY KEY,
    taken_at TEXT NOT NULL,
    -- The team-calendar days the read covered, inclusive (YYYY-MM-DD).
    from_day TEXT NOT NULL,
    to_day   TEXT NOT NULL,
    -- JSON: [{"member": roster name, "from": day, "to": day}], inclusive days.
    leave    TEXT NOT NULL
);
