//! `/metrics`: where it is served, and that it carries the observability contract
//! (docs: observability.md) with the names, types and labels dashboards and alerts read.
//!
//! The recorder is global to the process, so the in-process tests share it with every other test
//! in this binary: they assert presence and increments, never absolute values. Exact values are
//! checked against a freshly started `echodiary` process, which has a recorder of its own.
//!
//! This file holds the contract check and the scrape helper; the tests live in `in_process` and
//! `fresh_process`.

mod fresh_process;
mod in_process;

use std::collections::BTreeSet;

use reqwest::StatusCode;

use crate::support::exposition::Exposition;

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn assert_histogram(metrics: &Exposition, family: &str, labels: &[&str]) {
    assert_eq!(metrics.type_of(family), Some("histogram"), "{family} type");
    let bucket = format!("{family}_bucket");
    let mut with_le = labels.to_vec();
    with_le.push("le");
    assert_eq!(metrics.label_names(&bucket), names(&with_le), "{bucket}");
    assert_eq!(
        metrics.label_names(&format!("{family}_count")),
        names(labels)
    );
    assert_eq!(metrics.label_names(&format!("{family}_sum")), names(labels));
    let bounds: Vec<f64> = metrics
        .samples(&bucket)
        .filter_map(|s| s.labels.get("le"))
        .map(|le| match le.as_str() {
            "+Inf" => f64::INFINITY,
            le => le.parse().expect("a numeric bucket bound"),
        })
        .collect();
    // A p95 must resolve anywhere between 1 ms and 10 s.
    for wanted in [0.001, 10.0, f64::INFINITY] {
        assert!(
            bounds
                .iter()
                .any(|b| *b == wanted || (b - wanted).abs() < 1e-9),
            "{family} has a bucket bound at {wanted}: {bounds:?}"
        );
    }
}

/// A gauge or counter with exactly these label names.
fn assert_scalar(metrics: &Exposition, name: &str, kind: &str, labels: &[&str]) {
    assert_eq!(metrics.type_of(name), Some(kind), "{name} type");
    assert_eq!(metrics.label_names(name), names(labels), "{name} labels");
}

/// Every metric of observability.md with its type, its label names, and the label values that
/// form a closed set. Histograms only appear once observed, so call this after some traffic.
pub(crate) fn assert_contract(metrics: &Exposition) {
    assert_histogram(
        metrics,
        "http_server_request_duration_seconds",
        &["method", "route", "status"],
    );
    assert_scalar(metrics, "http_server_active_requests", "gauge", &["method"]);
    assert_scalar(metrics, "db_pool_connections", "gauge", &["state"]);
    assert_eq!(
        metrics.label_values("db_pool_connections", "state"),
        names(&["idle", "in_use"])
    );
    assert_scalar(metrics, "db_pool_max_connections", "gauge", &[]);
    assert_histogram(metrics, "db_pool_acquire_duration_seconds", &[]);
    assert_scalar(metrics, "db_pool_acquire_timeouts_total", "counter", &[]);
    assert_histogram(metrics, "db_query_duration_seconds", &["operation"]);
    assert_scalar(metrics, "app_build_info", "gauge", &["version", "git_sha"]);
    assert_eq!(
        metrics.value(
            "app_build_info",
            &[
                ("version", echodiary::VERSION),
                ("git_sha", echodiary::GIT_SHA)
            ]
        ),
        Some(1.0)
    );
    // Counters a rule takes `increase()` of must exist from the start, at zero: Prometheus cannot
    // see the first increment of a series that appears with its first event.
    assert_scalar(
        metrics,
        "auth_login_attempts_total",
        "counter",
        &["outcome"],
    );
    assert_eq!(
        metrics.label_values("auth_login_attempts_total", "outcome"),
        names(&["failure", "rate_limited", "success"])
    );
    assert_scalar(
        metrics,
        "diary_entries_written_total",
        "counter",
        &["operation"],
    );
    assert_eq!(
        metrics.label_values("diary_entries_written_total", "operation"),
        names(&["create", "delete", "update"])
    );
    assert_scalar(metrics, "log_events_total", "counter", &["level"]);
    assert_eq!(
        metrics.label_values("log_events_total", "level"),
        names(&["debug", "error", "info", "trace", "warn"])
    );
    for (name, kind) in [
        ("process_resident_memory_bytes", "gauge"),
        ("process_cpu_seconds_total", "counter"),
        ("process_open_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
    ] {
        assert_scalar(metrics, name, kind, &[]);
    }
    let positive = |name: &str| metrics.value(name, &[]).is_some_and(|v| v > 0.0);
    assert!(positive("process_resident_memory_bytes"));
    assert!(positive("process_open_fds"));
    assert!(
        metrics
            .value("process_start_time_seconds", &[])
            .is_some_and(|t| t > 1.6e9),
        "start time is a Unix timestamp"
    );
}

async fn scrape(client: &reqwest::Client, ops: &str) -> Exposition {
    let response = client
        .get(format!("{ops}/metrics"))
        .send()
        .await
        .expect("scrape /metrics");
    assert_eq!(response.status(), StatusCode::OK);
    Exposition::parse(&response.text().await.expect("metrics text"))
}
