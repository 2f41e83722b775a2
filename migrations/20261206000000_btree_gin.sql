-- btree_gin: lets one GIN index hold the entry's owner next to its tags, mood or words, so the
-- list route's filters read only the caller's own postings (20261206000100).
-- A trusted extension: the database owner may create it, RDS included. Where the migrating role
-- lacks the privilege (the split roles of docs/runbooks/rotation.md), the master user creates it
-- once beforehand and IF NOT EXISTS returns before any privilege check.
CREATE EXTENSION IF NOT EXISTS btree_gin;
