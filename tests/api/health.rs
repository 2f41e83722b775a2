//! Liveness, readiness and the health report: their shapes, and how they follow the schema and
//! the database going away and coming back.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::postgres::{PgCluster, blocking, private_cluster};
use crate::support::row_lock::blocked_by_row_lock;
use crate::support::wait::{readiness_becomes, within};
use crate::support::{TestApp, admin_url, assert_problem, fresh_database};

async fn get_json(app: &TestApp, base: &str, path: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {base}{path}: {e}"));
    let status = response.status();
    (status, response.json().await.expect("a JSON body"))
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    keys
}

/// `/health` has exactly the documented fields, whatever the verdict.
fn assert_report_shape(report: &Value) {
    assert_eq!(
        keys(report),
        ["checks", "status", "timestamp", "version"],
        "{report}"
    );
    assert_eq!(
        keys(&report["checks"]),
        ["database", "uptime_seconds"],
        "{report}"
    );
    assert_eq!(
        keys(&report["checks"]["database"]),
        ["latency_ms", "status"],
        "{report}"
    );
    assert_eq!(report["version"], echodiary::VERSION);
    assert!(report["checks"]["uptime_seconds"].is_u64(), "{report}");
    let timestamp = report["timestamp"].as_str().expect("a timestamp");
    assert!(timestamp.ends_with('Z'), "UTC: {timestamp}");
    let at = chrono::DateTime::parse_from_rfc3339(timestamp).expect("RFC 3339");
    let skew = (chrono::Utc::now() - at.to_utc()).num_seconds().abs();
    assert!(skew < 60, "the timestamp is now: {timestamp}");
}

/// `path` on the listener at `base` answers 200 `{"status": "ok"}`.
async fn assert_status_ok(app: &TestApp, base: &str, path: &str) {
    let (status, body) = get_json(app, base, path).await;
    assert_eq!(status, StatusCode::OK, "{base}");
    assert_eq!(body, json!({"status": "ok"}), "{base}");
}

/// On the listener at `base`, readiness is 503 and the report is degraded with this database
/// status; returns the report for further checks.
async fn assert_degraded(app: &TestApp, base: &str, database_status: &str) -> Value {
    let (status, _) = get_json(app, base, "/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{base}");
    let (status, report) = get_json(app, base, "/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{base}");
    assert_report_shape(&report);
    assert_eq!(report["status"], "degraded");
    assert_eq!(report["checks"]["database"]["status"], database_status);
    report
}

#[tokio::test]
async fn liveness_answers_200_ok_on_both_listeners() {
    within(Duration::from_secs(30), async {
        let app = TestApp::spawn().await;
        for base in [&app.base, &app.ops] {
            assert_status_ok(&app, base, "/health/live").await;
        }
    })
    .await;
}

