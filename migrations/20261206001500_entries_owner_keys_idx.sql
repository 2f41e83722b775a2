-- no-transaction
-- The index of the owner-grouped keys (20261206001400), with GIN's pending list capped as
-- 20261206001300 explains. Built CONCURRENTLY while entries are written; an interrupted build
-- leaves an INVALID index, which `echodiary migrate` drops before it retries. Expand only:
-- entries_filter_keys_idx stays while the previous release's list statement searches it (during
-- the rollout), and goes in a later release.
CREATE INDEX CONCURRENTLY IF NOT EXISTS entries_owner_keys_idx
    ON entries USING gin (entry_owner_keys(user_id, mood, tags, search))
    WITH (fastupdate = on, gin_pending_list_limit = 256);
