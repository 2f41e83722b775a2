//! Requests held in flight on purpose. The test holds `SELECT ... FOR UPDATE` on an entry through
//! its own connection, so a write of that entry waits inside PostgreSQL while holding one of the
//! service's pooled connections, for exactly as long as the test wants.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::support::sqlx_connect;
use crate::support::wait::eventually;

/// A row lock the test holds on one entry until it lets go.
pub(crate) struct RowLock {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    pool: sqlx::PgPool,
}

impl RowLock {
    pub(crate) async fn take(database_url: &str, entry_id: &str) -> Self {
        let pool = sqlx_connect(database_url).await;
        let mut tx = pool.begin().await.expect("begin the locking transaction");
        let locked = sqlx::query("SELECT id FROM entries WHERE id = $1::uuid FOR UPDATE")
            .bind(entry_id)
            .execute(&mut *tx)
            .await
            .expect("lock the entry row");
        assert_eq!(locked.rows_affected(), 1, "the entry to lock exists");
        Self { tx, pool }
    }

    pub(crate) async fn release(self) {
        self.tx.rollback().await.expect("release the row lock");
        self.pool.close().await;
    }
}

/// Waits until `count` sessions of the service wait on a lock in this database, which proves the
/// request under test reached PostgreSQL and now holds a pooled connection while it waits.
async fn wait_for_lock_waiters(database_url: &str, count: i64) {
    let pool = sqlx_connect(database_url).await;
    let probe = pool.clone();
    eventually(
        Duration::from_secs(10),
        "a request waiting on the row lock",
        move || {
            let probe = probe.clone();
            async move {
                let waiting: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock' \
                       AND application_name = 'echodiary'",
                )
                .fetch_one(&probe)
                .await
                .expect("read pg_stat_activity");
                waiting >= count
            }
        },
    )
    .await;
    pool.close().await;
}

/// Locks `entry_id`, starts `request` (a write of that entry) in the background, and returns once
/// it waits on the lock: the lock to release, and the request's task.
pub(crate) async fn blocked_by_row_lock<T>(
    database_url: &str,
    entry_id: &str,
    request: impl Future<Output = T> + Send + 'static,
) -> (RowLock, JoinHandle<T>)
where
    T: Send + 'static,
{
    let lock = RowLock::take(database_url, entry_id).await;
    let task = tokio::spawn(request);
    wait_for_lock_waiters(database_url, 1).await;
    (lock, task)
}
