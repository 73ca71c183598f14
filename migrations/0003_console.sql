-- Operator console.

-- Jobs the operator asked to run or preview (`/run JOB`, `/preview JOB`). Written in the
-- transaction of the command's update; the scheduler takes them on its next tick, so a
-- request survives a restart and runs through the same path and rules as a scheduled slot.
CREATE TABLE job_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job          TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('run', 'preview')),
    requested_by TEXT    NOT NULL,
    -- The operator's private chat: where a preview is shown.
    chat_id      INTEGER NOT NULL,
    requested_at TEXT    NOT NULL
);

-- Boots, for the crash-loop guard: a boot is healthy once it ran `healthy_after` without a
-- fatal error; several unhealthy boots in a row put herald in diagnose mode.
CREATE TABLE boots (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    healthy_at TEXT,
    ended_at   TEXT,
    -- How it ended: 'stopped', or the error; NULL while running (or if it was killed).
    outcome    TEXT,
    diagnose   INTEGER NOT NULL DEFAULT 0
);
