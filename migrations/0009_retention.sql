-- Bounded storage: the daily prune (src/store/retention.rs) finds old settled rows by age.
CREATE INDEX processed_updates_handled_at ON processed_updates (handled_at);
CREATE INDEX outbox_settled ON outbox (state, updated_at);
