//! Serving both listeners and shutting down without dropping a request.

mod conn;
mod write_stall;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::state::AppState;

/// Long enough to close idle connections politely, so PostgreSQL logs no aborted sessions.
const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The public (API) and ops (metrics, health) listeners, already bound.
pub struct Listeners {
    pub public: TcpListener,
    pub ops: TcpListener,
}

impl Listeners {
    /// Binds both listeners. `serve` does this before anything touches the database, so a port
    /// already in use fails the start at once instead of after the migrations.
    pub async fn bind(public: SocketAddr, ops: SocketAddr) -> anyhow::Result<Self> {
        Ok(Self {
            public: bind_one(public, "ECHODIARY__SERVER__ADDR").await?,
            ops: bind_one(ops, "ECHODIARY__SERVER__OPS_ADDR").await?,
        })
    }
}

async fn bind_one(addr: SocketAddr, key: &str) -> anyhow::Result<TcpListener> {
    use std::io::ErrorKind;
    TcpListener::bind(addr).await.map_err(|err| {
        let hint = match err.kind() {
            ErrorKind::AddrInUse => format!(
                "is another echodiary (or anything else) listening there? stop it, or choose \
                 another port with {key}"
            ),
            ErrorKind::PermissionDenied => {
                format!("ports below 1024 need privileges; choose another port with {key}")
            }
            ErrorKind::AddrNotAvailable => {
                format!("no network interface has this address; check {key}")
            }
            _ => format!("check {key}"),
        };
        anyhow::anyhow!("cannot listen on {addr} ({key}): {err}; {hint}")
    })
}

/// Serves until `shutdown` completes, then: readiness turns 503 at once; requests are still served
/// for the grace period so load balancers notice; the listeners close; in-flight requests get up
/// to the drain deadline, and connections still open then are cut; the pool closes. Returns when
/// all of that is done.
pub async fn run(
    listeners: Listeners,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // The process-wide recorder, before anything records: the start-up installs it, not a
    // constructor, so building state (as tests do, many times) has no global side effect.
    crate::monitoring::install();
    let server = &state.settings.server;
    let grace = Duration::from_millis(server.shutdown_grace_ms);
    let drain = Duration::from_millis(server.shutdown_drain_ms);
    let public_app = crate::router(state.clone());
    let ops_app = crate::ops_router(state.clone());
    // Building the routes (the OpenAPI document above all) leaves megabytes freed but resident.
    crate::memory::return_freed_memory();
    tracing::info!(
        public = %listeners.public.local_addr()?,
        ops = %listeners.ops.local_addr()?,
        "serving"
    );

    let upkeep = spawn_every(
        crate::monitoring::UPKEEP_INTERVAL,
        crate::monitoring::run_upkeep,
    );
    let db = state.db.clone();
    let idle_return = spawn_every(crate::db::PARKED_IDLE_LIMIT, move || db.return_idle());
    let url_file = state.settings.database.url_file.clone().map(|path| {
        tokio::spawn(crate::db::follow_url_file(
            path,
            state.settings.database.clone(),
            vec![
                state.db.pool().clone(),
                state.health_db.clone(),
                state.listener_db.clone(),
            ],
        ))
    });
    let revocations = tokio::spawn(crate::revocations::follow(
        state.listener_db.clone(),
        state.revocations.clone(),
    ));
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let mut public = tokio::spawn(conn::serve(
        listeners.public,
        public_app,
        conn::Http::new(server),
        stopped(stop_rx.clone()),
    ));
    let mut ops = tokio::spawn(conn::serve(
        listeners.ops,
        ops_app,
        conn::Http::new(server),
        stopped(stop_rx),
    ));

    tokio::select! {
        () = shutdown => {}
        // The loops only return after a stop, so finishing here means a panic.
        result = &mut public => anyhow::bail!("public listener stopped unexpectedly: {result:?}"),
        result = &mut ops => anyhow::bail!("ops listener stopped unexpectedly: {result:?}"),
    }
    state.lifecycle.begin_shutdown();
    tracing::info!(
        grace_ms = grace.as_millis() as u64,
        "shutdown requested; readiness now 503"
    );
    tokio::time::sleep(grace).await;

    tracing::info!(
        deadline_ms = drain.as_millis() as u64,
        "closing listeners; draining in-flight requests"
    );
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(drain, async {
        let _ = (&mut public).await;
        let _ = (&mut ops).await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!("drain deadline passed; cutting the remaining requests");
        public.abort();
        ops.abort();
    }
    // `close()` also waits for every checked-out connection. The abort above drops the cut
    // connections' tasks (each loop owns them), but only when the runtime next gets to them, and a
    // connection taken mid-query goes back to the pool through a task of its own; an unbounded
    // wait could outlast the deadline.
    // The listener's connection is dropped with its task; its pool then closes at once.
    revocations.abort();
    let _ = revocations.await;
    if let Some(url_file) = url_file {
        url_file.abort();
    }
    let close_pools = async {
        tokio::join!(
            state.db.close(),
            state.health_db.close(),
            state.listener_db.close()
        )
    };
    if tokio::time::timeout(POOL_CLOSE_TIMEOUT, close_pools)
        .await
        .is_err()
    {
        tracing::warn!("database connections still in use; leaving them to the exit");
    }
    upkeep.abort();
    idle_return.abort();
    tracing::info!("shutdown complete");
    Ok(())
}

/// Runs `work` every `period`, for as long as the returned task runs.
fn spawn_every(period: Duration, work: impl Fn() + Send + 'static) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            work();
        }
    })
}

/// Completes on SIGTERM (what orchestrators send) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
