//! The account as its owner manages it: profile and email changes, a password change that signs
//! out the other devices on every process, deletion that leaves nothing behind, and the export.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::exposition::Exposition;
use crate::support::process::{Service, account, login_answer};
use crate::support::{PASSWORD, TestApp, TestUser, assert_problem, sensitive};

async fn send_json(
    app: &TestApp,
    user: &TestUser,
    method: Method,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    app.as_user(user, method, path)
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn me_status(app: &TestApp, user: &TestUser) -> StatusCode {
    app.as_user(user, Method::GET, "/api/v1/users/me")
        .send()
        .await
        .expect("me")
        .status()
}

#[tokio::test]
async fn the_display_name_changes_without_a_password_and_null_clears_it() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let path = "/api/v1/users/me";
    let named = send_json(
        &app,
        &user,
        Method::PATCH,
        path,
        &json!({"display_name": "Ada"}),
    )
    .await;
    assert_eq!(named.status(), StatusCode::OK);
    assert_eq!(
        named.json::<Value>().await.expect("JSON")["display_name"],
        "Ada"
    );
    let cleared = send_json(
        &app,
        &user,
        Method::PATCH,
        path,
        &json!({"display_name": null}),
    )
    .await;
    assert_eq!(
        cleared.json::<Value>().await.expect("JSON")["display_name"],
        Value::Null
    );
    let empty = send_json(
        &app,
        &user,
        Method::PATCH,
        path,
        &json!({"display_name": ""}),
    )
    .await;
    assert_problem(empty, StatusCode::UNPROCESSABLE_ENTITY).await;
    let unknown = send_json(&app, &user, Method::PATCH, path, &json!({"role": "admin"})).await;
    assert_problem(unknown, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn an_email_change_needs_the_current_password_and_a_free_address() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let other = app.user().await;
    let path = "/api/v1/users/me";
    sensitive::record("renamed-person@example.com");
    let without = send_json(
        &app,
        &user,
        Method::PATCH,
        path,
        &json!({"email": "renamed-person@example.com"}),
    )
    .await;
    assert_problem(without, StatusCode::UNAUTHORIZED).await;
    let wrong = send_json(
        &app,
        &user,
        Method::PATCH,
        path,
        &json!({"email": "renamed-person@example.com", "current_password": "not the password"}),
    )
    .await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED).await;
    // A wrong current password is a failed login like any other.
    let counted: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(attempts), 0)::int8 FROM auth_throttle
          WHERE scope = 'login_account' AND account = $1",
    )
    .bind(&user.email)
    .fetch_one(&app.pool)
    .await
    .expect("throttle");
    assert_eq!(counted, 1);

    let taken = send_json(
        &app,
        &user,
        Method::PATCH,
        path,
        &json!({"email": other.email, "current_password": PASSWORD}),
    )
    .await;
    assert_problem(taken, StatusCode::CONFLICT).await;
    let changed = send_json(
        &app,
        &user,
        Method::PATCH,
        path,
        &json!({"email": " Renamed-Person@Example.com ", "current_password": PASSWORD}),
    )
    .await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(
        changed.json::<Value>().await.expect("JSON")["email"],
        "renamed-person@example.com"
    );
    assert_eq!(
        app.login("renamed-person@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login(&user.email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_wrong_current_password_changes_nothing() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    sensitive::record("a brand new password");
    let response = send_json(
        &app,
        &user,
        Method::POST,
        "/api/v1/users/me/password",
        &json!({"current_password": "wrong password", "new_password": "a brand new password"}),
    )
    .await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        app.login(&user.email, PASSWORD).await.status(),
        StatusCode::OK
    );
    let short = send_json(
        &app,
        &user,
        Method::POST,
        "/api/v1/users/me/password",
        &json!({"current_password": PASSWORD, "new_password": "short"}),
    )
    .await;
    assert_problem(short, StatusCode::UNPROCESSABLE_ENTITY).await;
}

