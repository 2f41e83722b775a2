-- no-transaction
-- The list route's `mood` (src/entries/db.rs): one person's entries with a mood, newest first, read
-- from the cursor like the unfiltered list, so a page of a mood costs one page however rare the
-- mood is in that diary; a tag or words together with a mood are then looked for among them.
-- Keyed by the owner as text, as entries_owner_filters_idx: the statement that asks for it names
-- the owner that way, so the planner cannot take the date-only index and skip five entries in six.
-- See 20261206000100 for CONCURRENTLY.
CREATE INDEX CONCURRENTLY IF NOT EXISTS entries_owner_mood_date_id_idx
    ON entries ((user_id::text), mood, entry_date DESC, id DESC);
