//! Forgotten passwords end to end, through a real SMTP server on 127.0.0.1: the link in the
//! email, single use, every session signed out; the same quick 202 whether or not the account
//! exists, also when the mail server hangs; per-email limits; 503 without a mail server.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::exposition::Exposition;
use crate::support::smtp::{Mail, SmtpSink};
use crate::support::{PASSWORD, TestApp, assert_problem, sensitive};

const RESET_PAGE: &str = "https://app.example.test/reset-password";

async fn app_with_mail(sink: &SmtpSink, extra: &[(&str, &str)]) -> TestApp {
    let url = sink.url();
    let mut settings = vec![
        ("ECHODIARY__EMAIL__SMTP_URL", url.as_str()),
        (
            "ECHODIARY__EMAIL__FROM",
            "EchoDiary <no-reply@echodiary.test>",
        ),
        ("ECHODIARY__EMAIL__RESET_URL_BASE", RESET_PAGE),
        ("ECHODIARY__EMAIL__SEND_TIMEOUT_SECS", "1"),
    ];
    settings.extend_from_slice(extra);
    TestApp::spawn_with(&settings).await
}

async fn request_reset(app: &TestApp, email: &str) -> reqwest::Response {
    sensitive::record(email);
    app.post_json("/api/v1/auth/password-reset", &json!({"email": email}))
        .await
}

async fn confirm(app: &TestApp, token: &str, new_password: &str) -> reqwest::Response {
    sensitive::record(token);
    sensitive::record(new_password);
    app.post_json(
        "/api/v1/auth/password-reset/confirm",
        &json!({"token": token, "new_password": new_password}),
    )
    .await
}

/// The body of a quoted-printable message (lines of more than 76 characters, such as the
/// link, are sent that way) as the mail client shows it.
fn decoded_body(mail: &Mail) -> String {
    let (headers, body) = mail
        .data
        .split_once("\n\n")
        .expect("headers, then the body");
    if !headers.contains("Content-Transfer-Encoding: quoted-printable") {
        return body.to_owned();
    }
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut text = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'=')
            .then(|| std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok())
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                text.push(byte);
                i += 3;
            }
            None => {
                text.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(text).expect("UTF-8 text")
}

/// The token of the link `<RESET_URL_BASE>?token=<token>` in the email's text.
fn token_in(mail: &Mail) -> String {
    let body = decoded_body(mail);
    let prefix = format!("{RESET_PAGE}?token=");
    let start = body
        .find(&prefix)
        .unwrap_or_else(|| panic!("no reset link in the email:\n{}", mail.data))
        + prefix.len();
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    sensitive::record(&token);
    token
}

/// A counter of the shared registry (the in-process apps of this test binary count together,
/// so tests compare before and after).
async fn counter(app: &TestApp, name: &str, labels: &[(&str, &str)]) -> f64 {
    let metrics = app.get_ops("/metrics").await.text().await.expect("metrics");
    Exposition::parse(&metrics)
        .value(name, labels)
        .unwrap_or_else(|| panic!("no {name} {labels:?}"))
}

const DELIVERIES: &str = "email_deliveries_total";
const SENT: &[(&str, &str)] = &[("kind", "password_reset"), ("outcome", "sent")];
const FAILED: &[(&str, &str)] = &[("kind", "password_reset"), ("outcome", "failed")];

