-- Claims: expense claims filed with /claim, decided by the roster's approvers, confirmed by the
-- claims bot. See src/claims/mod.rs.

-- A claim is filed with its acknowledgement and its approval card (their outbox rows commit
-- in the same transaction; the ids are set right after the claim's row, in that transaction).
-- The amount is the exact decimal text the member wrote, normalised ("1234.50"), never a
-- float. Its number, as the team reads it, is C-<id> (four digits at least).
CREATE TABLE claims (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    member             TEXT    NOT NULL,
    user_id            INTEGER NOT NULL,
    amount             TEXT    NOT NULL,
    currency           TEXT    NOT NULL,
    reason             TEXT    NOT NULL,
    -- 2 when the amount is above the currency's `two_approvals_above`.
    approvals_needed   INTEGER NOT NULL CHECK (approvals_needed IN (1, 2)),
    state              TEXT    NOT NULL DEFAULT 'pending'
                       CHECK (state IN ('pending', 'approved', 'rejected')),
    -- Where the member filed it (the group or their DM with the bot), and their message.
    chat_id            INTEGER NOT NULL,
    thread_id          INTEGER,
    message_id         INTEGER NOT NULL,
    ack_outbox_id      INTEGER,
    card_outbox_id     INTEGER,
    card_chat_id       INTEGER NOT NULL,
    card_thread_id     INTEGER,
    -- Telegram's file_id of the receipt (never downloaded) and the message that carried it.
    receipt_kind       TEXT    CHECK (receipt_kind IN ('photo', 'document')),
    receipt_file_id    TEXT,
    receipt_chat_id    INTEGER,
    receipt_message_id INTEGER,
    submitted_at       TEXT    NOT NULL,
    decided_at         TEXT,
    -- One claim per message: Telegram redelivering it, or an edit, never files a second.
    UNIQUE (chat_id, message_id)
);
CREATE INDEX claims_member ON claims (member, id);
CREATE INDEX claims_decided ON claims (state, decided_at);

-- The decisions on a claim, one per step: the first decision of a step wins (the primary key
-- refuses a second), and one approver decides at most one step (two approvals are two people).
CREATE TABLE claim_decisions (
    claim_id   INTEGER NOT NULL REFERENCES claims (id),
    step       INTEGER NOT NULL CHECK (step IN (1, 2)),
    verdict    TEXT    NOT NULL CHECK (verdict IN ('approve', 'reject')),
    decided_by TEXT    NOT NULL,
    reason     TEXT,
    decided_at TEXT    NOT NULL,
    PRIMARY KEY (claim_id, step),
    UNIQUE (claim_id, decided_by)
);
