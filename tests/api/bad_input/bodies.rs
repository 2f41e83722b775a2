//! Bad request bodies: malformed JSON (400), wrong types, non-objects, missing, unknown or
//! repeated fields (422 naming the field), a non-JSON content type (415) and oversize bodies (413).

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::{an_entry, send_raw};
use crate::support::assert_rejects;
use crate::support::{TestApp, TestUser, assert_problem};

async fn post_entry_raw(app: &TestApp, user: &TestUser, body: &str) -> Response {
    let body = body.to_owned();
    send_raw(
        app,
        Some(user),
        Method::POST,
        "/api/v1/entries",
        Some("application/json"),
        body,
    )
    .await
}

async fn patch_entry_raw(app: &TestApp, user: &TestUser, id: &str, body: &str) -> Response {
    let path = format!("/api/v1/entries/{id}");
    let body = body.to_owned();
    send_raw(
        app,
        Some(user),
        Method::PATCH,
        &path,
        Some("application/json"),
        body,
    )
    .await
}

#[tokio::test]
async fn malformed_json_answers_400_with_a_problem() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let id = an_entry(&app, &user).await;
    for body in [
        "",
        "{",
        "not json",
        "{\"content\": \"x\",}",
        "{'content': 'x'}",
        "{\"content\": \"x\"} trailing",
        "{\"content\": \"x\"}{}",
        "{\"content\": \"\\q\"}",
        "{\"content\": \"x\", \"tags\": [\"a\" \"b\"]}",
        "{\"content\": NaN}",
    ] {
        let response = post_entry_raw(&app, &user, body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert!(problem["detail"].is_string(), "{body}");
        let response = patch_entry_raw(&app, &user, &id, body).await;
        assert_problem(response, StatusCode::BAD_REQUEST).await;
    }
    // Bytes that are not UTF-8 at all.
    let response = send_raw(
        &app,
        Some(&user),
        Method::POST,
        "/api/v1/entries",
        Some("application/json"),
        b"{\"content\": \"\xff\xfe\"}".to_vec(),
    )
    .await;
    assert_problem(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn json_of_the_wrong_type_answers_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let id = an_entry(&app, &user).await;
    let cases = [
        (r#"{"content": 5}"#, "content"),
        (r#"{"content": null}"#, "content"),
        (r#"{"content": ["x"]}"#, "content"),
        (r#"{"content": "x", "title": 5}"#, "title"),
        (r#"{"content": "x", "title": false}"#, "title"),
        (r#"{"content": "x", "mood": 3}"#, "mood"),
        (r#"{"content": "x", "mood": {}}"#, "mood"),
        (r#"{"content": "x", "mood": ["good"]}"#, "mood"),
        (r#"{"content": "x", "mood": true}"#, "mood"),
        (r#"{"content": "x", "tags": "work"}"#, "tags"),
        (r#"{"content": "x", "tags": {"work": true}}"#, "tags"),
        (r#"{"content": "x", "tags": ["ok", 1]}"#, "tags[1]"),
        (r#"{"content": "x", "tags": [null]}"#, "tags[0]"),
        (r#"{"content": "x", "entry_date": 20260209}"#, "entry_date"),
        (
            r#"{"content": "x", "entry_date": {"year": 2026}}"#,
            "entry_date",
        ),
        // Well-formed JSON (RFC 8259 allows the escape) but not a Unicode string.
        (r#"{"content": "\ud800"}"#, "content"),
        (r#"{"content": "x", "tags": ["\udc00"]}"#, "tags[0]"),
    ];
    for (body, field) in cases {
        assert_rejects(post_entry_raw(&app, &user, body).await, field, body).await;
    }
    let cases = [
        (r#"{"content": 5}"#, "content"),
        (r#"{"title": 5}"#, "title"),
        (r#"{"mood": 1}"#, "mood"),
        (r#"{"tags": "a"}"#, "tags"),
        (r#"{"tags": [1]}"#, "tags[0]"),
        (r#"{"entry_date": true}"#, "entry_date"),
    ];
    for (body, field) in cases {
        assert_rejects(patch_entry_raw(&app, &user, &id, body).await, field, body).await;
    }
}

#[tokio::test]
async fn a_body_that_is_not_an_object_answers_422_naming_the_body() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let id = an_entry(&app, &user).await;
    for body in [
        "null",
        "[]",
        "[{\"content\": \"x\"}]",
        "\"content\"",
        "42",
        "true",
    ] {
        assert_rejects(post_entry_raw(&app, &user, body).await, "body", body).await;
        assert_rejects(patch_entry_raw(&app, &user, &id, body).await, "body", body).await;
    }
}

#[tokio::test]
async fn missing_required_fields_answer_422_naming_them() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    for body in [
        "{}",
        r#"{"title": "only a title"}"#,
        r#"{"mood": "good", "tags": []}"#,
    ] {
        assert_rejects(post_entry_raw(&app, &user, body).await, "content", body).await;
    }
}

#[tokio::test]
async fn unknown_or_repeated_fields_answer_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let id = an_entry(&app, &user).await;
    for (body, field) in [
        (r#"{"content": "x", "colour": "red"}"#, "colour"),
        (r#"{"content": "x", "Content": "y"}"#, "Content"),
        (r#"{"content": "x", "version": 7}"#, "version"),
        (
            r#"{"content": "x", "created_at": "2026-01-01T00:00:00Z"}"#,
            "created_at",
        ),
        (
            r#"{"content": "x", "user_id": "00000000-0000-0000-0000-000000000000"}"#,
            "user_id",
        ),
        (r#"{"content": "a", "content": "b"}"#, "content"),
    ] {
        assert_rejects(post_entry_raw(&app, &user, body).await, field, body).await;
    }
    for (body, field) in [
        (r#"{"id": "00000000-0000-0000-0000-000000000000"}"#, "id"),
        (r#"{"version": 99}"#, "version"),
        (r#"{"content": "y", "updated_at": null}"#, "updated_at"),
        (r#"{"title": "a", "title": null}"#, "title"),
    ] {
        assert_rejects(patch_entry_raw(&app, &user, &id, body).await, field, body).await;
    }
    let entry: Value = app
        .as_user(&user, Method::GET, &format!("/api/v1/entries/{id}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("JSON");
    assert_eq!(entry["version"], 1, "a rejected patch changed the entry");
}

#[tokio::test]
async fn a_body_without_a_json_content_type_answers_415() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let id = an_entry(&app, &user).await;
    let body = r#"{"content": "x"}"#;
    let patch_path = format!("/api/v1/entries/{id}");
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonp"),
        Some("application/xml"),
        Some("json"),
        Some(""),
    ] {
        for (method, path) in [
            (Method::POST, "/api/v1/entries"),
            (Method::PATCH, patch_path.as_str()),
        ] {
            let response =
                send_raw(&app, Some(&user), method.clone(), path, content_type, body).await;
            let problem = assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
            assert!(problem["detail"].is_string(), "{content_type:?}");
        }
    }
    // JSON is still JSON with parameters, in any case, or as a +json type.
    for content_type in [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
    ] {
        let response = send_raw(
            &app,
            Some(&user),
            Method::POST,
            "/api/v1/entries",
            Some(content_type),
            body,
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED, "{content_type}");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_answers_413_with_a_problem() {
    let app = TestApp::spawn_with(&[("ECHODIARY__SERVER__BODY_LIMIT_BYTES", "1024")]).await;
    let user = app.user().await;
    let id = an_entry(&app, &user).await;
    // Within the limit: accepted.
    let fits = json!({"content": "x".repeat(900)});
    assert_eq!(
        app.create_entry(&user, &fits).await.status(),
        StatusCode::CREATED
    );
    // Valid under the contract (content up to 20000 characters) but over this deployment's limit.
    let big = json!({"content": "x".repeat(2000)});
    let response = app.create_entry(&user, &big).await;
    let problem = assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(problem["detail"].is_string());
    let response = app
        .as_user(&user, Method::PATCH, &format!("/api/v1/entries/{id}"))
        .json(&big)
        .send()
        .await
        .expect("patch");
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    // Size is judged before syntax: a huge broken body is still 413.
    let response = post_entry_raw(&app, &user, &"{".repeat(5000)).await;
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    let response = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "big@example.com", "password": "x".repeat(2000)}),
        )
        .await;
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    let count: Vec<String> = crate::entries::listed_ids(&app, &user, "?limit=100").await;
    assert_eq!(count.len(), 2, "an over-limit body created an entry");
}
