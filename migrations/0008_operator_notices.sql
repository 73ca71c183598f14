-- What the operators are told, and when.

-- Uncertain (ambiguous) sends are told in groups: at most one DM per bot per minute. A group
-- collects the rows of one bot that became ambiguous before its DM left. The DM (one outbox
-- row per operator) waits in `pending` until `notify_at`, the minute after the bot's previous
-- DM; each row that joins rewrites the DM's text in the transaction that made the row
-- ambiguous, until the first of the DM's rows is claimed by the sender. A later row starts
-- the next group. The DM's buttons name the group, never a list of rows (callback_data holds
-- 64 bytes).
CREATE TABLE ambiguous_groups (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The identity whose sends are uncertain.
    bot        TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    -- When its DM may leave (RFC 3339, UTC, whole seconds, as outbox.not_before).
    notify_at  TEXT    NOT NULL
);
CREATE INDEX ambiguous_groups_by_bot ON ambiguous_groups (bot, id);

-- The uncertain rows of each group.
CREATE TABLE ambiguous_group_rows (
    group_id  INTEGER NOT NULL REFERENCES ambiguous_groups (id) ON DELETE CASCADE,
    outbox_id INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, outbox_id)
);
CREATE INDEX ambiguous_group_rows_by_row ON ambiguous_group_rows (outbox_id);

-- The DM of each group: one outbox row per operator.
CREATE TABLE ambiguous_group_alerts (
    group_id  INTEGER NOT NULL REFERENCES ambiguous_groups (id) ON DELETE CASCADE,
    outbox_id INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, outbox_id)
);
CREATE INDEX ambiguous_group_alerts_by_row ON ambiguous_group_alerts (outbox_id);

-- A pause change the console already confirmed to the operator who made it (`/pause`,
-- `/resume`), so that the scheduler's announcement of that change to every operator leaves
-- that one out: one message for a `/pause`, not two. Written in the command's transaction,
-- read and emptied by the scheduler's next look at the pauses.
CREATE TABLE pause_notices (
    -- `pauses.scope` of the change.
    scope     TEXT    NOT NULL,
    change    TEXT    NOT NULL CHECK (change IN ('pause', 'resume')),
    -- `pauses.paused_at` of the pause made or lifted: which pause this was.
    paused_at TEXT    NOT NULL,
    -- Telegram id of the operator already told.
    operator  INTEGER NOT NULL,
    PRIMARY KEY (scope, change, paused_at, operator)
);
