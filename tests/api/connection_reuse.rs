//! Connections that finished their work cleanly are reused without sqlx's test on return
//! (`src/db/lease.rs`). These pin that the pool's own promises still hold: idle connections are
//! released, `max_lifetime` replaces connections under steady load, a small pool serves a crowd
//! fairly, and a request cut off mid-query leaves nothing behind.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::row_lock::RowLock;
use crate::support::wait::{eventually, within};
use crate::support::{TestApp, TestUser, sqlx_connect};

async fn user_with_entry(app: &TestApp) -> (TestUser, String) {
    let user = app.user().await;
    let entry = app
        .entry(&user, &json!({"content": "reused", "title": "before"}))
        .await;
    let id = entry["id"].as_str().expect("an entry id").to_owned();
    (user, id)
}

async fn get_entry(app: &TestApp, user: &TestUser, id: &str) -> StatusCode {
    app.as_user(user, Method::GET, &format!("/api/v1/entries/{id}"))
        .send()
        .await
        .expect("an answer")
        .status()
}

/// Backends of the request pool (the health check pool has its own connection, which never
/// reads entries), with their age in seconds.
async fn request_pool_backend_ages(database_url: &str) -> Vec<f64> {
    let observer = sqlx_connect(database_url).await;
    let ages: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM now() - backend_start)::float8 FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'echodiary'
            AND query LIKE '%FROM entries%'",
    )
    .fetch_all(&observer)
    .await
    .expect("pg_stat_activity");
    observer.close().await;
    ages
}

