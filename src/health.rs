//! Liveness, readiness and the detailed health report, served on both listeners; and `/metrics`
//! on the ops listener, whose gauges report the same readiness and pool.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
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
        version: crate::VERSION,
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

/// `GET /metrics`: gauges that describe current state are refreshed now, so a scrape never reads
/// a stale pool or process figure.
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let ready = readiness(&state).await == "ok";
    metrics::gauge!("app_ready").set(if ready { 1.0 } else { 0.0 });
    let pool = state.db.pool();
    let idle = state.db.num_idle() as f64;
    let size = f64::from(pool.size());
    metrics::gauge!("db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("db_pool_connections", "state" => "in_use").set((size - idle).max(0.0));
    metrics::gauge!("db_pool_max_connections").set(f64::from(pool.options().get_max_connections()));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::monitoring::exposition(),
    )
}
