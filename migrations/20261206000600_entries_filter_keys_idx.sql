-- no-transaction
-- The index of the owner-scoped keys (20261206000500): each key's posting list is one person's
-- entries with one mood, tag or word. Built CONCURRENTLY while entries are written (one
-- statement per file: PostgreSQL runs a multi-statement string in one transaction, where
-- CONCURRENTLY is refused); an interrupted build leaves an INVALID index, which `echodiary
-- migrate` drops before it retries (src/db/migrations.rs).
CREATE INDEX CONCURRENTLY IF NOT EXISTS entries_filter_keys_idx
    ON entries USING gin (entry_filter_keys(user_id, mood, tags, search));
