-- Isolation: one fault stays in its unit of work.

-- How a handled update ended: 'handled' (its handler decided), 'failed' (the handler returned
-- an error or panicked; its changes were rolled back) or 'unreadable' (it did not parse).
-- Either way it is handled once and the offset moves past it.
ALTER TABLE processed_updates ADD COLUMN outcome TEXT NOT NULL DEFAULT 'handled'
    CHECK (outcome IN ('handled', 'failed', 'unreadable'));

-- Faults per (bot, kind): a running count (status and metrics read it) and the operator-DM
-- throttle. A fault DMs the operator only if no DM about the same (bot, kind) went out in the
-- last hour; the ones held back are counted and named in the next DM. Written in the
-- transaction that audits the fault.
CREATE TABLE fault_counts (
    bot              TEXT    NOT NULL,
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
