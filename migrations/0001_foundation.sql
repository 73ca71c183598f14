-- Foundation schema: outbox, inbound bookkeeping, audit log, bot status.

-- Every outgoing Telegram call (send, edit, callback answer) is a row here, written in the
-- same transaction as the change that caused it. See src/outbox/mod.rs for the protocol.
CREATE TABLE outbox (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    bot                 TEXT    NOT NULL,
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
    UNIQUE (job, slot, part)
);
CREATE INDEX outbox_next ON outbox (bot, state, lane, id);

-- An update is handled once: its (bot, update_id) row commits with the handler's effects.
CREATE TABLE processed_updates (
    bot        TEXT    NOT NULL,
    update_id  INTEGER NOT NULL,
    handled_at TEXT    NOT NULL,
    PRIMARY KEY (bot, update_id)
);

-- The next getUpdates offset per bot, committed only after the update below it was handled.
CREATE TABLE poll_offsets (
    bot         TEXT    PRIMARY KEY,
    next_offset INTEGER NOT NULL
);

-- Append-only audit log. AUTOINCREMENT inside the writing transaction keeps `seq` gap-free:
-- a rolled-back transaction rolls back its sequence number too.
CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    bot       TEXT,
    job       TEXT,
    user_id   INTEGER,
    chat_id   INTEGER,
    thread_id INTEGER,
    command   TEXT,
    decision  TEXT    NOT NULL,
    detail    TEXT
);
CREATE INDEX audit_at ON audit (at);

-- What start-up last learned about each bot.
CREATE TABLE bot_status (
    bot                         TEXT PRIMARY KEY,
    username                    TEXT NOT NULL,
    bot_user_id                 INTEGER NOT NULL,
    can_read_all_group_messages INTEGER NOT NULL,
    verified_at                 TEXT NOT NULL,
    commands_digest             TEXT
);
