//! The pool as request handlers see it: sqlx's pool, with connections that finished their work
//! cleanly parked for the next request instead of going back through sqlx.
//!
//! sqlx tests every connection it gets back (a `Sync`, then a wait for `ReadyForQuery`) before
//! anyone may use it again: a round trip and a task per request, a large part of get-by-id's cost
//! (bench/README.md, "Where the time goes"). The test is there for connections in an unknown state, after an error or
//! a cancelled query. A connection whose work completed without error is in a known state, so
//! [`Db::run`] parks it and the next request takes it as is; everything else (an error, a future
//! dropped mid-query, a panic) still goes back to sqlx, which tests it and closes it if broken.
//!
//! What the pool promised stays true:
//! - at most `max_connections` requests hold a connection, queued fairly, and a request that
//!   waits longer than the acquire timeout gets [`sqlx::Error::PoolTimedOut`];
//! - a parked connection unused for [`PARKED_IDLE_LIMIT`] goes back to sqlx (so `idle_timeout`
//!   and `min_connections` apply to it), and one kept out of sqlx's hands for [`HOLD_LIMIT`] (or
//!   `max_lifetime`, if shorter) goes back after its next use, so `max_lifetime` still applies;
//! - with `test_before_acquire` on, nothing is parked: every connection is tested before use;
//! - once [`Db::close`] starts nothing is parked any more, and the pool closes as before.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};
use tokio::sync::{Semaphore, SemaphorePermit};

/// A parked connection not taken for this long goes back to sqlx's idle queue.
pub(crate) const PARKED_IDLE_LIMIT: Duration = Duration::from_secs(1);
/// A connection out of sqlx's pool for this long (or the pool's `max_lifetime`, if shorter) goes
/// back to it after its current use.
const HOLD_LIMIT: Duration = Duration::from_secs(60);

/// Cheap to clone: one reference count.
#[derive(Clone)]
pub(crate) struct Db(Arc<Inner>);

struct Inner {
    pool: PgPool,
    /// One per connection the pool may open; FIFO, so waiters are served in arrival order.
    slots: Semaphore,
    parked: Mutex<Parked>,
    acquire_timeout: Duration,
    hold_limit: Duration,
    /// Off when every connection must be tested before use (`test_before_acquire`): only sqlx
    /// does that test, so every connection then goes back through sqlx.
    parking: bool,
}

#[derive(Default)]
struct Parked {
    /// Most recently parked last: the next request takes the warmest connection, and the ones at
    /// the bottom are those a quieter period no longer needs.
    conns: Vec<ParkedConn>,
    /// Requests holding a slot that found nothing parked and wait on sqlx's pool. While there are
    /// any, a finished connection goes back to sqlx, which hands it to one of them; parked, it
    /// could be taken over and over by newer requests while they time out.
    waiting_on_pool: usize,
}

struct ParkedConn {
    conn: PoolConnection<Postgres>,
    taken_from_pool: Instant,
    parked_at: Instant,
}

/// A connection checked out for one piece of work. Dropped, it goes back to sqlx (and is tested
/// there); [`Db::park`] is the only way to skip that.
struct Lease<'a> {
    conn: PoolConnection<Postgres>,
    taken_from_pool: Instant,
    _slot: SemaphorePermit<'a>,
}

impl Db {
    pub(crate) fn new(pool: PgPool) -> Self {
        let options = pool.options();
        let slots = options.get_max_connections() as usize;
        let acquire_timeout = options.get_acquire_timeout();
        let hold_limit = options
            .get_max_lifetime()
            .map_or(HOLD_LIMIT, |lifetime| lifetime.min(HOLD_LIMIT));
        let parking = !options.get_test_before_acquire();
        Self(Arc::new(Inner {
            pool,
            slots: Semaphore::new(slots),
            parked: Mutex::default(),
            acquire_timeout,
            hold_limit,
            parking,
        }))
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.0.pool
    }

    /// Runs `work` on a connection of the pool. The connection is returned before this returns,
    /// so callers serialise their answer without holding it.
    ///
    /// `work` returning `Ok` is the promise that the connection is ready for the next query: every
    /// statement ran to completion and any transaction it opened was committed or rolled back.
    pub(crate) async fn run<T>(
        &self,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let mut lease = self.acquire().await?;
        let result = work(&mut lease.conn).await;
        if result.is_ok() {
            self.park(lease);
        }
        result
    }

