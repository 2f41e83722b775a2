//! Sessions as a person with several devices meets them: the token pair login answers, refresh
//! rotation and what reuse of a spent refresh token does, listing and signing out devices, and
//! revocation that reaches every `echodiary serve` process on the database within a second.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::exposition::Exposition;
use crate::support::process::{Service, login_answer};
use crate::support::{TestApp, TestUser, assert_problem, sensitive};

async fn refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    sensitive::record(refresh_token);
    app.post_json(
        "/api/v1/auth/refresh",
        &json!({"refresh_token": refresh_token}),
    )
    .await
}

async fn me_status(app: &TestApp, token: &str) -> StatusCode {
    sensitive::record(token);
    app.request(Method::GET, "/api/v1/users/me")
        .bearer_auth(token)
        .send()
        .await
        .expect("me")
        .status()
}

async fn sessions_of(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let response = app
        .as_user(user, Method::GET, "/api/v1/users/me/sessions")
        .send()
        .await
        .expect("sessions");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    body["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn login_answers_a_short_access_token_and_a_refresh_token() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let response = app.login(&user.email, crate::support::PASSWORD).await;
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900, "{body}");
    assert_eq!(body["refresh_expires_in"], 30 * 24 * 3600, "{body}");
    let refresh_token = body["refresh_token"].as_str().expect("a refresh token");
    sensitive::record(refresh_token);
    assert!(refresh_token.len() >= 43, "256 bits or more");
    // Only a hash is stored.
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM refresh_tokens WHERE token_hash = convert_to($1, 'UTF8')",
    )
    .bind(refresh_token)
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn a_refresh_rotates_the_pair_and_a_spent_token_revokes_the_session() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let first = refresh(&app, &user.refresh_token).await;
    assert_eq!(first.status(), StatusCode::OK);
    let rotated = TestUser::from_tokens(user.email.clone(), &first.json().await.expect("JSON"));
    assert_ne!(rotated.refresh_token, user.refresh_token);
    assert_eq!(me_status(&app, &rotated.token).await, StatusCode::OK);

    // The spent token again: someone holds a copy. The whole session ends.
    let reused = refresh(&app, &user.refresh_token).await;
    let problem = assert_problem(reused, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        problem["type"],
        "urn:echodiary:problem:invalid-refresh-token"
    );
    assert_eq!(
        me_status(&app, &rotated.token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me_status(&app, &user.token).await, StatusCode::UNAUTHORIZED);
    let after = refresh(&app, &rotated.refresh_token).await;
    assert_problem(after, StatusCode::UNAUTHORIZED).await;

    let unknown = refresh(&app, "not-a-token-this-service-ever-issued").await;
    // Every 401 names the scheme (RFC 9110; the OpenAPI document declares it on each).
    assert_eq!(
        unknown
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    assert_problem(unknown, StatusCode::UNAUTHORIZED).await;
    // The in-process apps of this test binary share one metrics registry: other tests count too.
    let metrics = app.get_ops("/metrics").await.text().await.expect("metrics");
    let metrics = Exposition::parse(&metrics);
    let counted = |name, label, value| metrics.value(name, &[(label, value)]).unwrap_or(0.0);
    assert!(counted("auth_sessions_revoked_total", "reason", "refresh_reuse") >= 1.0);
    assert!(counted("auth_token_refreshes_total", "outcome", "success") >= 1.0);
    assert!(counted("auth_token_refreshes_total", "outcome", "rejected") >= 3.0);
}

#[tokio::test]
async fn an_expired_session_cannot_be_refreshed() {
    let app = TestApp::spawn_with(&[
        ("ECHODIARY__AUTH__ACCESS_TOKEN_TTL_SECS", "1"),
        ("ECHODIARY__AUTH__REFRESH_TOKEN_TTL_SECS", "1"),
    ])
    .await;
    let user = app.user().await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(me_status(&app, &user.token).await, StatusCode::UNAUTHORIZED);
    let response = refresh(&app, &user.refresh_token).await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_person_lists_their_devices_and_signs_one_out() {
    let app = TestApp::spawn().await;
    let laptop = app.user().await;
    let phone = app.session(&laptop.email).await;
    let stranger = app.user().await;

    let sessions = sessions_of(&app, &laptop).await;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(
        sessions.iter().filter(|s| s["current"] == true).count(),
        1,
        "{sessions:?}"
    );
    for session in &sessions {
        for field in ["id", "created_at", "last_used_at"] {
            assert!(session[field].is_string(), "{session}");
        }
        assert!(session["user_agent"].is_string() || session["user_agent"].is_null());
    }
    let phone_session = sessions
        .iter()
        .find(|s| s["current"] == false)
        .and_then(|s| s["id"].as_str())
        .expect("the other session")
        .to_owned();

    // Someone else's session looks like no session at all.
    let theirs = app
        .as_user(
            &stranger,
            Method::DELETE,
            &format!("/api/v1/users/me/sessions/{phone_session}"),
        )
        .send()
        .await
        .expect("delete");
    assert_problem(theirs, StatusCode::NOT_FOUND).await;
    assert_eq!(me_status(&app, &phone.token).await, StatusCode::OK);

    let signed_out = app
        .as_user(
            &laptop,
            Method::DELETE,
            &format!("/api/v1/users/me/sessions/{phone_session}"),
        )
        .send()
        .await
        .expect("delete");
    assert_eq!(signed_out.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me_status(&app, &phone.token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_problem(
        refresh(&app, &phone.refresh_token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(me_status(&app, &laptop.token).await, StatusCode::OK);
    assert_eq!(sessions_of(&app, &laptop).await.len(), 1);

    let again = app
        .as_user(
            &laptop,
            Method::DELETE,
            &format!("/api/v1/users/me/sessions/{phone_session}"),
        )
        .send()
        .await
        .expect("delete");
    assert_problem(again, StatusCode::NOT_FOUND).await;
    let not_an_id = app
        .as_user(&laptop, Method::DELETE, "/api/v1/users/me/sessions/nope")
        .send()
        .await
        .expect("delete");
    assert_problem(not_an_id, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn logout_ends_the_session_and_keeps_the_others() {
    let app = TestApp::spawn().await;
    let laptop = app.user().await;
    let phone = app.session(&laptop.email).await;
    let response = app
        .as_user(&laptop, Method::POST, "/api/v1/auth/logout")
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me_status(&app, &laptop.token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_problem(
        refresh(&app, &laptop.refresh_token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(me_status(&app, &phone.token).await, StatusCode::OK);
}

/// A token of the release before sessions (no `sid`) keeps working until it expires, so a
/// rolling deploy signs nobody out.
#[tokio::test]
async fn a_token_of_the_previous_release_stays_valid_until_it_expires() {
    use jsonwebtoken::{EncodingKey, Header, encode};
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let id = app.user_id(&user).await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": id, "iss": "echodiary", "iat": now, "exp": now + 3600});
    let key = EncodingKey::from_secret(echodiary::config::DEVELOPMENT_JWT_SECRET.as_bytes());
    let old = encode(&Header::default(), &claims, &key).expect("sign");
    assert_eq!(me_status(&app, &old).await, StatusCode::OK);
    let logout = app
        .request(Method::POST, "/api/v1/auth/logout")
        .bearer_auth(&old)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
}

/// Two processes on one database: what one revokes, the other refuses within a second, with
/// no query per request (the listener told it).
#[tokio::test]
async fn a_logout_on_one_process_is_refused_on_the_other_within_a_second() {
    let a = Service::start(&[]).await;
    let b = Service::start_on(a.database_url(), &[]).await;
    crate::support::process::account(&a, "two-devices@example.com", "a long password 1").await;
    let answer = login_answer(&b, "two-devices@example.com", "a long password 1").await;
    let token = answer["access_token"].as_str().expect("token").to_owned();
    let me = |service: &Service| {
        service
            .client
            .get(service.url("/api/v1/users/me"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(me(&b).await.expect("me").status(), StatusCode::OK);
    assert_eq!(me(&a).await.expect("me").status(), StatusCode::OK);

    let logout = b
        .client
        .post(b.url("/api/v1/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let revoked_at = Instant::now();
    loop {
        if me(&a).await.expect("me").status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "the other process still accepts the token a second after logout"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(me(&b).await.expect("me").status(), StatusCode::UNAUTHORIZED);
    a.stop().await;
    b.stop().await;
}

/// While a replica's listener is disconnected it cannot hear revocations, so it asks the table
/// instead: a session revoked meanwhile is refused all the same.
#[tokio::test]
async fn a_replica_whose_listener_was_cut_still_refuses_revoked_sessions() {
    let app = TestApp::spawn().await;
    let other = TestApp::spawn_on(&app.database_url, &[], false).await;
    let user = app.user().await;
    assert_eq!(me_status(&app, &user.token).await, StatusCode::OK);
    let cut: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'echodiary-revocations'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("terminate the listeners");
    assert!(cut >= 1, "no listener connection found");
    let logout = other
        .as_user(&user, Method::POST, "/api/v1/auth/logout")
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(me_status(&app, &user.token).await, StatusCode::UNAUTHORIZED);
}

/// The schema change is expand-only: what the release before sessions writes (its throttle
/// scopes, accounts without sessions) still fits, so its pods keep working mid-rollout.
#[tokio::test]
async fn the_previous_release_still_writes_what_it_wrote_before() {
    let app = TestApp::spawn().await;
    for scope in [
        "login_account_address",
        "login_account",
        "login_address",
        "register_address",
    ] {
        sqlx::query(
            "INSERT INTO auth_throttle (scope, account, address, attempts, window_ends)
             VALUES ($1, 'someone@example.com', '192.0.2.1', 1, now() + interval '1 minute')",
        )
        .bind(scope)
        .execute(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("the previous release's {scope} row: {e}"));
    }
    sqlx::query("INSERT INTO users (id, email, password_hash) VALUES (gen_random_uuid(), $1, 'x')")
        .bind("made-by-the-previous-release@example.com")
        .execute(&app.pool)
        .await
        .expect("an account without sessions");
}