#[tokio::test]
async fn a_forgotten_password_is_reset_through_the_emailed_link() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, &[]).await;
    let user = app.user().await;
    let phone = app.session(&user.email).await;
    let sent_before = counter(&app, DELIVERIES, SENT).await;
    let revoked = [("reason", "password_reset")];
    let revoked_before = counter(&app, "auth_sessions_revoked_total", &revoked).await;

    let response = request_reset(&app, &user.email).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let mail = sink
        .wait_for(&user.email, Duration::from_secs(10))
        .await
        .expect("the reset email arrives");
    assert!(
        mail.data.contains("no-reply@echodiary.test"),
        "{}",
        mail.data
    );
    let token = token_in(&mail);
    assert_eq!(token.len(), 43, "{}", mail.data);

    let new_password = "a freshly chosen password";
    let confirmed = confirm(&app, &token, new_password).await;
    assert_eq!(confirmed.status(), StatusCode::NO_CONTENT);
    for session in [&user, &phone] {
        let me = app
            .as_user(session, Method::GET, "/api/v1/users/me")
            .send()
            .await
            .expect("me");
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.login(&user.email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&user.email, new_password).await.status(),
        StatusCode::OK
    );

    // Single use.
    let again = confirm(&app, &token, "yet another password").await;
    assert_problem(again, StatusCode::BAD_REQUEST).await;
    let made_up = confirm(
        &app,
        "made-up-token-that-was-never-sent-by-mail",
        "yet another password",
    )
    .await;
    assert_problem(made_up, StatusCode::BAD_REQUEST).await;
    // Stored only as a hash.
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM password_reset_tokens WHERE token_hash = convert_to($1, 'UTF8')",
    )
    .bind(&token)
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert_eq!(stored, 0);
    assert!(counter(&app, DELIVERIES, SENT).await > sent_before);
    let revoked_after = counter(&app, "auth_sessions_revoked_total", &revoked).await;
    assert!(revoked_after >= revoked_before + 2.0);
}

#[tokio::test]
async fn an_expired_reset_token_is_refused() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, &[]).await;
    let user = app.user().await;
    request_reset(&app, &user.email).await;
    let mail = sink
        .wait_for(&user.email, Duration::from_secs(10))
        .await
        .expect("email");
    let token = token_in(&mail);
    sqlx::query("UPDATE password_reset_tokens SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .expect("age the token");
    let response = confirm(&app, &token, "a freshly chosen password").await;
    assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        app.login(&user.email, PASSWORD).await.status(),
        StatusCode::OK
    );
}

/// Whether an account exists is not told by the answer, nor by its timing, also when the mail
/// server never answers: the email goes out in the background.
#[tokio::test]
async fn the_answer_is_the_same_quick_202_whether_or_not_the_account_exists() {
    let sink = SmtpSink::silent().await;
    let app = app_with_mail(&sink, &[]).await;
    let user = app.user().await;
    let failed_before = counter(&app, DELIVERIES, FAILED).await;
    let mut slowest = Duration::ZERO;
    for email in [user.email.as_str(), "nobody-here@example.com"] {
        let started = Instant::now();
        let response = request_reset(&app, email).await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(response.text().await.expect("body"), "");
    }
    // The send timeout is 1 s: an answer that waited for the mail server would take that long.
    assert!(
        slowest < Duration::from_millis(800),
        "a reset request took {slowest:?}"
    );
    // Meanwhile the service answers everything else as usual.
    assert_eq!(app.get("/health/live").await.status(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter(&app, DELIVERIES, FAILED).await < failed_before + 1.0 {
        assert!(
            Instant::now() < deadline,
            "the hung delivery was never counted as failed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Past the second delivery's timeout too: only the existing account gets an email.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        counter(&app, DELIVERIES, FAILED).await,
        failed_before + 1.0,
        "only the existing account gets an email"
    );
}

#[tokio::test]
async fn reset_requests_are_limited_per_email() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, &[]).await;
    let email = "popular-target@example.com";
    for _ in 0..3 {
        assert_eq!(
            request_reset(&app, email).await.status(),
            StatusCode::ACCEPTED
        );
    }
    let refused = request_reset(&app, email).await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    let invalid = request_reset(&app, "not an email").await;
    assert_problem(invalid, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn without_a_mail_server_both_routes_say_so() {
    let app = TestApp::spawn().await;
    let requested = request_reset(&app, "someone@example.com").await;
    let problem: Value = assert_problem(requested, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("SMTP"),
        "{problem}"
    );
    let confirmed = confirm(
        &app,
        "some-token-from-somewhere",
        "a freshly chosen password",
    )
    .await;
    assert_problem(confirmed, StatusCode::SERVICE_UNAVAILABLE).await;
}
