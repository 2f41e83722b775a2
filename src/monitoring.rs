//! Prometheus metrics: the global recorder (installed by the server's start-up), what the request
//! middleware records, and the exposition text `/metrics` serves.
//!
//! Names, labels and buckets are a contract with the dashboards and alert rules
//! (see the README's metrics table); change them only together.

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::{GIT_SHA, VERSION};

/// Latency buckets from 1 ms to 10 s, so p50..p99 resolve anywhere a request or query can land.
/// 0.3 s is the latency SLO's threshold (prometheus/slo.yml): the share of requests within it is
/// read from that bucket.
const LATENCY_BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// `log_events_total`'s `level` values, one per tracing level (the telemetry layer counts lines).
pub(crate) const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

struct Exporter {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

/// Installs the process-wide recorder once; later calls (several apps in one test process) reuse it.
pub(crate) fn install() -> &'static PrometheusHandle {
    &EXPORTER
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(&LATENCY_BUCKETS)
                .expect("the bucket list is not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed in this process");
            describe();
            let process = metrics_process::Collector::default();
            process.describe();
            metrics::gauge!("app_build_info", "version" => VERSION, "git_sha" => GIT_SHA).set(1.0);
            register_counters();
            Exporter { handle, process }
        })
        .handle
}

fn describe() {
    describe_histogram!(
        "http_server_request_duration_seconds",
        Unit::Seconds,
        "Duration of finished HTTP requests by method, route template and status"
    );
    describe_gauge!("http_server_active_requests", "HTTP requests in flight");
    describe_counter!(
        "http_server_connections_cut_total",
        "Connections the server closed on a client that took too long: to send a request head \
         (header_timeout) or to read an answer (write_stall)"
    );
    describe_gauge!(
        "db_pool_connections",
        "Connections held by the pool, by state"
    );
    describe_gauge!("db_pool_max_connections", "The pool's configured ceiling");
    describe_histogram!(
        "db_pool_acquire_duration_seconds",
        Unit::Seconds,
        "Time spent waiting for a pooled connection"
    );
    describe_counter!(
        "db_pool_acquire_timeouts_total",
        "Requests that gave up waiting for a pooled connection (answered 503)"
    );
    describe_histogram!(
        "db_query_duration_seconds",
        Unit::Seconds,
        "Duration of database queries by operation"
    );
    describe_gauge!(
        "app_ready",
        "1 while the instance reports ready (database reachable, schema current, not shutting down)"
    );
    describe_gauge!("app_build_info", "Always 1; labels name the running build");
    describe_counter!("auth_login_attempts_total", "Login attempts by outcome");
    describe_counter!(
        "auth_sessions_revoked_total",
        "Sessions revoked, by reason (logout, password change or reset, account deletion, \
         refresh-token reuse, the owner signing out a device)"
    );
    describe_counter!(
        "auth_token_refreshes_total",
        "Refresh-token exchanges by outcome"
    );
    describe_counter!(
        "email_deliveries_total",
        "Emails handed to the SMTP server (sent) or given up on (failed), by kind"
    );
    describe_counter!(
        "diary_entries_written_total",
        "Diary entries created, updated or deleted"
    );
    describe_counter!("log_events_total", "Log lines written, by level");
}

/// Registers every counter series at zero. A series that first appears with its first event
/// hides that event from `increase()` and `rate()` (Prometheus has no earlier sample to compare
/// with), so the first pool timeout or failed login would never fire an alert; and a missing
/// series cannot be told apart from a broken scrape.
fn register_counters() {
    metrics::counter!("db_pool_acquire_timeouts_total").increment(0);
    for reason in ["header_timeout", "write_stall"] {
        metrics::counter!("http_server_connections_cut_total", "reason" => reason).increment(0);
    }
    for outcome in ["success", "failure", "rate_limited"] {
        metrics::counter!("auth_login_attempts_total", "outcome" => outcome).increment(0);
    }
    for operation in ["create", "update", "delete"] {
        metrics::counter!("diary_entries_written_total", "operation" => operation).increment(0);
    }
    for reason in [
        "logout",
        "password_change",
        "password_reset",
        "account_deleted",
        "refresh_reuse",
        "user_request",
    ] {
        metrics::counter!("auth_sessions_revoked_total", "reason" => reason).increment(0);
    }
    for outcome in ["success", "rejected"] {
        metrics::counter!("auth_token_refreshes_total", "outcome" => outcome).increment(0);
    }
    for level in LOG_LEVELS {
        metrics::counter!("log_events_total", "level" => level).increment(0);
    }
    for kind in crate::email::Kind::ALL {
        for outcome in ["sent", "failed"] {
            metrics::counter!("email_deliveries_total", "kind" => kind.label(), "outcome" => outcome)
                .increment(0);
        }
    }
}

/// Takes a request off `http_server_active_requests` however it ends. hyper drops the handler
/// future when the client goes away, and then nothing after its `.await` runs: a decrement
/// placed there would leave the gauge one higher for every abandoned request, for good.
pub(crate) struct InFlight(metrics::Gauge);

impl InFlight {
    pub(crate) fn start(method: &'static str) -> Self {
        let gauge = metrics::gauge!("http_server_active_requests", "method" => method);
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Records one finished request. The route label is the matched template (or `unmatched`) and the
/// method is one of the standard ones, so hostile paths or verbs cannot create new series.
pub(crate) fn record_request(
    method: &'static str,
    route: &str,
    status: StatusCode,
    latency: Duration,
) {
    metrics::histogram!(
        "http_server_request_duration_seconds",
        "method" => method,
        "route" => route.to_owned(),
        "status" => status.as_str().to_owned(),
    )
    .record(latency);
}

pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// How often histogram samples are folded into their buckets between scrapes.
pub(crate) const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Folds recorded histogram samples into their buckets; `server::run` does it every
/// [`UPKEEP_INTERVAL`]. The exporter keeps every raw sample until this happens; a scrape does it
/// too, but without one (Prometheus down, or no monitoring at all) each request's samples pile up:
/// the process grows for good (bench/README.md, "Where the time goes").
pub(crate) fn run_upkeep() {
    if let Some(exporter) = EXPORTER.get() {
        exporter.handle.run_upkeep();
    }
}

/// The exposition text of every metric, process figures collected now.
pub(crate) fn exposition() -> String {
    let Some(exporter) = EXPORTER.get() else {
        return String::new();
    };
    exporter.process.collect();
    exporter.handle.run_upkeep();
    exporter.handle.render()
}
