//! In-process lifecycle: pool exhaustion, migrations over a newer schema. Graceful shutdown and
//! its drain deadline are pinned on the real process (`serve_process.rs`), concurrent migrations
//! on two `echodiary migrate` processes (`cli.rs`).
//!
//! A request that must stay in flight is made deterministic with a row lock
//! (`support::row_lock`): a PATCH of the locked entry waits inside PostgreSQL while holding one of
//! the service's pooled connections, for exactly as long as the test wants.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::support::exposition::Exposition;
use crate::support::row_lock::{RowLock, blocked_by_row_lock};
use crate::support::wait::within;
use crate::support::{TestApp, TestUser, assert_problem, sqlx_connect};

/// Locks `entry_id` and sends a PATCH of it that waits on the lock; the handle yields its status
/// and body once it finishes.
async fn blocked_patch(
    app: &TestApp,
    user: &TestUser,
    entry_id: &str,
    title: &str,
) -> (RowLock, JoinHandle<(StatusCode, Value)>) {
    let request = app
        .as_user(user, Method::PATCH, &format!("/api/v1/entries/{entry_id}"))
        .json(&json!({ "title": title }));
    blocked_by_row_lock(&app.database_url, entry_id, async move {
        let response = request.send().await.expect("the PATCH gets an answer");
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    })
    .await
}

/// An app with one user and one entry, and settings that let a locked request wait long enough.
async fn app_with_entry(overrides: &[(&str, &str)]) -> (TestApp, TestUser, String) {
    let mut settings = vec![
        // The waits in these tests are ended by the test, never by a server-side timeout.
        ("ECHODIARY__DATABASE__STATEMENT_TIMEOUT_MS", "60000"),
        ("ECHODIARY__SERVER__REQUEST_TIMEOUT_MS", "60000"),
    ];
    settings.extend_from_slice(overrides);
    let app = TestApp::spawn_with(&settings).await;
    let user = app.user().await;
    let entry = app
        .entry(
            &user,
            &json!({"content": "held by a lock", "title": "before"}),
        )
        .await;
    let id = entry["id"].as_str().expect("an entry id").to_owned();
    (app, user, id)
}

async fn ops_metrics(app: &TestApp) -> Exposition {
    let response = app.get_ops("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    Exposition::parse(&response.text().await.expect("metrics text"))
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_with_retry_after_within_the_acquire_timeout() {
    within(Duration::from_secs(60), async {
        let (app, user, id) = app_with_entry(&[
            ("ECHODIARY__DATABASE__MAX_CONNECTIONS", "1"),
            ("ECHODIARY__DATABASE__MIN_CONNECTIONS", "1"),
            ("ECHODIARY__DATABASE__ACQUIRE_TIMEOUT_MS", "300"),
        ])
        .await;
        let timeouts_before = ops_metrics(&app)
            .await
            .value("db_pool_acquire_timeouts_total", &[])
            .unwrap_or(0.0);

        let (lock, patch) = blocked_patch(&app, &user, &id, "after").await;

        let started = Instant::now();
        let response = app.list_entries(&user, "").await;
        let elapsed = started.elapsed();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        assert!(
            retry_after.is_some_and(|secs| secs >= 1),
            "Retry-After: {retry_after:?}"
        );
        assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
        assert!(
            elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2),
            "answered after {elapsed:?}, expected about the 300 ms acquire timeout"
        );

        // Nothing that does not need the database waits for it.
        for base in [&app.base, &app.ops] {
            let started = Instant::now();
            let live = app
                .client
                .get(format!("{base}/health/live"))
                .send()
                .await
                .expect("live");
            assert_eq!(live.status(), StatusCode::OK);
            assert!(started.elapsed() < Duration::from_secs(1), "{base}");
        }
        // Readiness has a connection of its own: a busy pool is not a broken database, and every
        // replica dropping out of the load balancer at once would turn load into an outage.
        let ready = app.get_ops("/health/ready").await;
        assert_eq!(
            ready.status(),
            StatusCode::OK,
            "readiness while the pool is exhausted"
        );
        let started = Instant::now();
        let metrics = ops_metrics(&app).await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "metrics were slow"
        );
        let timeouts_after = metrics
            .value("db_pool_acquire_timeouts_total", &[])
            .expect("db_pool_acquire_timeouts_total is exposed");
        assert!(
            timeouts_after >= timeouts_before + 1.0,
            "{timeouts_before} -> {timeouts_after}"
        );
        assert!(
            metrics
                .value("http_server_active_requests", &[("method", "PATCH")])
                .is_some_and(|v| v >= 1.0),
            "the waiting PATCH is in flight"
        );

        assert!(!patch.is_finished(), "the PATCH waits for the lock");
        lock.release().await;
        let (status, body) = patch.await.expect("the PATCH task");
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["title"], "after");
        assert_eq!(app.list_entries(&user, "").await.status(), StatusCode::OK);
    })
    .await;
}

/// `(version, times recorded)` of every successfully applied migration.
async fn applied_migrations(database_url: &str) -> Vec<(i64, i64)> {
    let pool = sqlx_connect(database_url).await;
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT version, count(*) FROM _sqlx_migrations WHERE success GROUP BY version ORDER BY version",
    )
    .fetch_all(&pool)
    .await
    .expect("read _sqlx_migrations");
    pool.close().await;
    rows
}

pub(crate) async fn assert_schema_complete(database_url: &str) {
    let known: Vec<i64> = echodiary::db::MIGRATOR.iter().map(|m| m.version).collect();
    assert!(!known.is_empty(), "the binary embeds migrations");
    let applied = applied_migrations(database_url).await;
    let expected: Vec<(i64, i64)> = known.iter().map(|v| (*v, 1)).collect();
    assert_eq!(applied, expected, "each migration applied exactly once");
    let pool = sqlx_connect(database_url).await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name IN ('users', 'entries') ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("list tables");
    pool.close().await;
    assert_eq!(tables, ["entries", "users"]);
}

#[tokio::test]
async fn a_database_already_migrated_by_a_newer_release_still_migrates_and_is_ready() {
    within(Duration::from_secs(60), async {
        // A rolling deploy (or a rollback) starts this release's pods against a schema the next
        // release has already expanded; they must come up, not crash-loop.
        let app = TestApp::spawn().await;
        let future_version = 99_990_101_000_000_i64;
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, 'from a newer release', true, '\\x00'::bytea, 1)",
        )
        .bind(future_version)
        .execute(&app.pool)
        .await
        .expect("record a newer migration");
        echodiary::db::migrate(&app.pool)
            .await
            .expect("migrating with a newer schema in place succeeds");
        assert_eq!(app.get_ops("/health/ready").await.status(), StatusCode::OK);
    })
    .await;
}
