-- no-transaction
-- Contract: the list statement reads entries_filter_keys_idx. The previous release's statement
-- stays correct without this index (it then reads the caller's entries from the mood index),
-- only slower for rare filters, so a rollback during the rollout is safe. CONCURRENTLY: no lock
-- that waits behind readers.
DROP INDEX CONCURRENTLY IF EXISTS entries_owner_filters_idx;
