-- no-transaction
-- Contract: nothing reads the global tag index any more (entries_owner_filters_idx serves `tag`);
-- as for 20261206000300, the previous release stays correct without it.
DROP INDEX CONCURRENTLY IF EXISTS entries_tags_idx;
