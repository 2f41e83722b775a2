-- entries_filter_keys_idx takes each entry's keys into its tree at once instead of queueing them
-- in GIN's pending list. With the list (the default), every read of the index also scans the
-- whole list, which holds everyone's recent entries: with 284 pages queued, one person's rare-word
-- lookup took 1.5-1.9 ms instead of 0.13-0.24 ms, so the cost of a search grew with other
-- people's writes. And the insert that fills the list merges it into the tree: a create took up
-- to 2.2 s now and then. Written directly, an insert costs about 10% more on average and the
-- slowest stayed under 50 ms (bench/README.md, "Data-scale benchmark").
--
-- The change holds an exclusive lock on the index only for the catalog update; the lock timeout
-- makes the migration fail, to be retried, rather than queue writers behind a long reader.
SET LOCAL lock_timeout = '10s';
ALTER INDEX entries_filter_keys_idx SET (fastupdate = off);
