//! Bad requests around the body: path ids that are not UUIDs, invalid query values, unknown
//! routes (404), wrong methods (405 with `Allow`), and the request id on every answer.

use reqwest::{Method, Response, StatusCode};
use serde_json::json;

use super::an_entry;
use crate::support::assert_rejects;
use crate::support::{TestApp, TestUser, assert_problem};

#[tokio::test]
async fn a_path_id_that_is_not_a_uuid_answers_422_naming_id() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    for id in [
        "123",
        "not-a-uuid",
        "00000000-0000-0000-0000-00000000000g",
        "00000000-0000-0000-0000-0000000000000",
        "%00",
        "%20",
        "x.y",
        "%F0%9F%98%80",
    ] {
        let path = format!("/api/v1/entries/{id}");
        for method in [Method::GET, Method::DELETE] {
            let response = app
                .as_user(&user, method.clone(), &path)
                .send()
                .await
                .expect("send");
            assert_rejects(response, "id", &format!("{method} {path}")).await;
        }
        let response = app
            .as_user(&user, Method::PATCH, &path)
            .json(&json!({"content": "x"}))
            .send()
            .await
            .expect("patch");
        assert_rejects(response, "id", &format!("PATCH {path}")).await;
    }
}

#[tokio::test]
async fn unknown_or_invalid_query_values_answer_422_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    for (query, field) in [
        ("mood=happy", "mood"),
        ("mood=Good", "mood"),
        ("mood=", "mood"),
        ("from=yesterday", "from"),
        ("from=2026-02-30", "from"),
        ("from=2026-2-1", "from"),
        ("from=", "from"),
        ("to=2026-13-01", "to"),
        ("to=-5000-01-01", "to"),
        ("tag=", "tag"),
        ("tag=tag", "tag"),
        ("q=", "q"),
        ("q=%00", "q"),
        ("tag=a%00b", "tag"),
        ("limit=1&limit=2", "limit"),
        ("sort=asc", "sort"),
        ("page=2", "page"),
    ] {
        // `tag=tag` is fine; swap in a 33-character tag for that row.
        let query = if query == "tag=tag" {
            format!("tag={}", "t".repeat(33))
        } else {
            query.to_owned()
        };
        let response = app.list_entries(&user, &format!("?{query}")).await;
        assert_rejects(response, field, &query).await;
    }
    let response = app
        .list_entries(&user, &format!("?q={}", "w".repeat(201)))
        .await;
    assert_rejects(response, "q", "q of 201 characters").await;
    for fine in [
        "q=%22unbalanced",
        "q=-",
        "q=a%20%7C%20%26%20!%20(",
        "tag=%FF",
        "q=the",
    ] {
        let response = app.list_entries(&user, &format!("?{fine}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{fine}");
    }
}

#[tokio::test]
async fn from_after_to_answers_422_naming_from() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let response = app
        .list_entries(&user, "?from=2026-02-10&to=2026-02-09")
        .await;
    assert_rejects(response, "from", "from after to").await;
    let same_day = app
        .list_entries(&user, "?from=2026-02-09&to=2026-02-09")
        .await;
    assert_eq!(same_day.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_route_answers_404_with_a_problem() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let id = uuid::Uuid::now_v7();
    for path in [
        "/",
        "/api",
        "/api/v1",
        "/api/v1/nothing-here",
        "/api/v2/entries",
        "/api/v1/entry",
        &format!("/api/v1/entries/{id}/comments"),
        "/api/v1/entries/",
    ] {
        let anonymous = app.request(Method::GET, path).send().await.expect("send");
        assert_problem(anonymous, StatusCode::NOT_FOUND).await;
        let signed_in = app
            .as_user(&user, Method::GET, path)
            .send()
            .await
            .expect("send");
        assert_problem(signed_in, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test]
async fn a_wrong_method_answers_405_with_a_problem_and_allow() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = format!("/api/v1/entries/{}", uuid::Uuid::now_v7());
    for (method, path, allowed) in [
        (Method::PUT, "/api/v1/entries", "POST"),
        (Method::DELETE, "/api/v1/entries", "GET"),
        (Method::PATCH, "/api/v1/entries", "POST"),
        (Method::POST, entry.as_str(), "PATCH"),
        (Method::PUT, entry.as_str(), "DELETE"),
        (Method::GET, "/api/v1/auth/login", "POST"),
        (Method::PUT, "/api/v1/users/me", "GET"),
    ] {
        let response = app
            .as_user(&user, method.clone(), path)
            .send()
            .await
            .expect("send");
        let allow = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(allow.contains(allowed), "{method} {path}: Allow {allow:?}");
        assert!(
            !allow.contains(method.as_str()),
            "{method} {path}: Allow {allow:?}"
        );
        assert_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    }
}

/// One request of the request-id check and the status it must get.
struct Probe<'a> {
    method: Method,
    path: String,
    user: Option<&'a TestUser>,
    body: Option<(&'static str, String)>,
    status: StatusCode,
}

fn probe<'a>(
    method: Method,
    path: impl Into<String>,
    user: Option<&'a TestUser>,
    status: StatusCode,
) -> Probe<'a> {
    Probe {
        method,
        path: path.into(),
        user,
        body: None,
        status,
    }
}

