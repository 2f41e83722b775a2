//! How the service's pool talks to PostgreSQL: statement timeout, identification, UUIDv7 keys.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn every_pooled_connection_runs_under_the_configured_statement_timeout() {
    let app = TestApp::spawn_with(&[("ECHODIARY__DATABASE__STATEMENT_TIMEOUT_MS", "1234")]).await;
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&app.pool)
        .await
        .expect("SHOW");
    assert_eq!(timeout, "1234ms");
    let error = sqlx::query("SELECT pg_sleep(2)")
        .execute(&app.pool)
        .await
        .expect_err("cancelled by the statement timeout");
    let code = error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("57014"), "{error}");
}

#[tokio::test]
async fn the_service_identifies_itself_to_postgresql() {
    let app = TestApp::spawn().await;
    let name: String = sqlx::query_scalar("SELECT current_setting('application_name')")
        .fetch_one(&app.pool)
        .await
        .expect("application_name");
    assert_eq!(name, "echodiary");
}

#[tokio::test]
async fn entry_ids_are_time_ordered_uuid_v7() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let entry = app
            .entry(&user, &json!({"content": format!("entry {n}")}))
            .await;
        let id = uuid::Uuid::parse_str(entry["id"].as_str().expect("id")).expect("a UUID");
        assert_eq!(id.get_version_num(), 7);
        ids.push(id);
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "later entries sort after earlier ones");
    let response = app.get("/health/ready").await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// CI runs the suite once per PostgreSQL major version and names the one it expects, so a harness
/// that silently fell back to other binaries cannot pass as a run on the production version.
#[tokio::test]
async fn the_server_under_test_is_the_major_version_ci_asked_for() {
    let Ok(expected) = std::env::var("ECHODIARY_TEST_EXPECT_PG_MAJOR") else {
        return;
    };
    let app = TestApp::spawn().await;
    let version: String = sqlx::query_scalar("SHOW server_version_num")
        .fetch_one(&app.pool)
        .await
        .expect("server_version_num");
    let major = version.parse::<u32>().expect("numeric") / 10_000;
    assert_eq!(major.to_string(), expected, "server_version_num {version}");
}
