//! Bad input of every kind gets the contract's 4xx problem, never a 5xx, and every answer carries
//! a request id.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, TestUser, assert_problem, error_fields};

/// Sends raw bytes with an optional Content-Type, as a broken client would.
async fn send_raw(
    app: &TestApp,
    user: Option<&TestUser>,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Response {
    let mut request = match user {
        Some(user) => app.as_user(user, method, path),
        None => app.request(method, path),
    };
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.body(body).send().await.expect("request")
}

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

async fn an_entry(app: &TestApp, user: &TestUser) -> String {
    let entry = app.entry(user, &json!({"content": "x"})).await;
    entry["id"].as_str().expect("an id").to_owned()
}

/// Asserts a 422 whose `errors` name exactly `field`.
async fn assert_rejects(response: Response, field: &str, case: &str) {
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&problem), [field], "{case}: {problem}");
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
        (Method::DELETE, "/api/v1/users/me", "GET"),
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

/// Sweeps many kinds of broken input: whatever the exact status, it is a 4xx with a problem body.
#[tokio::test]
async fn no_malformed_request_ever_gets_a_5xx() {
    let app = TestApp::spawn_with(&[("ECHODIARY__SERVER__BODY_LIMIT_BYTES", "65536")]).await;
    let user = app.user().await;
    let id = an_entry(&app, &user).await;
    let entry = format!("/api/v1/entries/{id}");
    let deep = format!("{}{}", "[".repeat(2000), "]".repeat(2000));
    let deep_field = format!("{{\"content\": \"x\", \"tags\": {deep}}}");
    let mut bodies: Vec<String> = vec![
        String::new(),
        " ".into(),
        "\u{feff}{\"content\": \"x\"}".into(),
        "{\"content\": \"\\u0000\"}".into(),
        "{\"content\": \"x\", \"title\": \"a\\u0000\"}".into(),
        "{\"content\": \"x\", \"tags\": [\"\\u0000\"]}".into(),
        "{\"content\": \"x\", \"entry_date\": \"-5000-01-01\"}".into(),
        "{\"content\": \"x\", \"entry_date\": \"+262142-12-31\"}".into(),
        "{\"content\": \"x\", \"entry_date\": \"99999-01-01\"}".into(),
        "{\"content\": \"x\", \"entry_date\": \"0000-00-00\"}".into(),
        "{\"content\": \"x\", \"mood\": 1e400}".into(),
        "{\"content\": 1e400}".into(),
        "{\"content\": 18446744073709551616}".into(),
        "{\"content\": \"x\", \"tags\": [[[[[]]]]]}".into(),
        deep.clone(),
        deep_field,
        "{\"content\": \"\\udc00\"}".into(),
        "{\"\\u0000\": 1}".into(),
        format!("{{\"content\": \"{}\"}}", "x".repeat(60_000)),
        format!(
            "{{\"content\": \"x\", \"tags\": [{}]}}",
            vec!["\"t\""; 5000].join(",")
        ),
    ];
    bodies.extend(["null", "[]", "{}", "1", "\"s\"", "{\"content\": {}}"].map(str::to_owned));

    let mut checked = 0;
    let mut check = async |response: Response, case: &str| {
        let status = response.status();
        assert!(status.is_client_error(), "{case}: {status}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(content_type, "application/problem+json", "{case}: {status}");
        let problem: Value = response.json().await.expect("problem JSON");
        assert_eq!(problem["status"], status.as_u16(), "{case}");
        checked += 1;
    };
    for body in &bodies {
        let short: String = body.chars().take(60).collect();
        for (method, path) in [
            (Method::POST, "/api/v1/entries"),
            (Method::PATCH, entry.as_str()),
        ] {
            for content_type in [Some("application/json"), Some("text/plain"), None] {
                let response = send_raw(
                    &app,
                    Some(&user),
                    method.clone(),
                    path,
                    content_type,
                    body.clone(),
                )
                .await;
                check(
                    response,
                    &format!("{method} {path} {content_type:?} {short:?}"),
                )
                .await;
            }
        }
    }

    use base64::Engine as _;
    let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let long = "x".repeat(5000);
    let queries = [
        "limit=0".to_owned(),
        "limit=-9223372036854775808".into(),
        "limit=9223372036854775807".into(),
        "limit=%00".into(),
        "cursor=%00".into(),
        "cursor=%FF%FE".into(),
        format!("cursor={long}"),
        format!("cursor={}", b64(&format!("-5000-01-01|{id}"))),
        format!("cursor={}", b64(&format!("+262142-12-31|{id}"))),
        format!("cursor={}", b64(&format!("2026-01-01|{id}\u{0}"))),
        "from=-5000-01-01".into(),
        "from=+262142-12-31".into(),
        "to=0000-00-00".into(),
        "from=2026-01-01&to=2025-01-01".into(),
        "mood=%00".into(),
        "q=%00".into(),
        "tag=%00".into(),
        format!("q={long}"),
        format!("tag={long}"),
        "q".into(),
        "limit".into(),
        "=&=&&".into(),
        "limit[]=1".into(),
        "mood[]=good".into(),
        "%FF=1".into(),
    ];
    for query in &queries {
        let response = app.list_entries(&user, &format!("?{query}")).await;
        let short: String = query.chars().take(60).collect();
        check(response, &format!("GET ?{short}")).await;
    }

    for path in [
        "/api/v1/entries/%00",
        "/api/v1/entries/%FF",
        "/api/v1/entries/00000000-0000-0000-0000-000000000000x",
        "/api/v1/entries/%7B00000000-0000-0000-0000-000000000000",
    ] {
        for method in [Method::GET, Method::DELETE, Method::PUT] {
            let response = app
                .as_user(&user, method.clone(), path)
                .send()
                .await
                .expect("send");
            check(response, &format!("{method} {path}")).await;
        }
    }

    for if_match in [
        "garbage",
        "\"",
        "W/",
        "\"99999999999999999999\"",
        "\"-1\"",
        "\"1\"\"2\"",
    ] {
        let response = app
            .as_user(&user, Method::PATCH, &entry)
            .header("if-match", if_match)
            .json(&json!({"content": "y"}))
            .send()
            .await
            .expect("patch");
        check(response, &format!("If-Match {if_match:?}")).await;
    }
    let expected = bodies.len() * 2 * 3 + queries.len() + 4 * 3 + 6;
    assert_eq!(checked, expected, "not every case was checked");

    // The entry survived all of it unchanged.
    let response = app
        .as_user(&user, Method::GET, &entry)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::OK);
    let after: Value = response.json().await.expect("JSON");
    assert_eq!(
        (after["content"].as_str(), after["version"].as_i64()),
        (Some("x"), Some(1))
    );
}
