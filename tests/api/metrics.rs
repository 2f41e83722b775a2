//! `/metrics`: where it is served, and that it carries the observability contract
//! (docs: observability.md) with the names, types and labels dashboards and alerts read.
//!
//! The recorder is global to the process, so the in-process tests share it with every other test
//! in this binary: they assert presence and increments, never absolute values. Exact values are
//! checked against a freshly started `echodiary` process, which has a recorder of its own.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::Service;
use crate::lifecycle::{RowLock, eventually, wait_for_lock_waiters, within};
use crate::support::{PASSWORD, TestApp, assert_problem};

/// One sample line of the text exposition.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

/// A parsed Prometheus text exposition.
#[derive(Debug)]
pub(crate) struct Exposition {
    types: HashMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    pub(crate) fn parse(text: &str) -> Self {
        let mut types = HashMap::new();
        let mut samples = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split_whitespace();
                if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                    types.insert(name.to_owned(), kind.to_owned());
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            samples.push(parse_sample(line));
        }
        Self { types, samples }
    }

    pub(crate) fn type_of(&self, family: &str) -> Option<&str> {
        self.types.get(family).map(String::as_str)
    }

    pub(crate) fn samples(&self, name: &str) -> impl Iterator<Item = &Sample> {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// The sum of every sample of `name` whose labels include all of `labels`.
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<f64> = self
            .samples(name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .collect();
        (!matching.is_empty()).then(|| matching.iter().sum())
    }

    /// The label names every sample of `name` carries, failing when samples disagree.
    fn label_names(&self, name: &str) -> BTreeSet<String> {
        let mut sets = self
            .samples(name)
            .map(|s| s.labels.keys().cloned().collect::<BTreeSet<_>>());
        let first = sets
            .next()
            .unwrap_or_else(|| panic!("no samples of {name}"));
        for other in sets {
            assert_eq!(
                other, first,
                "{name}: every sample has the same label names"
            );
        }
        first
    }

    fn label_values(&self, name: &str, label: &str) -> BTreeSet<String> {
        self.samples(name)
            .filter_map(|s| s.labels.get(label).cloned())
            .collect()
    }

    /// Every distinct label set of the request histogram, as `method route status`.
    pub(crate) fn request_series(&self) -> BTreeSet<String> {
        self.samples("http_server_request_duration_seconds_count")
            .map(|s| {
                let get = |k: &str| s.labels.get(k).cloned().unwrap_or_default();
                format!("{} {} {}", get("method"), get("route"), get("status"))
            })
            .collect()
    }
}

