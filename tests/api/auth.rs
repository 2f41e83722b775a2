//! Registration, login, tokens and login throttling.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, assert_problem, assert_rejects};

#[tokio::test]
async fn register_answers_201_with_the_user_and_a_lower_cased_email() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "  Ada.Lovelace@Example.COM ", "password": PASSWORD, "display_name": "Ada"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.expect("JSON");
    assert_eq!(user["email"], "ada.lovelace@example.com");
    assert_eq!(user["display_name"], "Ada");
    assert!(
        user["id"]
            .as_str()
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok())
    );
    assert!(
        user["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(user.get("password_hash").is_none() && user.get("password").is_none());
}

#[tokio::test]
async fn register_answers_409_when_the_email_is_taken_in_any_case() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.register("grace@example.com", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let again = app.register("GRACE@example.com", PASSWORD).await;
    assert_problem(again, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn register_rejects_passwords_outside_8_to_128_characters() {
    let app = TestApp::spawn().await;
    for password in ["short7!", &"x".repeat(129)] {
        let response = app.register("len@example.com", password).await;
        assert_rejects(
            response,
            "password",
            &format!("{} characters", password.chars().count()),
        )
        .await;
    }
    // The limits count characters, not bytes.
    assert_eq!(
        app.register("edge8@example.com", "ääääääää").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.register("edge128@example.com", &"é".repeat(128))
            .await
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn register_rejects_an_invalid_email_and_missing_fields() {
    let app = TestApp::spawn().await;
    assert_rejects(
        app.register("not-an-email", PASSWORD).await,
        "email",
        "not an email",
    )
    .await;
    let missing = app
        .post_json("/api/v1/auth/register", &json!({"email": "a@example.com"}))
        .await;
    assert_rejects(missing, "password", "no password").await;
    let wrong_type = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": 5, "password": PASSWORD}),
        )
        .await;
    assert_rejects(wrong_type, "email", "a number for the email").await;
}

#[tokio::test]
async fn login_returns_a_bearer_token_that_opens_users_me() {
    let app = TestApp::spawn().await;
    app.register("me@example.com", PASSWORD).await;
    let response = app.login("ME@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["token_type"], "bearer");
    assert!(body["expires_in"].as_u64().is_some_and(|s| s > 0));
    let token = body["access_token"].as_str().expect("token");
    let me = app
        .request(Method::GET, "/api/v1/users/me")
        .bearer_auth(token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.expect("JSON");
    assert_eq!(me["email"], "me@example.com");
    assert_eq!(me.as_object().map(|o| o.len()), Some(4), "{me}");
}

#[tokio::test]
async fn login_gives_the_same_401_for_an_unknown_email_and_a_wrong_password() {
    let app = TestApp::spawn().await;
    app.register("known@example.com", PASSWORD).await;
    let wrong_password = app.login("known@example.com", "wrong password").await;
    assert!(wrong_password.headers().get("www-authenticate").is_some());
    let wrong = assert_problem(wrong_password, StatusCode::UNAUTHORIZED).await;
    let unknown = assert_problem(
        app.login("unknown@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn users_me_answers_401_with_www_authenticate_without_a_valid_token() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let mut tampered = user.token.clone();
    let last = tampered.pop().expect("non-empty token");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let cases: Vec<Option<String>> = vec![
        None,
        Some("Bearer".into()),
        Some("Bearer not.a.jwt".into()),
        Some(format!("Basic {}", user.token)),
        Some(format!("Bearer {tampered}")),
    ];
    for header in cases {
        let mut request = app.request(Method::GET, "/api/v1/users/me");
        if let Some(header) = &header {
            request = request.header("authorization", header);
        }
        let response = request.send().await.expect("me");
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer"),
            "{header:?}"
        );
        assert_problem(response, StatusCode::UNAUTHORIZED).await;
    }
}

#[tokio::test]
async fn a_token_signed_with_another_secret_or_expired_is_401() {
    use jsonwebtoken::{EncodingKey, Header, encode};
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let me = app.me(&user).await;
    let now = chrono::Utc::now().timestamp();
    let claims =
        |exp: i64| json!({"sub": me["id"], "iss": "echodiary", "iat": now - 7200, "exp": exp});
    let foreign = encode(
        &Header::default(),
        &claims(now + 3600),
        &EncodingKey::from_secret(b"another secret entirely, 32 bytes+"),
    )
    .expect("sign");
    let expired = encode(
        &Header::default(),
        &claims(now - 10),
        &EncodingKey::from_secret(echodiary::config::DEVELOPMENT_JWT_SECRET.as_bytes()),
    )
    .expect("sign");
    let valid_now = encode(
        &Header::default(),
        &claims(now + 3600),
        &EncodingKey::from_secret(echodiary::config::DEVELOPMENT_JWT_SECRET.as_bytes()),
    )
    .expect("sign");
    for (token, status) in [
        (foreign, StatusCode::UNAUTHORIZED),
        (expired, StatusCode::UNAUTHORIZED),
        (valid_now, StatusCode::OK),
    ] {
        let response = app
            .request(Method::GET, "/api/v1/users/me")
            .bearer_auth(token)
            .send()
            .await
            .expect("me");
        assert_eq!(response.status(), status);
    }
}

#[tokio::test]
async fn repeated_login_failures_for_one_account_answer_429_with_retry_after() {
    let app = TestApp::spawn_with(&[(
        "ECHODIARY__AUTH__LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS",
        "3",
    )])
    .await;
    app.register("target@example.com", PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(
            app.login("target@example.com", "guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Even the right password waits out the lockout: otherwise the limit would not stop guessing.
    let limited = app.login("Target@example.com", PASSWORD).await;
    let retry_after: u64 = limited
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!(retry_after > 0 && retry_after <= 15 * 60);
    assert_problem(limited, StatusCode::TOO_MANY_REQUESTS).await;
    // Another account from the same address is not locked out by this one's failures.
    app.register("neighbour@example.com", PASSWORD).await;
    assert_eq!(
        app.login("neighbour@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_successful_login_clears_the_failures_from_its_address() {
    let app = TestApp::spawn_with(&[(
        "ECHODIARY__AUTH__LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS",
        "3",
    )])
    .await;
    app.register("typo@example.com", PASSWORD).await;
    for _ in 0..2 {
        app.login("typo@example.com", "typo").await;
    }
    assert_eq!(
        app.login("typo@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    for _ in 0..2 {
        assert_eq!(
            app.login("typo@example.com", "typo").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login("typo@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_nul_character_in_register_or_login_is_422_not_a_database_error() {
    let app = TestApp::spawn().await;
    let register = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "nul@example.com", "password": PASSWORD, "display_name": "a\u{0}b"}),
        )
        .await;
    assert_rejects(register, "display_name", "a NUL in the display name").await;
    for email in ["a\u{0}@example.com", "\u{0}"] {
        let login = app.login(email, PASSWORD).await;
        assert_rejects(login, "email", &format!("login as {email:?}")).await;
        let register = app.register(email, PASSWORD).await;
        assert!(register.status().is_client_error(), "{email:?}");
    }
}

#[tokio::test]
async fn a_token_whose_account_is_gone_answers_401_on_every_route() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = app
        .entry(&user, &json!({"content": "before the account went"}))
        .await;
    let path = format!("/api/v1/entries/{}", entry["id"].as_str().expect("an id"));
    let id = app.user_id(&user).await;
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .expect("delete the account behind the token");
    let calls = [
        (Method::GET, "/api/v1/users/me".to_owned(), None),
        (Method::GET, "/api/v1/entries".to_owned(), None),
        (
            Method::POST,
            "/api/v1/entries".to_owned(),
            Some(json!({"content": "after"})),
        ),
        (Method::GET, path.clone(), None),
        (Method::PATCH, path.clone(), Some(json!({"title": "after"}))),
        (Method::DELETE, path.clone(), None),
    ];
    for (method, path, body) in calls {
        let mut request = app.as_user(&user, method.clone(), &path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("a response");
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert!(response.headers().contains_key("www-authenticate"));
    }
}
