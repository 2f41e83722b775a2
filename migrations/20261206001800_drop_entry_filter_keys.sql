-- Contract of 20261206001600, a release later: entries_filter_keys_idx was the only user of
-- entry_filter_keys, and no running version builds or searches that index any more.
-- entry_filter_key and entry_filter_wanted stay: entry_owner_wanted calls them.
DROP FUNCTION IF EXISTS entry_filter_keys(uuid, text, text[], tsvector);