fn parse_sample(line: &str) -> Sample {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => panic!("a sample line without a value: {line}"),
    };
    let mut labels = BTreeMap::new();
    let mut rest = rest;
    if let Some(body) = rest.strip_prefix('{') {
        // Label values may hold braces (`/api/v1/entries/{id}`) and escaped quotes.
        let mut chars = body.char_indices();
        let mut key = String::new();
        let end = loop {
            let (i, c) = chars
                .next()
                .unwrap_or_else(|| panic!("unclosed labels: {line}"));
            match c {
                '}' => break i + 1,
                ',' | ' ' => {}
                '=' => {
                    assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                    let mut value = String::new();
                    loop {
                        match chars.next().map(|(_, c)| c) {
                            Some('\\') => match chars.next().map(|(_, c)| c) {
                                Some('n') => value.push('\n'),
                                Some(other) => value.push(other),
                                None => panic!("bad escape: {line}"),
                            },
                            Some('"') => break,
                            Some(other) => value.push(other),
                            None => panic!("unterminated label value: {line}"),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                other => key.push(other),
            }
        };
        rest = &body[end..];
    }
    let value = rest
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no value: {line}"));
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value {v:?}: {line}")),
    };
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

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

#[tokio::test]
async fn metrics_are_served_on_the_ops_port_and_not_on_the_public_one() {
    within(Duration::from_secs(30), async {
        let app = TestApp::spawn().await;
        let response = app.get_ops("/metrics").await;
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        let metrics = Exposition::parse(&response.text().await.expect("text"));
        assert!(metrics.value("app_build_info", &[]).is_some());

        assert_problem(app.get("/metrics").await, StatusCode::NOT_FOUND).await;
    })
    .await;
}

#[tokio::test]
async fn after_traffic_every_contract_metric_is_exposed_with_its_type_and_labels() {
    within(Duration::from_secs(60), async {
        let app = TestApp::spawn().await;
        let user = app.user().await;
        app.login(&user.email, "not the password").await;
        let entry = app
            .entry(&user, &json!({"content": "metrics traffic"}))
            .await;
        let id = entry["id"].as_str().expect("id");
        let path = format!("/api/v1/entries/{id}");
        let get = app.as_user(&user, Method::GET, &path).send().await;
        assert_eq!(get.expect("get").status(), StatusCode::OK);
        let patch = app
            .as_user(&user, Method::PATCH, &path)
            .json(&json!({"mood": "good"}))
            .send()
            .await;
        assert_eq!(patch.expect("patch").status(), StatusCode::OK);
        assert_eq!(app.list_entries(&user, "").await.status(), StatusCode::OK);
        let delete = app.as_user(&user, Method::DELETE, &path).send().await;
        assert_eq!(delete.expect("delete").status(), StatusCode::NO_CONTENT);
        assert_eq!(
            app.get("/no/such/route").await.status(),
            StatusCode::NOT_FOUND
        );

        let metrics = scrape(&app.client, &app.ops).await;
        assert_contract(&metrics);
        let series = metrics.request_series();
        for expected in [
            "POST /api/v1/auth/register 201",
            "POST /api/v1/auth/login 200",
            "POST /api/v1/auth/login 401",
            "POST /api/v1/entries 201",
            "GET /api/v1/entries 200",
            "GET /api/v1/entries/{id} 200",
            "PATCH /api/v1/entries/{id} 200",
            "DELETE /api/v1/entries/{id} 204",
            "GET unmatched 404",
        ] {
            assert!(
                series.contains(expected),
                "no series {expected}: {series:#?}"
            );
        }
        assert!(
            !series.iter().any(|s| s.contains(id)),
            "a raw path reached a label"
        );
        let operations = metrics.label_values("db_query_duration_seconds_count", "operation");
        for operation in [
            "users_insert",
            "users_get_credentials",
            "entries_create",
            "entries_get",
            "entries_update",
            "entries_list",
            "entries_delete",
        ] {
            assert!(
                operations.contains(operation),
                "{operation}: {operations:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn login_outcomes_and_entry_writes_are_counted() {
    within(Duration::from_secs(60), async {
        let app =
            TestApp::spawn_with(&[("ECHODIARY__AUTH__LOGIN_MAX_FAILURES_PER_ACCOUNT", "2")]).await;
        let user = app.user().await;
        let before = scrape(&app.client, &app.ops).await;
        let count = |metrics: &Exposition, name: &str, label: &str, value: &str| {
            metrics.value(name, &[(label, value)]).unwrap_or(0.0)
        };

        assert_eq!(
            app.login(&user.email, PASSWORD).await.status(),
            StatusCode::OK
        );
        for _ in 0..2 {
            let wrong = app.login(&user.email, "wrong password").await;
            assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        }
        let limited = app.login(&user.email, "wrong password").await;
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        let entry = app.entry(&user, &json!({"content": "counted"})).await;
        let path = format!("/api/v1/entries/{}", entry["id"].as_str().expect("id"));
        let patch = app
            .as_user(&user, Method::PATCH, &path)
            .json(&json!({"title": "counted too"}))
            .send()
            .await;
        assert_eq!(patch.expect("patch").status(), StatusCode::OK);
        let delete = app.as_user(&user, Method::DELETE, &path).send().await;
        assert_eq!(delete.expect("delete").status(), StatusCode::NO_CONTENT);

        let after = scrape(&app.client, &app.ops).await;
        for (name, label, value, at_least) in [
            ("auth_login_attempts_total", "outcome", "success", 1.0),
            ("auth_login_attempts_total", "outcome", "failure", 2.0),
            ("auth_login_attempts_total", "outcome", "rate_limited", 1.0),
            ("diary_entries_written_total", "operation", "create", 1.0),
            ("diary_entries_written_total", "operation", "update", 1.0),
            ("diary_entries_written_total", "operation", "delete", 1.0),
        ] {
            let (was, is) = (
                count(&before, name, label, value),
                count(&after, name, label, value),
            );
            assert!(
                is >= was + at_least,
                "{name}{{{label}={value}}}: {was} -> {is}"
            );
        }
    })
    .await;
}

/// Registers, logs in and returns a bearer token, against a service started by the test.
pub(crate) async fn account(service: &Service, email: &str, password: &str) -> String {
    let body = json!({"email": email, "password": password});
    let registered = service
        .client
        .post(service.url("/api/v1/auth/register"))
        .json(&body)
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let login = service
        .client
        .post(service.url("/api/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::OK);
    let token: Value = login.json().await.expect("token JSON");
    token["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

#[tokio::test]
async fn a_fresh_process_exposes_the_contract_with_exact_counts() {
    within(Duration::from_secs(90), async {
        let service = Service::start(&[("ECHODIARY__DATABASE__MAX_CONNECTIONS", "7")]).await;
        let metrics = scrape(&service.client, &service.ops).await;
        // Before any traffic: the gauges describe the pool, and every counter is there at zero.
        assert_eq!(metrics.value("db_pool_max_connections", &[]), Some(7.0));
        assert_eq!(
            metrics.value("db_pool_acquire_timeouts_total", &[]),
            Some(0.0)
        );
        for outcome in ["success", "failure", "rate_limited"] {
            assert_eq!(
                metrics.value("auth_login_attempts_total", &[("outcome", outcome)]),
                Some(0.0),
                "{outcome}"
            );
        }
        for operation in ["create", "update", "delete"] {
            assert_eq!(
                metrics.value("diary_entries_written_total", &[("operation", operation)]),
                Some(0.0),
                "{operation}"
            );
        }

        let token = account(&service, "fresh@example.com", PASSWORD).await;
        let wrong = service
            .client
            .post(service.url("/api/v1/auth/login"))
            .json(&json!({"email": "fresh@example.com", "password": "wrong password"}))
            .send()
            .await
            .expect("login");
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let mut ids = Vec::new();
        for content in ["one", "two"] {
            let created = service
                .client
                .post(service.url("/api/v1/entries"))
                .bearer_auth(&token)
                .json(&json!({ "content": content }))
                .send()
                .await
                .expect("create");
            assert_eq!(created.status(), StatusCode::CREATED);
            let entry: Value = created.json().await.expect("entry");
            ids.push(entry["id"].as_str().expect("id").to_owned());
        }
        let path = service.url(&format!("/api/v1/entries/{}", ids[0]));
        let patched = service
            .client
            .patch(&path)
            .bearer_auth(&token)
            .json(&json!({"title": "t"}))
            .send()
            .await
            .expect("patch");
        assert_eq!(patched.status(), StatusCode::OK);
        let deleted = service
            .client
            .delete(&path)
            .bearer_auth(&token)
            .send()
            .await
            .expect("delete");
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

        let metrics = scrape(&service.client, &service.ops).await;
        assert_contract(&metrics);
        let exact = [
            ("auth_login_attempts_total", "outcome", "success", 1.0),
            ("auth_login_attempts_total", "outcome", "failure", 1.0),
            ("auth_login_attempts_total", "outcome", "rate_limited", 0.0),
            ("diary_entries_written_total", "operation", "create", 2.0),
            ("diary_entries_written_total", "operation", "update", 1.0),
            ("diary_entries_written_total", "operation", "delete", 1.0),
        ];
        for (name, label, value, expected) in exact {
            assert_eq!(
                metrics.value(name, &[(label, value)]),
                Some(expected),
                "{name}{{{label}={value}}}"
            );
        }
        assert_eq!(
            metrics.value(
                "http_server_request_duration_seconds_count",
                &[
                    ("method", "POST"),
                    ("route", "/api/v1/entries"),
                    ("status", "201")
                ]
            ),
            Some(2.0)
        );
        assert_eq!(metrics.value("db_pool_max_connections", &[]), Some(7.0));
        let idle = metrics.value("db_pool_connections", &[("state", "idle")]);
        let in_use = metrics.value("db_pool_connections", &[("state", "in_use")]);
        assert!(
            matches!((idle, in_use), (Some(i), Some(u)) if i >= 0.0 && u >= 0.0 && i + u <= 7.0),
            "idle {idle:?}, in use {in_use:?}"
        );
        assert_eq!(
            metrics.value("http_server_active_requests", &[]),
            Some(0.0),
            "nothing is in flight"
        );
        service.stop().await;
    })
    .await;
}

#[tokio::test]
async fn unknown_paths_and_verbs_add_only_the_unmatched_series() {
    within(Duration::from_secs(90), async {
        let service = Service::start(&[]).await;
        let warm_up = service.client.get(service.url("/health/live")).send().await;
        assert_eq!(warm_up.expect("live").status(), StatusCode::OK);
        let before = scrape(&service.client, &service.ops).await.request_series();

        let brew = Method::from_bytes(b"BREW").expect("an extension method");
        for i in 0..100 {
            let token = uuid::Uuid::new_v4().simple().to_string();
            let path = match i % 4 {
                0 => format!("/{token}"),
                1 => format!("/api/v1/{token}"),
                2 => format!("/api/v1/entries/{token}/{token}"),
                _ => format!("/{token}/{i}/deeper/{token}.php"),
            };
            let method = if i % 10 == 0 {
                brew.clone()
            } else {
                Method::GET
            };
            let response = service
                .client
                .request(method, service.url(&path))
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        }

        let metrics = scrape(&service.client, &service.ops).await;
        let after = metrics.request_series();
        let added: BTreeSet<String> = after.difference(&before).cloned().collect();
        assert_eq!(
            added,
            names(&["GET unmatched 404", "other unmatched 404"]),
            "series before: {before:#?}"
        );
        assert!(before.is_subset(&after), "no series disappeared");
        let unmatched = |method: &str| {
            metrics.value(
                "http_server_request_duration_seconds_count",
                &[("method", method), ("route", "unmatched")],
            )
        };
        assert_eq!(unmatched("GET"), Some(90.0));
        assert_eq!(unmatched("other"), Some(10.0));
        service.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_active_requests_gauge_returns_to_zero_when_a_client_disconnects() {
    within(Duration::from_secs(90), async {
        let service = Service::start(&[
            ("ECHODIARY__DATABASE__STATEMENT_TIMEOUT_MS", "60000"),
            ("ECHODIARY__SERVER__REQUEST_TIMEOUT_MS", "60000"),
        ])
        .await;
        let token = account(&service, "gauge@example.com", PASSWORD).await;
        let created = service
            .client
            .post(service.url("/api/v1/entries"))
            .bearer_auth(&token)
            .json(&json!({"content": "locked"}))
            .send()
            .await
            .expect("create");
        let entry: Value = created.json().await.expect("entry");
        let id = entry["id"].as_str().expect("id").to_owned();

        let lock = RowLock::take(service.database_url(), &id).await;
        let patch = tokio::spawn(
            service
                .client
                .patch(service.url(&format!("/api/v1/entries/{id}")))
                .bearer_auth(&token)
                .json(&json!({"title": "abandoned"}))
                .send(),
        );
        wait_for_lock_waiters(service.database_url(), 1).await;
        let in_flight = |metrics: &Exposition| {
            metrics.value("http_server_active_requests", &[("method", "PATCH")])
        };
        let metrics = scrape(&service.client, &service.ops).await;
        assert_eq!(in_flight(&metrics), Some(1.0));

        // The client gives up: the connection closes and the server drops the request.
        patch.abort();
        let _ = patch.await;
        let (client, ops) = (service.client.clone(), service.ops.clone());
        eventually(
            Duration::from_secs(5),
            "the PATCH leaving http_server_active_requests",
            || {
                let (client, ops) = (client.clone(), ops.clone());
                async move { in_flight(&scrape(&client, &ops).await) == Some(0.0) }
            },
        )
        .await;
        lock.release().await;
        service.stop().await;
    })
    .await;
}