#[tokio::test]
async fn connections_left_idle_after_a_burst_go_back_to_the_pool_and_close() {
    within(Duration::from_secs(60), async {
        let app = TestApp::spawn_with(&[
            ("ECHODIARY__DATABASE__MAX_CONNECTIONS", "4"),
            ("ECHODIARY__DATABASE__MIN_CONNECTIONS", "0"),
            ("ECHODIARY__DATABASE__IDLE_TIMEOUT_SECS", "1"),
        ])
        .await;
        let (user, id) = user_with_entry(&app).await;
        for _ in 0..3 {
            let burst = join_all((0..16).map(|_| get_entry(&app, &user, &id))).await;
            assert!(burst.iter().all(|s| *s == StatusCode::OK), "{burst:?}");
        }
        assert!(app.pool.size() > 0, "the burst opened connections");
        eventually(
            Duration::from_secs(15),
            "every connection closed after the idle timeout",
            || async { app.pool.size() == 0 },
        )
        .await;
        // And the pool opens new ones when work comes back.
        assert_eq!(get_entry(&app, &user, &id).await, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn connections_are_replaced_after_max_lifetime_under_steady_load() {
    within(Duration::from_secs(60), async {
        let app = TestApp::spawn_with(&[
            ("ECHODIARY__DATABASE__MAX_CONNECTIONS", "2"),
            ("ECHODIARY__DATABASE__MAX_LIFETIME_SECS", "1"),
        ])
        .await;
        let (user, id) = user_with_entry(&app).await;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(4) {
            assert_eq!(get_entry(&app, &user, &id).await, StatusCode::OK);
        }
        let ages = request_pool_backend_ages(&app.database_url).await;
        assert!(!ages.is_empty(), "the load used the request pool");
        assert!(
            ages.iter().all(|age| *age < 2.5),
            "a connection outlived max_lifetime (1 s) under steady load: ages {ages:?} s"
        );
    })
    .await;
}

#[tokio::test]
async fn a_small_pool_serves_a_crowd_of_requests_without_a_timeout() {
    within(Duration::from_secs(60), async {
        let app = TestApp::spawn_with(&[
            ("ECHODIARY__DATABASE__MAX_CONNECTIONS", "2"),
            ("ECHODIARY__DATABASE__ACQUIRE_TIMEOUT_MS", "5000"),
            // The crowd's registrations all come from 127.0.0.1; this is about the pool.
            ("ECHODIARY__AUTH__REGISTER_MAX_PER_ADDRESS", "1000"),
        ])
        .await;
        let (user, id) = user_with_entry(&app).await;
        // Readers and writers: reads, misses (404) and duplicate registrations (409, found
        // without a database error) all share the two connections.
        let reads = (0..150).map(|_| async { get_entry(&app, &user, &id).await });
        let missing = (0..25).map(|_| async {
            let path = format!("/api/v1/entries/{}", uuid::Uuid::new_v4());
            let response = app.as_user(&user, Method::GET, &path).send().await;
            response.expect("an answer").status()
        });
        let duplicates = (0..25).map(|_| async {
            app.register(&user.email, "another password 1")
                .await
                .status()
        });
        let (reads, missing, duplicates) =
            tokio::join!(join_all(reads), join_all(missing), join_all(duplicates));
        assert!(reads.iter().all(|s| *s == StatusCode::OK), "{reads:?}");
        assert!(
            missing.iter().all(|s| *s == StatusCode::NOT_FOUND),
            "{missing:?}"
        );
        assert!(
            duplicates.iter().all(|s| *s == StatusCode::CONFLICT),
            "{duplicates:?}"
        );
        assert!(
            app.pool.size() <= 2,
            "the pool stayed within max_connections"
        );
    })
    .await;
}

#[tokio::test]
async fn a_request_cut_off_mid_query_leaves_a_working_connection() {
    within(Duration::from_secs(60), async {
        let app = TestApp::spawn_with(&[
            ("ECHODIARY__DATABASE__MAX_CONNECTIONS", "1"),
            ("ECHODIARY__DATABASE__STATEMENT_TIMEOUT_MS", "60000"),
            ("ECHODIARY__SERVER__REQUEST_TIMEOUT_MS", "500"),
        ])
        .await;
        let (user, id) = user_with_entry(&app).await;
        let lock = RowLock::take(&app.database_url, &id).await;
        let cut = app
            .as_user(&user, Method::PATCH, &format!("/api/v1/entries/{id}"))
            .json(&json!({"title": "after"}))
            .send()
            .await
            .expect("an answer");
        assert!(
            cut.status().is_server_error(),
            "the PATCH waiting on the lock is cut off by the request timeout: {}",
            cut.status()
        );
        lock.release().await;
        // The only connection served the cut-off query; the next requests get it back in a
        // state where their own queries answer, with what the database holds.
        let entry = app
            .as_user(&user, Method::GET, &format!("/api/v1/entries/{id}"))
            .send()
            .await
            .expect("an answer");
        assert_eq!(entry.status(), StatusCode::OK);
        let body: serde_json::Value = entry.json().await.expect("json");
        let title = body["title"].as_str().expect("a title").to_owned();
        for _ in 0..5 {
            let again = app
                .as_user(&user, Method::GET, &format!("/api/v1/entries/{id}"))
                .send()
                .await
                .expect("an answer");
            assert_eq!(again.status(), StatusCode::OK);
            let body: serde_json::Value = again.json().await.expect("json");
            assert_eq!(body["title"], title.as_str());
        }
        assert_eq!(app.list_entries(&user, "").await.status(), StatusCode::OK);
    })
    .await;
}

/// Ends every request-pool backend from the server side, as a database restart or failover does.
async fn terminate_request_pool_backends(database_url: &str) -> usize {
    let observer = sqlx_connect(database_url).await;
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'echodiary'
            AND query LIKE '%FROM entries%'",
    )
    .fetch_all(&observer)
    .await
    .expect("pg_terminate_backend");
    observer.close().await;
    ended.into_iter().filter(|ok| *ok).count()
}

#[tokio::test]
async fn by_default_a_connection_killed_while_idle_fails_one_request_and_is_replaced() {
    within(Duration::from_secs(60), async {
        let app = TestApp::spawn_with(&[("ECHODIARY__DATABASE__MAX_CONNECTIONS", "1")]).await;
        let (user, id) = user_with_entry(&app).await;
        assert_eq!(get_entry(&app, &user, &id).await, StatusCode::OK);
        assert_eq!(terminate_request_pool_backends(&app.database_url).await, 1);
        let statuses = [
            get_entry(&app, &user, &id).await,
            get_entry(&app, &user, &id).await,
            get_entry(&app, &user, &id).await,
        ];
        assert_eq!(
            statuses,
            [
                StatusCode::SERVICE_UNAVAILABLE,
                StatusCode::OK,
                StatusCode::OK
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn with_test_before_acquire_a_connection_killed_while_idle_fails_no_request() {
    within(Duration::from_secs(60), async {
        let app = TestApp::spawn_with(&[
            ("ECHODIARY__DATABASE__MAX_CONNECTIONS", "1"),
            ("ECHODIARY__DATABASE__TEST_BEFORE_ACQUIRE", "true"),
        ])
        .await;
        let (user, id) = user_with_entry(&app).await;
        assert_eq!(get_entry(&app, &user, &id).await, StatusCode::OK);
        assert_eq!(terminate_request_pool_backends(&app.database_url).await, 1);
        for _ in 0..3 {
            assert_eq!(get_entry(&app, &user, &id).await, StatusCode::OK);
        }
    })
    .await;
}
