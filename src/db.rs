//! The PostgreSQL pool, the embedded migrations, and the instrumentation every query goes through.

mod lease;
mod migrations;
mod preflight;
mod ready_cache;
mod url_file;

use std::future::Future;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::DatabaseSettings;

pub(crate) use lease::{Db, PARKED_IDLE_LIMIT};
pub use migrations::migrate;
pub use preflight::{DatabaseUnusable, check_database};
pub(crate) use ready_cache::RecentlyReady;
pub(crate) use url_file::follow_url_file;

/// Migrations compiled into the binary, so an image always carries the schema it expects.
///
/// Versions the database has but this binary does not know are tolerated: they come from a newer
/// release, whose migrations stay compatible with this one (expand, then contract), and a pod of
/// this release that restarts mid-rollout, or after a rollback, must come up instead of
/// crash-looping on sqlx's default "previously applied but missing" check.
pub static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    let mut migrator = sqlx::migrate!();
    migrator.set_ignore_missing(true);
    // `migrate` takes its own lock, waiting without a snapshot (see `migrations`).
    migrator.set_locking(false);
    migrator
});

/// Builds the pool without connecting: with `migrate_on_start` off, the service starts (and
/// reports not-ready) while the database is still unreachable, instead of crash-looping. With it
/// on, `serve` needs the database for the migrations first and fails fast without it (after
/// [`check_database`] has said why).
pub fn connect_lazy(url: &str, settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    let options = connect_options(url, settings)?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(settings.acquire_timeout())
        .test_before_acquire(settings.test_before_acquire)
        .max_lifetime(Duration::from_secs(settings.max_lifetime_secs))
        .idle_timeout(Duration::from_secs(settings.idle_timeout_secs))
        .connect_lazy_with(options))
}

/// How every connection is opened: the URL, plus the service's name and statement timeout.
///
/// Short statements only, so no JIT (its compile time, tens of milliseconds, is priced by the
/// plan's estimate for rows a gated part of a list statement never reads) and no parallel workers
/// (the search statement's `UNION ALL` must run its parts one after the other). Generic plans
/// always: PostgreSQL otherwise plans a statement anew on each of its first five executions, and on
/// every execution after them when it judges the custom plans cheaper, as it does for the search
/// statement, whose planning then costs more than its run. Every statement is written for its
/// generic plan, and tests/api/entries/plans/ pins the list statements'.
fn connect_options(url: &str, settings: &DatabaseSettings) -> anyhow::Result<PgConnectOptions> {
    Ok(PgConnectOptions::from_str(url)
        .context("DATABASE_URL is not a valid PostgreSQL connection string")?
        .application_name("echodiary")
        .options([
            (
                "statement_timeout",
                format!("{}ms", settings.statement_timeout_ms),
            ),
            ("jit", "off".to_owned()),
            ("max_parallel_workers_per_gather", "0".to_owned()),
            ("plan_cache_mode", "force_generic_plan".to_owned()),
        ]))
}

/// The newest migration this binary knows; the schema is current when it has been applied.
fn latest_known_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Whether the database answers and carries at least this binary's schema. A newer schema is fine:
/// during a rolling deploy the old pods keep serving on the expanded schema.
pub(crate) async fn schema_is_current(pool: &PgPool) -> Result<bool, sqlx::Error> {
    // Not a checked macro: the table is sqlx's own, created by the migrator at run time, so a
    // database prepared for the compile-time check need not have it.
    let applied: Result<Option<i64>, sqlx::Error> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await;
    match applied {
        Ok(version) => Ok(version.unwrap_or(0) >= latest_known_migration()),
        // 42P01 undefined_table: nothing was ever migrated here.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Ok(false),
        Err(e) => Err(e),
    }
}

/// Runs one query and records its duration under the name of what it does.
pub(crate) async fn timed<T>(
    operation: &'static str,
    query: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    let started = Instant::now();
    let result = query.await;
    record_query(operation, started.elapsed());
    result
}

fn record_query(operation: &'static str, took: Duration) {
    metrics::histogram!("db_query_duration_seconds", "operation" => operation).record(took);
}

/// [`timed`] for a query whose rows are used as they arrive: only the waits on the connection
/// count, not the work done with each row in between, so the histogram still says how long the
/// database took and stays comparable with the other operations. Recorded once, when dropped,
/// so a query cut short by an error or by the caller counts too.
pub(crate) struct QueryClock {
    operation: &'static str,
    waited: Duration,
}

impl QueryClock {
    pub(crate) fn new(operation: &'static str) -> Self {
        Self {
            operation,
            waited: Duration::ZERO,
        }
    }

    /// Awaits one step of the query (the next row, the end of the result) on the clock.
    pub(crate) async fn wait<T>(&mut self, step: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let output = step.await;
        self.waited += started.elapsed();
        output
    }
}

impl Drop for QueryClock {
    fn drop(&mut self) {
        record_query(self.operation, self.waited);
    }
}
