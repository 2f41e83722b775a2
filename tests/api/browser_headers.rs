//! What browsers and caches are told: CORS for the configured origins only, `no-store` on private
//! answers, `nosniff` everywhere, a CSP on the docs page, and request ids a caller cannot abuse.

use reqwest::{Method, Response, StatusCode};
use serde_json::json;

use crate::support::{PASSWORD, TestApp};

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

async fn preflight(app: &TestApp, origin: &str, method: &str) -> Response {
    app.request(Method::OPTIONS, "/api/v1/entries")
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("preflight")
}

#[tokio::test]
async fn a_listed_origin_gets_what_a_browser_needs_for_bearer_token_calls() {
    let app = TestApp::spawn_with(&[(
        "ECHODIARY__SERVER__CORS_ALLOWED_ORIGINS",
        "https://other.example.com,https://app.example.com",
    )])
    .await;
    let response = preflight(&app, APP_ORIGIN, "POST").await;
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
    for name in ["authorization", "content-type", "if-match"] {
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
    let app = TestApp::spawn_with(&[("ECHODIARY__SERVER__CORS_ALLOWED_ORIGINS", APP_ORIGIN)]).await;
    for origin in [
        "https://evil.example.com",
        "https://app.example.com.evil.example",
        "null",
    ] {
        let response = preflight(&app, origin, "DELETE").await;
        assert_eq!(cors_headers(&response), Vec::<String>::new(), "{origin}");
        let call = app
            .request(Method::GET, "/api/v1/users/me")
            .header("origin", origin)
            .send()
            .await
            .expect("me");
        assert_eq!(cors_headers(&call), Vec::<String>::new(), "{origin}");
    }
}

#[tokio::test]
async fn without_configured_origins_no_answer_carries_cors_headers() {
    let app = TestApp::spawn().await;
    let response = preflight(&app, APP_ORIGIN, "POST").await;
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

#[tokio::test]
async fn the_docs_page_has_a_csp_that_its_own_scripts_and_styles_satisfy() {
    let app = TestApp::spawn().await;
    let page = app.get("/docs/").await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = header(&page, "content-security-policy")
        .expect("a CSP")
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("script-src 'self' 'unsafe"),
        "{csp}"
    );
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let html = page.text().await.expect("the page");
    // Inline scripts would be blocked by that policy: every script must be a file of this origin.
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert!(!scripts.is_empty(), "{html}");
    for script in scripts {
        let (tag, rest) = script.split_once('>').expect("a script tag");
        let src = tag
            .split("src=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("an inline script: {script}"));
        assert!(
            rest.split("</script>")
                .next()
                .is_some_and(|body| body.trim().is_empty())
        );
        assert!(!src.contains("//"), "a script from elsewhere: {src}");
        let file = app
            .get(&format!("/docs/{}", src.trim_start_matches("./")))
            .await;
        assert_eq!(file.status(), StatusCode::OK, "{src}");
    }
    for attribute in [" onload=", " onclick=", " onerror=", "javascript:"] {
        assert!(!html.contains(attribute), "{attribute} in {html}");
    }
}

#[tokio::test]
async fn only_short_plain_request_ids_are_taken_from_the_caller() {
    let app = TestApp::spawn().await;
    let echoed = |id: String| {
        let app = &app;
        async move {
            let response = app
                .request(Method::GET, "/health/live")
                .header("x-request-id", id)
                .send()
                .await
                .expect("live");
            header(&response, "x-request-id").expect("an id").to_owned()
        }
    };
    let fine = "abc.DEF_123-xyz".to_owned();
    assert_eq!(echoed(fine.clone()).await, fine);
    let longest = "a".repeat(64);
    assert_eq!(echoed(longest.clone()).await, longest);
    for unusable in [
        "x".repeat(8000),
        "a".repeat(65),
        "two words".into(),
        "<script>".into(),
    ] {
        let given = echoed(unusable.clone()).await;
        assert_ne!(given, unusable);
        assert!(uuid::Uuid::parse_str(&given).is_ok(), "{given}");
    }
}
