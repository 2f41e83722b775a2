-- entries_owner_keys_idx queues up to 1 MB of keys in GIN's pending list instead of 256 kB
-- (20261206001500). Since each person's keys are neighbours in the index, a merge is cheaper per
-- key the more of them it sorts and writes together, and at 10 million entries the 256 kB list
-- was merged so often that creates queued behind the merges. Measured on the live 10M database of
-- bench/scale.py, 32 connections, the two settings alternated three times each (medians):
-- creates 2,820 -> 3,558 a second, p99 71.4 -> 38.0 ms; 2 MB: 3,826 a second but p99 42.7 ms;
-- straight into the tree (fastupdate off): 2,189 a second.
-- The price: every read of the index also scans the list, at most 128 pages instead of 32 (about
-- 0.4 ms instead of 0.1 ms for a search while the list is full).
--
-- The change holds an exclusive lock on the index only for the catalog update; the lock timeout
-- makes the migration fail, to be retried, rather than queue writers behind a long reader.
SET LOCAL lock_timeout = '10s';
ALTER INDEX entries_owner_keys_idx SET (fastupdate = on, gin_pending_list_limit = 1024);
