-- What the pending list held before 20261206000900 goes into the tree now rather than at the next
-- vacuum, so no read scans it meanwhile. In its own transaction: the merge takes only the lock an
-- insert takes.
SELECT gin_clean_pending_list('entries_filter_keys_idx'::regclass);