/// Two processes: the password changes through one; every other session is refused on both
/// within a second, the session that changed it keeps working.
#[tokio::test]
async fn a_password_change_signs_out_the_other_sessions_on_every_process() {
    let a = Service::start(&[]).await;
    let b = Service::start_on(a.database_url(), &[]).await;
    let email = "careful@example.com";
    let old_password = "the old long password";
    let new_password = "the new long password";
    sensitive::record(new_password);
    let laptop = account(&a, email, old_password).await;
    let phone = login_answer(&b, email, old_password).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let changed = a
        .client
        .post(a.url("/api/v1/users/me/password"))
        .bearer_auth(&laptop)
        .json(&json!({"current_password": old_password, "new_password": new_password}))
        .send()
        .await
        .expect("change");
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let me = |service: &Service, token: &str| {
        service
            .client
            .get(service.url("/api/v1/users/me"))
            .bearer_auth(token.to_owned())
            .send()
    };
    let started = Instant::now();
    for service in [&a, &b] {
        loop {
            if me(service, &phone).await.expect("me").status() == StatusCode::UNAUTHORIZED {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "the phone still works"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            me(service, &laptop).await.expect("me").status(),
            StatusCode::OK
        );
    }
    let relogin = |password: &'static str| {
        a.client
            .post(a.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    assert_eq!(
        relogin(old_password).await.expect("login").status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        relogin(new_password).await.expect("login").status(),
        StatusCode::OK
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn deleting_the_account_erases_everything_and_frees_the_email() {
    let app = TestApp::spawn().await;
    let other_process = TestApp::spawn_on(&app.database_url, &[], false).await;
    let user = app.user().await;
    let phone = app.session(&user.email).await;
    let id = app.user_id(&user).await;
    app.entry(
        &user,
        &json!({"content": "a private thought", "tags": ["private"]}),
    )
    .await;
    // A failed login leaves throttle rows for the account.
    app.login(&user.email, "a wrong password").await;

    let wrong = send_json(
        &app,
        &user,
        Method::DELETE,
        "/api/v1/users/me",
        &json!({"password": "nope nope"}),
    )
    .await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED).await;
    assert_eq!(me_status(&app, &user).await, StatusCode::OK);

    let deleted = send_json(
        &app,
        &user,
        Method::DELETE,
        "/api/v1/users/me",
        &json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    for session in [&user, &phone] {
        assert_eq!(me_status(&app, session).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            me_status(&other_process, session).await,
            StatusCode::UNAUTHORIZED
        );
        let listed = app.list_entries(session, "").await;
        assert_problem(listed, StatusCode::UNAUTHORIZED).await;
    }
    for (table, column) in [
        ("users", "id"),
        ("entries", "user_id"),
        ("entry_tags", "user_id"),
        ("sessions", "user_id"),
        ("password_reset_tokens", "user_id"),
    ] {
        let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE {column} = $1"
        )))
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .expect("count");
        assert_eq!(left, 0, "{table} still holds rows of the account");
    }
    let throttle: i64 = sqlx::query_scalar("SELECT count(*) FROM auth_throttle WHERE account = $1")
        .bind(&user.email)
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(throttle, 0);
    assert_eq!(
        app.register(&user.email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    // The in-process apps of this test binary share one metrics registry: other tests count too.
    let metrics = app.get_ops("/metrics").await.text().await.expect("metrics");
    let revoked = Exposition::parse(&metrics)
        .value(
            "auth_sessions_revoked_total",
            &[("reason", "account_deleted")],
        )
        .unwrap_or(0.0);
    assert!(revoked >= 2.0, "{revoked}");
}

#[tokio::test]
async fn the_export_is_one_json_document_with_the_profile_and_every_entry() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let stranger = app.user().await;
    for n in 0..3 {
        app.entry(&user, &json!({"content": format!("exported entry {n}"), "entry_date": format!("2026-01-0{}", n + 1)})).await;
    }
    app.entry(&stranger, &json!({"content": "not theirs to export"}))
        .await;
    let response = app
        .as_user(&user, Method::GET, "/api/v1/users/me/export")
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), StatusCode::OK);
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let document: Value = response.json().await.expect("one JSON document");
    assert_eq!(document["user"]["email"], user.email.as_str());
    let entries = document["entries"].as_array().expect("entries");
    let contents: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["content"].as_str())
        .collect();
    assert_eq!(
        contents,
        ["exported entry 2", "exported entry 1", "exported entry 0"]
    );

    let empty = app.user().await;
    let response = app
        .as_user(&empty, Method::GET, "/api/v1/users/me/export")
        .send()
        .await
        .expect("export");
    let document: Value = response.json().await.expect("JSON");
    assert_eq!(document["entries"], json!([]));
}
