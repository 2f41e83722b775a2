//! `/metrics` of a freshly started `echodiary` process, which has a recorder of its own: exact
//! counts, only the `unmatched` series for unknown paths and verbs, and the active-requests gauge
//! returning to zero when a client disconnects.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{assert_contract, names, scrape};
use crate::support::PASSWORD;
use crate::support::exposition::Exposition;
use crate::support::process::{Service, account};
use crate::support::sensitive;
use crate::support::service_accounts::login_answer;
use crate::support::wait::{eventually, within};

#[tokio::test]
async fn a_fresh_process_exposes_the_contract_with_exact_counts() {
    within(Duration::from_secs(90), async {
        let service = Service::start(&[("ECHODIARY__DATABASE__MAX_CONNECTIONS", "7")]).await;
        let metrics = scrape(&service.client, &service.ops).await;
        // Before any traffic: the gauges describe the pool, and every counter is there at zero.
        assert_eq!(metrics.value("db_pool_max_connections", &[]), Some(7.0));
        assert_eq!(
            metrics.value("app_ready", &[]),
            Some(1.0),
            "ready on a migrated database"
        );
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
            ids.push(service.create_entry(&token, content).await);
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
        // The first scrape went through the ops listener's stack: neither counted nor logged.
        assert_eq!(
            metrics.value(
                "http_server_request_duration_seconds_count",
                &[("method", "GET"), ("route", "/metrics"), ("status", "200")]
            ),
            None,
            "scrapes are not API traffic"
        );
        let (stdout, _) = service.stop().await;
        let access: Vec<&str> = stdout
            .lines()
            .filter(|line| line.contains("request finished"))
            .collect();
        assert!(
            access.iter().any(|line| line.contains("/api/v1/entries")),
            "the public listener writes access lines: {stdout}"
        );
        assert!(
            !access.iter().any(|line| line.contains("/metrics")),
            "the ops listener writes none: {access:#?}"
        );
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
        let id = service.create_entry(&token, "locked").await;

        let (lock, patch) = service.blocked_patch(&token, &id, "abandoned").await;
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

#[tokio::test]
async fn a_fresh_process_counts_each_log_line_by_level() {
    within(Duration::from_secs(90), async {
        let service = Service::start(&[]).await;
        account(&service, "lines@example.com", PASSWORD).await;
        let answer = login_answer(&service, "lines@example.com", PASSWORD).await;
        let spent = answer["refresh_token"].as_str().expect("a refresh token");
        let lines = |metrics: &Exposition, level| {
            metrics
                .value("log_events_total", &[("level", level)])
                .unwrap_or_else(|| panic!("log_events_total{{level={level}}}"))
        };
        let before = scrape(&service.client, &service.ops).await;
        assert!(lines(&before, "info") > 0.0, "start-up and access lines");

        // A spent refresh token presented again: one warning line, and no error line.
        let refresh = |token: &str| {
            sensitive::record(token);
            service
                .client
                .post(service.url("/api/v1/auth/refresh"))
                .json(&json!({"refresh_token": token}))
                .send()
        };
        let rotated = refresh(spent).await.expect("refresh");
        assert_eq!(rotated.status(), StatusCode::OK);
        let pair: serde_json::Value = rotated.json().await.expect("token pair");
        for token in ["access_token", "refresh_token"] {
            sensitive::record(pair[token].as_str().expect("a token"));
        }
        let replayed = refresh(spent).await.expect("replayed refresh");
        assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);

        let after = scrape(&service.client, &service.ops).await;
        assert_eq!(lines(&after, "warn"), lines(&before, "warn") + 1.0);
        assert_eq!(lines(&after, "error"), lines(&before, "error"));
        assert!(lines(&after, "info") > lines(&before, "info"));
        service.stop().await;
    })
    .await;
}
