-- Every `bot` column holds one of the seven identities' names (`BotIdentity::NAME` in
-- src/identity.rs), checked by the database as well as by the types: a row written as a bot
-- that does not exist is refused, whoever writes it.
--
-- SQLite adds a CHECK only by rebuilding the table: create the new table, copy the rows (ids
-- included), drop the old one, rename the new one, recreate its indexes. Foreign keys are on
-- and this runs in one transaction, so the two tables that reference `outbox` and
-- `ambiguous_groups` (ON DELETE CASCADE) are set aside first: dropping a parent while they
-- exist would delete their rows. AUTOINCREMENT counters are carried over, so no id is reused.
--
-- Adding an identity: a new migration that rebuilds these tables with the longer list (the
-- test `every_identity_name_passes_every_bot_check` fails until it exists).

-- The AUTOINCREMENT counters and the rows of the referencing tables, set aside.
CREATE TEMP TABLE saved_sequences AS
    SELECT name, seq FROM sqlite_sequence WHERE name IN ('outbox', 'audit', 'ambiguous_groups');
CREATE TEMP TABLE saved_group_rows AS SELECT group_id, outbox_id FROM ambiguous_group_rows;
CREATE TEMP TABLE saved_group_alerts AS SELECT group_id, outbox_id FROM ambiguous_group_alerts;
DROP TABLE ambiguous_group_rows;
DROP TABLE ambiguous_group_alerts;

-- outbox
CREATE TABLE outbox_new (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    bot                 TEXT    NOT NULL
                        CHECK (bot IN ('claudia', 'clawrence', 'lawrence', 'happy', 'gymbooker', 'claims', 'pakgupei')),
    kind                TEXT    NOT NULL CHECK (kind IN ('send', 'edit', 'answer_callback')),
    lane                INTEGER NOT NULL,
    chat_id             INTEGER NOT NULL,
    thread_id           INTEGER,
    reply_to_message_id INTEGER,
    target_message_id   INTEGER,
    callback_query_id   TEXT,
    text                TEXT    NOT NULL,
    reply_markup        TEXT,
    job                 TEXT,
    slot                TEXT,
    part                INTEGER NOT NULL DEFAULT 0,
    state               TEXT    NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'ambiguous', 'cancelled')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    telegram_message_id INTEGER,
    error               TEXT,
    created_at          TEXT    NOT NULL,
    updated_at          TEXT    NOT NULL,
    not_before          TEXT,
    UNIQUE (job, slot, part)
);
INSERT INTO outbox_new (id, bot, kind, lane, chat_id, thread_id, reply_to_message_id,
        target_message_id, callback_query_id, text, reply_markup, job, slot, part, state,
        attempts, telegram_message_id, error, created_at, updated_at, not_before)
    SELECT id, bot, kind, lane, chat_id, thread_id, reply_to_message_id, target_message_id,
        callback_query_id, text, reply_markup, job, slot, part, state, attempts,
        telegram_message_id, error, created_at, updated_at, not_before
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_next ON outbox (bot, state, lane, id);
CREATE INDEX outbox_settled ON outbox (state, updated_at);

-- processed_updates
CREATE TABLE processed_updates_new (
    bot        TEXT    NOT NULL
               CHECK (bot IN ('claudia', 'clawrence', 'lawrence', 'happy', 'gymbooker', 'claims', 'pakgupei')),
    update_id  INTEGER NOT NULL,
    handled_at TEXT    NOT NULL,
    outcome    TEXT    NOT NULL DEFAULT 'handled'
               CHECK (outcome IN ('handled', 'failed', 'unreadable')),
    PRIMARY KEY (bot, update_id)
);
INSERT INTO processed_updates_new (bot, update_id, handled_at, outcome)
    SELECT bot, update_id, handled_at, outcome FROM processed_updates;
DROP TABLE processed_updates;
ALTER TABLE processed_updates_new RENAME TO processed_updates;
CREATE INDEX processed_updates_handled_at ON processed_updates (handled_at);

-- poll_offsets
CREATE TABLE poll_offsets_new (
    bot         TEXT    PRIMARY KEY
                CHECK (bot IN ('claudia', 'clawrence', 'lawrence', 'happy', 'gymbooker', 'claims', 'pakgupei')),
    next_offset INTEGER NOT NULL
);
INSERT INTO poll_offsets_new (bot, next_offset) SELECT bot, next_offset FROM poll_offsets;
DROP TABLE poll_offsets;
ALTER TABLE poll_offsets_new RENAME TO poll_offsets;

-- audit (an entry about no bot in particular has none)
CREATE TABLE audit_new (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    bot       TEXT
              CHECK (bot IS NULL OR bot IN ('claudia', 'clawrence', 'lawrence', 'happy', 'gymbooker', 'claims', 'pakgupei')),
    job       TEXT,
    user_id   INTEGER,
    chat_id   INTEGER,
    thread_id INTEGER,
    command   TEXT,
    decision  TEXT    NOT NULL,
    detail    TEXT
);
INSERT INTO audit_new (seq, at, kind, bot, job, user_id, chat_id, thread_id, command, decision,
        detail)
    SELECT seq, at, kind, bot, job, user_id, chat_id, thread_id, command, decision, detail
    FROM audit;
DROP TABLE audit;
ALTER TABLE audit_new RENAME TO audit;
CREATE INDEX audit_at ON audit (at);

