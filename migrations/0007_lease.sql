-- One instance per database: the lease (see src/store/lease.rs).

-- At most one row (id = 1): which `herald run` holds the database. `epoch` rises with every
-- acquisition; every write transaction of the holder checks it (fencing), so a holder that
-- was paused and lost the lease cannot change anything after the new holder took it.
-- `heartbeat_at` is renewed every few seconds; a lease not renewed for the TTL (30 s) may be
-- taken over. `released_at` is set by a clean stop, so the next start need not wait.
-- Times are RFC 3339 UTC with milliseconds (real time, whatever clock the run rehearses with).
CREATE TABLE lease (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    epoch        INTEGER NOT NULL,
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   TEXT    NOT NULL,
    heartbeat_at TEXT    NOT NULL,
    released_at  TEXT
);
