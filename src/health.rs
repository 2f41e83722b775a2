//! Liveness, readiness and the detailed health report, served on both listeners.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(live))
        .routes(routes!(ready))
        .routes(routes!(health))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Status {
    /// `ok`, or why the instance should not get traffic.
    #[schema(example = "ok")]
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct HealthReport {
    /// `ok` or `degraded`.
    status: &'static str,
    timestamp: DateTime<Utc>,
    version: &'static str,
    checks: HealthChecks,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct HealthChecks {
    database: DatabaseCheck,
    uptime_seconds: u64,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct DatabaseCheck {
    /// `ok`, `unreachable`, or `schema_behind` (migrations pending).
    status: &'static str,
    /// Round trip of the check query, when the database answered.
    #[schema(required = true)]
    latency_ms: Option<f64>,
}

/// The process is alive; never touches the database, so a database outage never restarts pods.
#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, description = "Alive", body = Status)))]
async fn live() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// Whether this instance should get traffic: not shutting down, database reachable, schema current.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, description = "Not ready", body = Status),
    ))]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Status>) {
    let status = readiness(&state).await;
    let code = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(Status { status }))
}

/// `ok` when this instance should get traffic, otherwise why not. Also exported as the `app_ready`
/// gauge, so alerts see exactly what the load balancer sees.
pub(crate) async fn readiness(state: &AppState) -> &'static str {
    if state.lifecycle.is_shutting_down() {
        return "shutting_down";
    }
    if state.recently_ready.fresh() {
        return "ok";
    }
    let status = check_database(state).await.0;
    if status == "ok" {
        state.recently_ready.passed();
    }
    status
}

/// When the last readiness check passed, so one check answers every probe for a short while.
/// Only passes are remembered: a failing instance is re-checked on every probe and reports ready
/// the moment the database is back.
pub(crate) struct RecentlyReady {
    passed_at: Mutex<Option<Instant>>,
    reuse_for: Duration,
}

impl RecentlyReady {
    pub(crate) fn new(reuse_for: Duration) -> Self {
        Self {
            passed_at: Mutex::new(None),
            reuse_for,
        }
    }

    fn fresh(&self) -> bool {
        self.passed_at
            .lock()
            .is_some_and(|at| at.elapsed() < self.reuse_for)
    }

    fn passed(&self) {
        *self.passed_at.lock() = Some(Instant::now());
    }
}

/// Readiness with detail: database latency, build version and uptime.
#[utoipa::path(get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "Healthy", body = HealthReport),
        (status = 503, description = "Degraded", body = HealthReport),
    ))]
async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthReport>) {
    let (db_status, latency) = check_database(&state).await;
    let healthy = db_status == "ok" && !state.lifecycle.is_shutting_down();
    let report = HealthReport {
        status: if healthy { "ok" } else { "degraded" },
        timestamp: Utc::now(),
        version: crate::monitoring::VERSION,
        checks: HealthChecks {
            database: DatabaseCheck {
                status: db_status,
                latency_ms: latency.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3),
            },
            uptime_seconds: state.lifecycle.uptime().as_secs(),
        },
    };
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(report))
}

/// One bounded round trip that also proves the schema is current.
async fn check_database(state: &AppState) -> (&'static str, Option<Duration>) {
    let timeout = Duration::from_millis(state.settings.database.health_timeout_ms);
    let started = Instant::now();
    match tokio::time::timeout(timeout, crate::db::schema_is_current(&state.health_db)).await {
        Ok(Ok(true)) => ("ok", Some(started.elapsed())),
        Ok(Ok(false)) => ("schema_behind", Some(started.elapsed())),
        Ok(Err(_)) | Err(_) => ("unreachable", None),
    }
}