#[tokio::test]
async fn readiness_and_the_health_report_are_200_on_both_listeners_once_migrated() {
    within(Duration::from_secs(30), async {
        let app = TestApp::spawn().await;
        for base in [&app.base, &app.ops] {
            assert_status_ok(&app, base, "/health/ready").await;

            let (status, report) = get_json(&app, base, "/health").await;
            assert_eq!(status, StatusCode::OK, "{base}");
            assert_report_shape(&report);
            assert_eq!(report["status"], "ok");
            assert_eq!(report["checks"]["database"]["status"], "ok");
            let latency = report["checks"]["database"]["latency_ms"].as_f64();
            assert!(
                latency.is_some_and(|ms| (0.0..1000.0).contains(&ms)),
                "{report}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn readiness_is_503_while_the_schema_is_behind_and_200_once_migrated() {
    within(Duration::from_secs(30), async {
        let url = fresh_database(&admin_url()).await;
        let app = TestApp::spawn_on(&url, &[], false).await;
        for base in [&app.base, &app.ops] {
            assert_degraded(&app, base, "schema_behind").await;
        }
        assert_eq!(app.get("/health/live").await.status(), StatusCode::OK);

        echodiary::db::migrate(&app.pool)
            .await
            .expect("migrations apply");
        for base in [&app.base, &app.ops] {
            let (status, _) = get_json(&app, base, "/health/ready").await;
            assert_eq!(status, StatusCode::OK, "{base}");
        }
    })
    .await;
}

#[tokio::test]
async fn readiness_is_503_while_the_database_is_stopped_and_recovers_without_a_restart() {
    within(Duration::from_secs(120), async {
        let cluster = private_cluster().await;
        let url = fresh_database(&cluster.url("postgres")).await;
        // The default acquire timeout (2 s) is what an outage looks like in production. Readiness
        // is checked on every probe here; reusing a pass is pinned down by its own test below.
        let app =
            TestApp::spawn_on(&url, &[("ECHODIARY__DATABASE__READY_CACHE_MS", "0")], true).await;
        let user = app.user().await;
        let entry = app
            .entry(&user, &json!({"content": "written before the outage"}))
            .await;
        let id = entry["id"].as_str().expect("id").to_owned();
        assert_eq!(app.get_ops("/health/ready").await.status(), StatusCode::OK);

        // A request caught mid-query by the shutdown must not fail badly either.
        let request = app
            .as_user(&user, Method::PATCH, &format!("/api/v1/entries/{id}"))
            .json(&json!({"title": "caught by the outage"}));
        let (lock, in_flight) =
            blocked_by_row_lock(&url, &id, async move { request.send().await }).await;

        blocking(&cluster, PgCluster::stop).await;
        let response = in_flight.await.expect("the PATCH task").expect("an answer");
        // A fast shutdown terminates the lock holder and the waiter in no fixed order: the waiter
        // either commits in between (200) or is cut off (503). Never a 500, never a hang.
        if response.status() != StatusCode::OK {
            assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
        }
        // The lock's connection was terminated with the server; dropping it is all that is left.
        drop(lock);

        for base in [&app.base, &app.ops] {
            let started = Instant::now();
            let (status, body) = get_json(&app, base, "/health/live").await;
            assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
            // Anything that touched the pool would take the 1 s health or 2 s acquire timeout.
            assert!(started.elapsed() < Duration::from_secs(1), "{base}");

            let report = assert_degraded(&app, base, "unreachable").await;
            assert!(report["checks"]["database"]["latency_ms"].is_null());
        }

        // Everything that needs the database answers a retryable 503 in bounded time.
        let entry_path = format!("/api/v1/entries/{id}");
        let requests = vec![
            app.as_user(&user, Method::GET, "/api/v1/entries"),
            app.as_user(&user, Method::GET, &entry_path),
            app.as_user(&user, Method::PATCH, &entry_path)
                .json(&json!({"title": "during the outage"})),
            app.as_user(&user, Method::DELETE, &entry_path),
            app.as_user(&user, Method::POST, "/api/v1/entries")
                .json(&json!({"content": "during the outage"})),
            app.as_user(&user, Method::GET, "/api/v1/users/me"),
            app.request(Method::POST, "/api/v1/auth/login")
                .json(&json!({"email": user.email, "password": crate::support::PASSWORD})),
            app.request(Method::POST, "/api/v1/auth/register")
                .json(&json!({"email": "new@example.com", "password": "a new password"})),
        ];
        let started = Instant::now();
        let pending: Vec<_> = requests
            .into_iter()
            .map(|request| tokio::spawn(request.send()))
            .collect();
        for (i, response) in pending.into_iter().enumerate() {
            let response = response.await.expect("task").expect("an answer");
            assert!(
                response.headers().contains_key("retry-after"),
                "request {i}: Retry-After"
            );
            assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "answered after {:?}",
            started.elapsed()
        );

        blocking(&cluster, PgCluster::restart).await;
        readiness_becomes(
            &app.client,
            &app.ops,
            StatusCode::OK,
            Duration::from_secs(30),
            "readiness back to 200",
        )
        .await;
        let response = app.as_user(&user, Method::GET, &entry_path).send().await;
        let response = response.expect("get after recovery");
        assert_eq!(response.status(), StatusCode::OK);
        let (status, report) = get_json(&app, &app.base, "/health").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(report["status"], "ok");
    })
    .await;
}

#[tokio::test]
async fn a_passing_readiness_check_is_reused_for_the_cache_interval_and_a_failing_one_never_is() {
    const REUSE: Duration = Duration::from_secs(5);
    within(Duration::from_secs(120), async {
        let cluster = private_cluster().await;
        let url = fresh_database(&cluster.url("postgres")).await;
        let reuse_ms = REUSE.as_millis().to_string();
        let app = TestApp::spawn_on(
            &url,
            &[("ECHODIARY__DATABASE__READY_CACHE_MS", reuse_ms.as_str())],
            true,
        )
        .await;
        assert_eq!(app.get_ops("/health/ready").await.status(), StatusCode::OK);
        let passed = Instant::now();

        blocking(&cluster, PgCluster::stop).await;
        // The detailed report always checks; readiness still answers from the recent pass.
        let (status, report) = get_json(&app, &app.ops, "/health").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{report}");
        let still_fresh = passed.elapsed() < REUSE - Duration::from_millis(500);
        let cached = app.get_ops("/health/ready").await.status();
        if still_fresh {
            assert_eq!(
                cached,
                StatusCode::OK,
                "a pass is reused within the interval"
            );
        }
        readiness_becomes(
            &app.client,
            &app.ops,
            StatusCode::SERVICE_UNAVAILABLE,
            REUSE + Duration::from_secs(3),
            "readiness 503 once the pass is older than the interval",
        )
        .await;
        assert!(passed.elapsed() >= REUSE || !still_fresh);

        // Failures are not reused: ready again as soon as the database is.
        blocking(&cluster, PgCluster::restart).await;
        let back = Instant::now();
        readiness_becomes(
            &app.client,
            &app.ops,
            StatusCode::OK,
            Duration::from_secs(3),
            "readiness back to 200 without waiting out the interval",
        )
        .await;
        assert!(back.elapsed() < REUSE, "{:?}", back.elapsed());
    })
    .await;
}
