//! `/metrics` of the in-process app: served on the ops port only, the whole contract after
//! traffic, and login and entry-write counters that increase (never absolute values: the recorder
//! is shared with every other test in this binary).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{assert_contract, scrape};
use crate::support::exposition::Exposition;
use crate::support::wait::within;
use crate::support::{PASSWORD, TestApp, assert_problem, content_type};

#[tokio::test]
async fn metrics_are_served_on_the_ops_port_and_not_on_the_public_one() {
    within(Duration::from_secs(30), async {
        let app = TestApp::spawn().await;
        let response = app.get_ops("/metrics").await;
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = content_type(&response);
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
        let app = TestApp::spawn_with(&[(
            "ECHODIARY__AUTH__LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS",
            "2",
        )])
        .await;
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
