-- entries_filter_keys_idx queues keys in GIN's pending list again, but in at most 256 kB of it
-- (the default is 4 MB). Written straight into the tree (20261206000900), an entry's 40 to 80 keys
-- cost about 40% of what a create can do (pgbench: 2,300-2,600 inserts/s against 3,200-3,800);
-- queued, the insert that fills the list merges them, sorted and grouped by key. Every read of the
-- index also scans the list, and the list holds everyone's recent entries, so its size is what
-- one person's search can pay for others' writes: at most 32 pages (about 0.15 ms, against 1.5-1.9
-- ms for the 284 pages measured with the default), and the merge a create now and then pays is as
-- small (bench/README.md, "Data-scale benchmark").
--
-- The change holds an exclusive lock on the index only for the catalog update; the lock timeout
-- makes the migration fail, to be retried, rather than queue writers behind a long reader.
SET LOCAL lock_timeout = '10s';
ALTER INDEX entries_filter_keys_idx SET (fastupdate = on, gin_pending_list_limit = 256);