impl Probe<'_> {
    fn with_body(mut self, content_type: &'static str, body: impl Into<String>) -> Self {
        self.body = Some((content_type, body.into()));
        self
    }

    async fn send(&self, app: &TestApp, request_id: Option<&str>) -> Response {
        let mut request = match self.user {
            Some(user) => app.as_user(user, self.method.clone(), &self.path),
            None => app.request(self.method.clone(), &self.path),
        };
        if let Some((content_type, body)) = &self.body {
            request = request
                .header("content-type", *content_type)
                .body(body.clone());
        }
        if let Some(id) = request_id {
            request = request.header("x-request-id", id);
        }
        request.send().await.expect("send")
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_the_clients() {
    let app = TestApp::spawn_with(&[("ECHODIARY__SERVER__BODY_LIMIT_BYTES", "1024")]).await;
    let user = app.user().await;
    let id = an_entry(&app, &user).await;
    let entry = format!("/api/v1/entries/{id}");
    let me = Some(&user);
    let json = "application/json";
    let cases = [
        probe(Method::GET, "/api/v1/entries", me, StatusCode::OK),
        probe(Method::GET, &entry, me, StatusCode::OK),
        probe(Method::GET, "/health/live", None, StatusCode::OK),
        probe(
            Method::GET,
            "/api/v1/entries",
            None,
            StatusCode::UNAUTHORIZED,
        ),
        probe(Method::GET, "/nowhere", None, StatusCode::NOT_FOUND),
        probe(
            Method::DELETE,
            format!("/api/v1/entries/{}", uuid::Uuid::now_v7()),
            me,
            StatusCode::NOT_FOUND,
        ),
        probe(
            Method::PUT,
            "/api/v1/entries",
            me,
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        probe(
            Method::GET,
            "/api/v1/entries?limit=0",
            me,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        probe(
            Method::GET,
            "/api/v1/entries/nope",
            me,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        probe(Method::PATCH, &entry, me, StatusCode::UNPROCESSABLE_ENTITY).with_body(json, "{}"),
        probe(Method::POST, "/api/v1/entries", me, StatusCode::BAD_REQUEST).with_body(json, "{"),
        probe(
            Method::POST,
            "/api/v1/entries",
            me,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        )
        .with_body("text/plain", "x"),
        probe(
            Method::POST,
            "/api/v1/entries",
            me,
            StatusCode::PAYLOAD_TOO_LARGE,
        )
        .with_body(json, format!("{{\"content\": \"{}\"}}", "x".repeat(2000))),
    ];
    let mut generated = std::collections::HashSet::new();
    for case in &cases {
        let name = format!("{} {}", case.method, case.path);
        let response = case.send(&app, None).await;
        assert_eq!(response.status(), case.status, "{name}");
        let made = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(!made.is_empty(), "{name}: no x-request-id");
        assert!(
            generated.insert(made.clone()),
            "{name}: request id {made} reused"
        );

        let response = case.send(&app, Some("client-chosen-id-42")).await;
        assert_eq!(response.status(), case.status, "{name} with an id");
        assert_eq!(
            response
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok()),
            Some("client-chosen-id-42"),
            "{name}: the client's request id was not echoed"
        );
    }
}
