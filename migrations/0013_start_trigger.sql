-- A job may also run once at every start, when the boot has become healthy (the capability
-- probe): its slot's trigger is 'start'. SQLite cannot change a CHECK in place, so the table
-- is rebuilt, as in 0010.
CREATE TABLE job_slots_new (
    job          TEXT    NOT NULL,
    slot         TEXT    NOT NULL,
    bot          TEXT    NOT NULL
                 CHECK (bot IN ('claudia', 'clawrence', 'lawrence', 'happy', 'gymbooker', 'claims', 'pakgupei')),
    trigger      TEXT    NOT NULL CHECK (trigger IN ('schedule', 'catch_up', 'manual', 'start')),
    state        TEXT    NOT NULL CHECK (state IN ('running', 'done', 'failed', 'missed', 'paused')),
    messages     INTEGER NOT NULL DEFAULT 0,
    detail       TEXT,
    claimed_at   TEXT    NOT NULL,
    finished_at  TEXT,
    -- Set once the operator was told this slot overran (absence detection).
    overdue_told INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job, slot)
);
INSERT INTO job_slots_new (job, slot, bot, trigger, state, messages, detail, claimed_at,
        finished_at, overdue_told)
    SELECT job, slot, bot, trigger, state, messages, detail, claimed_at, finished_at,
        overdue_told
    FROM job_slots;
DROP TABLE job_slots;
ALTER TABLE job_slots_new RENAME TO job_slots;
CREATE INDEX job_slots_state ON job_slots (state, slot);
