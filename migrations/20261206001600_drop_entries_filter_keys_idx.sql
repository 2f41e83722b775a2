-- no-transaction
-- Contract of 20261206001500: the list statement reads entries_owner_keys_idx, and so did the
-- release before this one, so no running version searches entries_filter_keys_idx any more.
-- Dropping it halves what a create writes into GIN. CONCURRENTLY: no lock that waits behind
-- readers. entry_filter_wanted and entry_filter_key stay (entry_owner_wanted calls them);
-- entry_filter_keys, which only that index used, goes a release later.
DROP INDEX CONCURRENTLY IF EXISTS entries_filter_keys_idx;
