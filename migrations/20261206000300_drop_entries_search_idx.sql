-- no-transaction
-- Contract: nothing reads the global full-text index any more (entries_owner_filters_idx serves
-- `q`). The previous release's statement stays correct without it, only slower for rare words,
-- so a rollback during the rollout is safe. CONCURRENTLY: no lock that waits behind readers.
DROP INDEX CONCURRENTLY IF EXISTS entries_search_idx;
