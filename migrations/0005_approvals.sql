-- Finance (Claudia): invoice approval cards, one per Xero InvoiceID.

-- An approval is created with its card (the card's outbox row commits in the same
-- transaction), decided once (the first decision wins: a conditional update from 'open'),
-- and, when approved, written to Xero by a worker that retries with backoff until Xero
-- confirms (`xero` = 'done') or the invoice turns out to be settled some other way.
CREATE TABLE approvals (
    invoice_id      TEXT    PRIMARY KEY,
    number          TEXT    NOT NULL,
    contact         TEXT    NOT NULL,
    -- Money as shown ("SGD 4,360.00"): the card's text, never used for arithmetic.
    total           TEXT    NOT NULL,
    due_date        TEXT,
    link            TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'open'
                    CHECK (state IN ('open', 'approved', 'rejected', 'expired', 'closed')),
    card_outbox_id  INTEGER NOT NULL,
    chat_id         INTEGER NOT NULL,
    thread_id       INTEGER,
    posted_at       TEXT    NOT NULL,
    expires_at      TEXT    NOT NULL,
    decided_by      TEXT,
    decided_at      TEXT,
    reason          TEXT,
    -- Xero's side of an approval: 'none' (nothing to write), 'pending' (to write or retry),
    -- 'done' (Xero says AUTHORISED), 'failed' (given up; the operator was told).
    xero            TEXT    NOT NULL DEFAULT 'none'
                    CHECK (xero IN ('none', 'pending', 'done', 'failed')),
    xero_attempts   INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    -- How an approval closed without a decision here ("approved directly in Xero").
    closed_note     TEXT
);
CREATE INDEX approvals_open ON approvals (state, expires_at);
CREATE INDEX approvals_xero ON approvals (xero, next_attempt_at);
