//! The state shared by every handler, built once at start-up: infrastructure only (pools,
//! settings, token keys, password hashing, the revoked-session set, the mailer, the lifecycle),
//! the modules below the features. Extractors take their part through `FromRef`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::FromRef;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::config::Settings;
use crate::db::{Db, RecentlyReady};
use crate::email::Mailer;
use crate::passwords::Passwords;
use crate::revocations::Revocations;
use crate::tokens::TokenKeys;

/// Cloned into every request (several times: each extractor takes its copy), so one `Arc` around
/// everything: a clone is one reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares; its fields are private to the crate.
pub struct Shared {
    pub(crate) db: Db,
    /// One connection of its own for the health checks, so a saturated request pool does not
    /// make every replica report not-ready at once and drop out of the load balancer together.
    pub(crate) health_db: PgPool,
    pub(crate) recently_ready: RecentlyReady,
    pub(crate) tokens: Arc<TokenKeys>,
    /// Revoked sessions, kept current by a listener on a connection of its own
    /// (`listener_db`), which is never one a request waits for.
    pub(crate) revocations: Arc<Revocations>,
    pub(crate) listener_db: PgPool,
    pub(crate) passwords: Passwords,
    /// `None` when no SMTP server is configured.
    pub(crate) mailer: Option<Mailer>,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) settings: Arc<Settings>,
}

impl AppState {
    /// Builds the state around an existing pool (the caller decides when and how to connect).
    pub fn new(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let auth = &settings.auth;
        let single_connection = |acquire_timeout, name| {
            PgPoolOptions::new()
                .max_connections(1)
                .min_connections(0)
                .acquire_timeout(acquire_timeout)
                .connect_lazy_with(
                    pool.connect_options()
                        .as_ref()
                        .clone()
                        .application_name(name),
                )
        };
        let health_db = single_connection(
            Duration::from_millis(settings.database.health_timeout_ms),
            "echodiary-health",
        );
        // Named, so an operator (or a test) can find the listener in `pg_stat_activity`.
        let listener_db =
            single_connection(settings.database.acquire_timeout(), "echodiary-revocations");
        let mailer = Mailer::new(&settings.email)?;
        Ok(Self(Arc::new(Shared {
            health_db,
            recently_ready: RecentlyReady::new(Duration::from_millis(
                settings.database.ready_cache_ms,
            )),
            db: Db::new(pool),
            tokens: Arc::new(TokenKeys::new(&auth.jwt_secret, auth.access_token_ttl())),
            revocations: Arc::new(Revocations::new(auth.access_token_ttl())),
            listener_db,
            passwords: Passwords::new(auth.password_hash_queue),
            mailer,
            lifecycle: Lifecycle::default(),
            settings: Arc::new(settings),
        })))
    }

    pub fn pool(&self) -> &PgPool {
        self.db.pool()
    }

    pub fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Self {
        state.db.clone()
    }
}

impl FromRef<AppState> for Arc<TokenKeys> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.tokens)
    }
}

impl FromRef<AppState> for Arc<Revocations> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.revocations)
    }
}

impl FromRef<AppState> for Arc<Settings> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.settings)
    }
}

/// Process lifecycle facts the health routes report.
#[derive(Clone)]
pub struct Lifecycle {
    started: Instant,
    shutting_down: Arc<AtomicBool>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            shutting_down: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Lifecycle {
    /// From now on readiness answers 503, so load balancers stop sending new traffic here.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}
