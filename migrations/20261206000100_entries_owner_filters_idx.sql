-- no-transaction
-- The list route's `tag`, `q` and `mood` beyond its date-ordered window (src/entries/db.rs): one
-- person's entries with a tag, words or a mood, found from that person's postings alone. The
-- global `entries_tags_idx` and `entries_search_idx` read postings that grow with everyone's data.
-- One index for all three, so a combination (a tag and words) intersects them in one scan and the
-- planner has no second index to prefer on someone else's statistics. Keyed by the owner as text,
-- so only the statement that asks for it can use it.
--
-- CONCURRENTLY: built while entries are written. One statement per file: PostgreSQL runs a
-- multi-statement string in one transaction, where CONCURRENTLY is refused. A build that is
-- interrupted leaves an INVALID index, which `echodiary migrate` drops before it retries
-- (src/db/migrations.rs), so IF NOT EXISTS never keeps a broken one.
CREATE INDEX CONCURRENTLY IF NOT EXISTS entries_owner_filters_idx
    ON entries USING gin ((user_id::text), mood, tags, search);
