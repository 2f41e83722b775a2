//! Applying the embedded migrations when several processes may try at once.
//!
//! sqlx's migrator waits for its advisory lock inside `SELECT pg_advisory_lock(..)`: a statement
//! that holds a snapshot for as long as it waits. `CREATE INDEX CONCURRENTLY` waits for every
//! snapshot older than its own, so a migrator building an index and a second one waiting for the
//! lock would each wait for the other. Here the lock is taken with `pg_try_advisory_lock`, retried
//! from an idle session, and sqlx's own locking is off.

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection, PgPool};

use super::MIGRATOR;

/// The advisory lock every `echodiary migrate` and migrating `serve` takes (an arbitrary constant,
/// "echodiar" in ASCII, that nothing else in the database uses).
const MIGRATION_LOCK: i64 = 0x6563_686f_6469_6172;
/// How often a waiting migrator asks again: a migration takes seconds to minutes.
const LOCK_RETRY: Duration = Duration::from_millis(100);

/// Applies pending migrations, each exactly once however many processes start together: the
/// others wait for the lock, then find nothing left to do.
///
/// On a connection of its own, opened without the service's statement timeout (milliseconds to
/// seconds, for requests): an index built concurrently over a large table takes minutes, and a
/// build cut short would only start again. Lifting the timeout with `SET` on a pooled connection
/// would leave the lock statements before it, and the unlock after the `RESET`, under it.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    let options =
        PgConnectOptions::clone(&pool.connect_options()).options([("statement_timeout", "0")]);
    let mut conn = options.connect().await.context("connecting to migrate")?;
    while !sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_lock($1) AS "locked!""#,
        MIGRATION_LOCK
    )
    .fetch_one(&mut conn)
    .await
    .context("taking the migration lock")?
    {
        tokio::time::sleep(LOCK_RETRY).await;
    }
    let applied = apply(&mut conn).await;
    // Closing the session releases the lock too; closing politely keeps PostgreSQL's log quiet.
    let closed = conn.close().await.context("closing the migration session");
    applied.and(closed)
}

async fn apply(conn: &mut PgConnection) -> anyhow::Result<()> {
    drop_interrupted_index_builds(conn).await?;
    MIGRATOR
        .run(&mut *conn)
        .await
        .context("applying migrations")?;
    Ok(())
}

/// An interrupted `CREATE INDEX CONCURRENTLY` (a killed pod, a statement timeout) leaves an
/// INVALID index behind, which the retried migration's `IF NOT EXISTS` would keep for good. Under
/// the lock no build of ours is running, so every invalid index in the schema is such a leftover.
async fn drop_interrupted_index_builds(conn: &mut PgConnection) -> anyhow::Result<()> {
    let leftovers = sqlx::query_scalar!(
        r#"SELECT format('DROP INDEX CONCURRENTLY IF EXISTS %I.%I', n.nspname, c.relname) AS "drop!"
             FROM pg_index i
             JOIN pg_class c ON c.oid = i.indexrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE NOT i.indisvalid AND n.nspname = current_schema()"#
    )
    .fetch_all(&mut *conn)
    .await
    .context("looking for interrupted index builds")?;
    for drop in leftovers {
        tracing::warn!(statement = %drop, "dropping an index an interrupted migration left invalid");
        sqlx::raw_sql(AssertSqlSafe(drop))
            .execute(&mut *conn)
            .await
            .context("dropping an interrupted index build")?;
    }
    Ok(())
}