    /// Connections idle in the pool, parked ones included (for the pool gauges).
    pub(crate) fn num_idle(&self) -> usize {
        self.0.pool.num_idle() + self.0.parked.lock().conns.len()
    }

    /// Sends parked connections unused for [`PARKED_IDLE_LIMIT`] back to sqlx; `server::run` does
    /// it every [`PARKED_IDLE_LIMIT`].
    pub(crate) fn return_idle(&self) {
        let now = Instant::now();
        let stale: Vec<ParkedConn> = {
            let mut parked = self.0.parked.lock();
            let fresh_from = parked
                .conns
                .iter()
                .position(|p| now.duration_since(p.parked_at) < PARKED_IDLE_LIMIT)
                .unwrap_or(parked.conns.len());
            parked.conns.drain(..fresh_from).collect()
        };
        drop(stale);
    }

    /// Returns every parked connection, stops parking, and closes the pool: waits for the
    /// connections still in use to come back, like [`PgPool::close`].
    pub(crate) async fn close(&self) {
        let parked = {
            let mut parked = self.0.parked.lock();
            self.0.slots.close();
            std::mem::take(&mut parked.conns)
        };
        drop(parked);
        self.0.pool.close().await;
    }

    /// Waits (fairly, up to the acquire timeout) for a slot, then takes a parked connection or
    /// one from sqlx. The wait is timed and a timeout counted: pool exhaustion is the first thing
    /// an operator needs to see.
    async fn acquire(&self) -> Result<Lease<'_>, sqlx::Error> {
        let started = Instant::now();
        let result = tokio::time::timeout(self.0.acquire_timeout, self.checkout()).await;
        metrics::histogram!("db_pool_acquire_duration_seconds").record(started.elapsed());
        match result {
            Ok(lease) => lease,
            Err(_elapsed) => {
                metrics::counter!("db_pool_acquire_timeouts_total").increment(1);
                Err(sqlx::Error::PoolTimedOut)
            }
        }
    }

    async fn checkout(&self) -> Result<Lease<'_>, sqlx::Error> {
        let slot = self
            .0
            .slots
            .acquire()
            .await
            .map_err(|_closed| sqlx::Error::PoolClosed)?;
        let waiting = {
            let mut parked = self.0.parked.lock();
            if let Some(p) = parked.conns.pop() {
                return Ok(Lease {
                    conn: p.conn,
                    taken_from_pool: p.taken_from_pool,
                    _slot: slot,
                });
            }
            parked.waiting_on_pool += 1;
            WaitingOnPool(&self.0.parked)
        };
        let conn = self.0.pool.acquire().await?;
        drop(waiting);
        Ok(Lease {
            conn,
            taken_from_pool: Instant::now(),
            _slot: slot,
        })
    }

    /// Keeps a cleanly finished connection for the next request, unless sqlx should see it:
    /// parking is off, the pool is closing, a request waits on sqlx, or it has been out of sqlx's
    /// hands too long.
    /// The slot is released after the connection is parked, so whoever gets it finds it.
    fn park(&self, lease: Lease<'_>) {
        let Lease {
            conn,
            taken_from_pool,
            _slot,
        } = lease;
        let now = Instant::now();
        let to_pool = {
            let mut parked = self.0.parked.lock();
            if !self.0.parking
                || self.0.slots.is_closed()
                || parked.waiting_on_pool > 0
                || now.duration_since(taken_from_pool) >= self.0.hold_limit
            {
                Some(conn)
            } else {
                parked.conns.push(ParkedConn {
                    conn,
                    taken_from_pool,
                    parked_at: now,
                });
                None
            }
        };
        drop(to_pool);
    }
}

/// Counts a request as waiting on sqlx's pool for as long as it lives, cancellation included.
struct WaitingOnPool<'a>(&'a Mutex<Parked>);

impl Drop for WaitingOnPool<'_> {
    fn drop(&mut self) {
        self.0.lock().waiting_on_pool -= 1;
    }
}
