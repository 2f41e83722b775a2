-- pg_stat_statements in the service's database: postgres_exporter reads the slowest statements
-- from it (postgres-exporter/queries.yaml, alert EchoDiarySlowStatement). Monitoring only: the
-- service never reads it, and the previous release is unaffected.
--
-- Only a superuser (RDS: rds_superuser) may create this extension. Where the migrating role may
-- not (the application's own roles after docs/runbooks/rotation.md's one-time setup), this is a
-- warning, not a failed migration: a missing monitoring view must never block a deploy. An
-- administrator then creates it once by hand (docs/runbooks/database.md, "Enabling
-- pg_stat_statements"); where it already exists, IF NOT EXISTS returns before any privilege check.
-- Creating it needs no `shared_preload_libraries` (only reading the view does), so the test
-- servers that run without it migrate as before.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA public;
EXCEPTION
    -- 42501: not allowed to create it; 58P01: the server has no such extension installed.
    WHEN insufficient_privilege OR undefined_file THEN
        RAISE WARNING 'pg_stat_statements not created (%): slow statements are not exported until an administrator creates it (docs/runbooks/database.md)', SQLERRM;
END
$$;
