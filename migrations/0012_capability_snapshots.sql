-- Every `herald audit` and daily capability probe stores what it found, so
-- the next run can say what changed ("claudia: member of team chat: OK -> BROKEN") and
-- /status can show the newest.
CREATE TABLE capability_snapshots (
    id     INTEGER PRIMARY KEY,
    at     TEXT NOT NULL,
    -- Who ran it: 'audit' (the command) or 'probe' (the daily capability probe).
    source TEXT NOT NULL CHECK (source IN ('audit', 'probe')),
    -- JSON: [{"capability", "verdict", "cause", "fix"}], in report order.
    checks TEXT NOT NULL
);
