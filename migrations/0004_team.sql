-- Team workflows (Clawrence): daily updates, volts, and the per-user command rate limit.

-- Who filed a daily update on which local day (team timezone). One row per member and day;
-- every further message or edit that day only moves `last_at` and `messages`.
CREATE TABLE daily_updates (
    member           TEXT    NOT NULL,
    local_date       TEXT    NOT NULL,
    first_message_id INTEGER NOT NULL,
    first_at         TEXT    NOT NULL,
    last_at          TEXT    NOT NULL,
    messages         INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (member, local_date)
);

-- Volts granted. Written in the transaction of the `/volts` update, so a grant happens once.
CREATE TABLE volts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    giver       TEXT    NOT NULL,
    receiver    TEXT    NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    reason      TEXT    NOT NULL,
    given_at    TEXT    NOT NULL,
    -- The giver's local day (team timezone): the daily budget is counted per local day.
    local_date  TEXT    NOT NULL,
    chat_id     INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    -- A t.me link to the `/volts` message.
    link        TEXT    NOT NULL
);
CREATE INDEX volts_by_time ON volts (given_at);
CREATE INDEX volts_by_giver_day ON volts (giver, local_date);

-- The per-user command rate limit: a fixed one-minute window per (bot, user), opened by the
-- first command after the previous window ended.
CREATE TABLE command_windows (
    bot          TEXT    NOT NULL,
    user_id      INTEGER NOT NULL,
    window_start TEXT    NOT NULL,
    commands     INTEGER NOT NULL,
    PRIMARY KEY (bot, user_id)
);