-- bot_status
CREATE TABLE bot_status_new (
    bot                         TEXT PRIMARY KEY
                                CHECK (bot IN ('claudia', 'clawrence', 'lawrence', 'happy', 'gymbooker', 'claims', 'pakgupei')),
    username                    TEXT NOT NULL,
    bot_user_id                 INTEGER NOT NULL,
    can_read_all_group_messages INTEGER NOT NULL,
    verified_at                 TEXT NOT NULL,
    commands_digest             TEXT
);
INSERT INTO bot_status_new (bot, username, bot_user_id, can_read_all_group_messages,
        verified_at, commands_digest)
    SELECT bot, username, bot_user_id, can_read_all_group_messages, verified_at, commands_digest
    FROM bot_status;
DROP TABLE bot_status;
ALTER TABLE bot_status_new RENAME TO bot_status;

-- job_slots
CREATE TABLE job_slots_new (
    job          TEXT    NOT NULL,
    slot         TEXT    NOT NULL,
    bot          TEXT    NOT NULL
                 CHECK (bot IN ('claudia', 'clawrence', 'lawrence', 'happy', 'gymbooker', 'claims', 'pakgupei')),
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
INSERT INTO job_slots_new (job, slot, bot, trigger, state, messages, detail, claimed_at,
        finished_at, overdue_told)
    SELECT job, slot, bot, trigger, state, messages, detail, claimed_at, finished_at,
        overdue_told
    FROM job_slots;
DROP TABLE job_slots;
ALTER TABLE job_slots_new RENAME TO job_slots;
CREATE INDEX job_slots_state ON job_slots (state, slot);

-- command_windows
CREATE TABLE command_windows_new (
    bot          TEXT    NOT NULL
                 CHECK (bot IN ('claudia', 'clawrence', 'lawrence', 'happy', 'gymbooker', 'claims', 'pakgupei')),
    user_id      INTEGER NOT NULL,
    window_start TEXT    NOT NULL,
    commands     INTEGER NOT NULL,
    PRIMARY KEY (bot, user_id)
);
INSERT INTO command_windows_new (bot, user_id, window_start, commands)
    SELECT bot, user_id, window_start, commands FROM command_windows;
DROP TABLE command_windows;
ALTER TABLE command_windows_new RENAME TO command_windows;

-- fault_counts
CREATE TABLE fault_counts_new (
    bot              TEXT    NOT NULL
                     CHECK (bot IN ('claudia', 'clawrence', 'lawrence', 'happy', 'gymbooker', 'claims', 'pakgupei')),
    kind             TEXT    NOT NULL,
    occurrences      INTEGER NOT NULL,
    first_at         TEXT    NOT NULL,
    last_at          TEXT    NOT NULL,
    -- When the operator was last DMed about this (bot, kind); NULL if never.
    alerted_at       TEXT,
    -- Occurrences since that DM that got no DM of their own.
    held_back        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bot, kind)
);
INSERT INTO fault_counts_new (bot, kind, occurrences, first_at, last_at, alerted_at, held_back)
    SELECT bot, kind, occurrences, first_at, last_at, alerted_at, held_back FROM fault_counts;
DROP TABLE fault_counts;
ALTER TABLE fault_counts_new RENAME TO fault_counts;

-- ambiguous_groups
CREATE TABLE ambiguous_groups_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The identity whose sends are uncertain.
    bot        TEXT    NOT NULL
               CHECK (bot IN ('claudia', 'clawrence', 'lawrence', 'happy', 'gymbooker', 'claims', 'pakgupei')),
    created_at TEXT    NOT NULL,
    -- When its DM may leave (RFC 3339, UTC, whole seconds, as outbox.not_before).
    notify_at  TEXT    NOT NULL
);
INSERT INTO ambiguous_groups_new (id, bot, created_at, notify_at)
    SELECT id, bot, created_at, notify_at FROM ambiguous_groups;
DROP TABLE ambiguous_groups;
ALTER TABLE ambiguous_groups_new RENAME TO ambiguous_groups;
CREATE INDEX ambiguous_groups_by_bot ON ambiguous_groups (bot, id);

-- The referencing tables again, as 0008 made them, with their rows.
CREATE TABLE ambiguous_group_rows (
    group_id  INTEGER NOT NULL REFERENCES ambiguous_groups (id) ON DELETE CASCADE,
    outbox_id INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, outbox_id)
);
CREATE INDEX ambiguous_group_rows_by_row ON ambiguous_group_rows (outbox_id);
INSERT INTO ambiguous_group_rows (group_id, outbox_id)
    SELECT group_id, outbox_id FROM saved_group_rows;

CREATE TABLE ambiguous_group_alerts (
    group_id  INTEGER NOT NULL REFERENCES ambiguous_groups (id) ON DELETE CASCADE,
    outbox_id INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, outbox_id)
);
CREATE INDEX ambiguous_group_alerts_by_row ON ambiguous_group_alerts (outbox_id);
INSERT INTO ambiguous_group_alerts (group_id, outbox_id)
    SELECT group_id, outbox_id FROM saved_group_alerts;

-- The counters as they were (the copies only raised them to the highest id still present).
DELETE FROM sqlite_sequence WHERE name IN (SELECT name FROM saved_sequences);
INSERT INTO sqlite_sequence (name, seq) SELECT name, seq FROM saved_sequences;

DROP TABLE saved_sequences;
DROP TABLE saved_group_rows;
DROP TABLE saved_group_alerts;
