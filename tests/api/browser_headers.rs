//! What browsers and caches are told: CORS for the configured origins only (error answers
//! included), `no-store` on private answers, `nosniff` everywhere. The docs page's CSP is pinned in
//! `docs`, caller request ids in `request_ids`.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::json;

use crate::support::in_process::InProcess;
use crate::support::{PASSWORD, TestApp, assert_problem, sensitive};

const APP_ORIGIN: &str = "https://app.example.com";

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

fn cors_headers(response: &Response) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

/// A browser's preflight for a bearer-token call with a JSON body.
fn preflight(request: RequestBuilder, origin: &str, method: &str) -> RequestBuilder {
    request
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
}

#[tokio::test]
async fn a_listed_origin_gets_what_a_browser_needs_for_bearer_token_calls() {
    let app = TestApp::spawn_with(&[(
        "ECHODIARY__SERVER__CORS_ALLOWED_ORIGINS",
        "https://other.example.com,https://app.example.com",
    )])
    .await;
    let response = preflight(
        app.request(Method::OPTIONS, "/api/v1/entries"),
        APP_ORIGIN,
        "POST",
    )
    .send()
    .await
    .expect("preflight");
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(APP_ORIGIN)
    );
    let methods = header(&response, "access-control-allow-methods").unwrap_or_default();
    for method in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let allowed = header(&response, "access-control-allow-headers").unwrap_or_default();
    for name in ["authorization", "content-type", "if-match", "if-none-match"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    assert!(header(&response, "access-control-max-age").is_some());
    assert!(header(&response, "vary").is_some_and(|v| v.contains("origin")));

    // The actual calls, errors included: a browser app must be able to read a 401 or a 422.
    let user = app.user().await;
    let created = app
        .as_user(&user, Method::POST, "/api/v1/entries")
        .header("origin", APP_ORIGIN)
        .json(&json!({"content": "from the browser"}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(
        header(&created, "access-control-allow-origin"),
        Some(APP_ORIGIN)
    );
    let exposed = header(&created, "access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in ["location", "etag", "x-request-id", "retry-after"] {
        assert!(exposed.contains(name), "{exposed}");
    }
    let unauthenticated = app
        .request(Method::GET, "/api/v1/users/me")
        .header("origin", APP_ORIGIN)
        .send()
        .await
        .expect("me");
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&unauthenticated, "access-control-allow-origin"),
        Some(APP_ORIGIN)
    );
    // No cookies are involved, so credentials mode is never allowed.
    assert!(header(&created, "access-control-allow-credentials").is_none());
}

#[tokio::test]
async fn an_unlisted_origin_gets_no_cors_headers_at_all() {
    let app = InProcess::new(&[("ECHODIARY__SERVER__CORS_ALLOWED_ORIGINS", APP_ORIGIN)]);
    for origin in [
        "https://evil.example.com",
        "https://app.example.com.evil.example",
        "null",
    ] {
        let request = preflight(
            app.request(Method::OPTIONS, "/api/v1/entries"),
            origin,
            "DELETE",
        );
        let response = app.send(request).await;
        assert_eq!(cors_headers(&response), Vec::<String>::new(), "{origin}");
        let call = app
            .send(
                app.request(Method::GET, "/api/v1/users/me")
                    .header("origin", origin),
            )
            .await;
        assert_eq!(cors_headers(&call), Vec::<String>::new(), "{origin}");
        // The answer still depends on the origin, so a shared cache must keep them apart.
        assert!(header(&call, "vary").is_some_and(|v| v.contains("origin")));
    }
}

#[tokio::test]
async fn error_answers_to_a_listed_origin_carry_cors_headers_so_the_app_can_read_them() {
    let app = TestApp::spawn_with(&[
        ("ECHODIARY__SERVER__CORS_ALLOWED_ORIGINS", APP_ORIGIN),
        ("ECHODIARY__AUTH__REGISTER_MAX_PER_ADDRESS", "1"),
    ])
    .await;
    let user = app.user().await;
    let from_app = |method: Method, path: &str| {
        app.as_user(&user, method, path)
            .header("origin", APP_ORIGIN)
    };
    let second_account = "second@example.com";
    sensitive::record(second_account);
    let answers = [
        (
            app.request(Method::GET, "/api/v1/users/me")
                .header("origin", APP_ORIGIN)
                .send()
                .await,
            StatusCode::UNAUTHORIZED,
        ),
        (
            from_app(
                Method::GET,
                &format!("/api/v1/entries/{}", uuid::Uuid::new_v4()),
            )
            .send()
            .await,
            StatusCode::NOT_FOUND,
        ),
        // Made by the router's fallback, not a handler: rewritten as a problem on the way out.
        (
            from_app(Method::GET, "/api/v1/no-such-route").send().await,
            StatusCode::NOT_FOUND,
        ),
        (
            from_app(Method::POST, "/api/v1/entries")
                .json(&json!({"content": ""}))
                .send()
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            app.request(Method::POST, "/api/v1/auth/register")
                .header("origin", APP_ORIGIN)
                .json(&json!({"email": second_account, "password": PASSWORD}))
                .send()
                .await,
            StatusCode::TOO_MANY_REQUESTS,
        ),
    ];
    for (response, status) in answers {
        let response = response.expect("an answer");
        let url = response.url().clone();
        assert_eq!(response.status(), status, "{url}");
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            Some(APP_ORIGIN),
            "{url}"
        );
        let exposed = header(&response, "access-control-expose-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(
            exposed.contains("x-request-id") && exposed.contains("retry-after"),
            "{url}: {exposed}"
        );
        assert!(header(&response, "vary").is_some_and(|v| v.contains("origin")));
        // The routes' answers are never stored; the router's own 404 for an unknown path holds
        // nothing of anyone's and may be.
        if url.path() != "/api/v1/no-such-route" {
            assert_eq!(
                header(&response, "cache-control"),
                Some("no-store"),
                "{url}"
            );
        }
        assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(header(&response, "retry-after").is_some(), "{url}");
        }
        assert_problem(response, status).await;
    }
}

#[tokio::test]
async fn without_configured_origins_no_answer_carries_cors_headers() {
    let app = InProcess::new(&[]);
    let request = preflight(
        app.request(Method::OPTIONS, "/api/v1/entries"),
        APP_ORIGIN,
        "POST",
    );
    let response = app.send(request).await;
    assert_eq!(cors_headers(&response), Vec::<String>::new());
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn private_answers_are_never_stored_and_nothing_is_sniffed() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = app
        .entry(&user, &json!({"content": "secret thoughts"}))
        .await;
    let login = app.login(&user.email, PASSWORD).await;
    let private = [
        login,
        app.as_user(&user, Method::GET, "/api/v1/users/me")
            .send()
            .await
            .expect("me"),
        app.list_entries(&user, "").await,
        app.as_user(
            &user,
            Method::GET,
            &format!("/api/v1/entries/{}", entry["id"].as_str().expect("id")),
        )
        .send()
        .await
        .expect("get"),
        app.get("/api/v1/entries").await,
    ];
    for response in &private {
        assert_eq!(
            header(response, "cache-control"),
            Some("no-store"),
            "{}",
            response.url()
        );
        assert_eq!(header(response, "x-content-type-options"), Some("nosniff"));
    }
    for response in [
        app.get("/health").await,
        app.get_ops("/metrics").await,
        app.get("/nope").await,
    ] {
        assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
    }
}
