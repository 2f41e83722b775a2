//! Accounts on a `Service` (an `echodiary serve` child process), from the outside: register, log
//! in, and the tokens that come back, each recorded for the suite's log scan.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::process::Service;
use crate::support::sensitive;

/// Registers, logs in and returns a bearer token, against a service started by the test.
pub(crate) async fn account(service: &Service, email: &str, password: &str) -> String {
    sensitive::record(email);
    sensitive::record(password);
    let registered = service
        .client
        .post(service.url("/api/v1/auth/register"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), StatusCode::CREATED);
    login(service, email, password).await
}

/// Logs in to an existing account and returns a bearer token.
pub(crate) async fn login(service: &Service, email: &str, password: &str) -> String {
    let answer = login_answer(service, email, password).await;
    answer["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// Logs in to an existing account and returns the whole answer (both tokens recorded for the
/// log scan).
pub(crate) async fn login_answer(service: &Service, email: &str, password: &str) -> Value {
    sensitive::record(email);
    sensitive::record(password);
    let login = service
        .client
        .post(service.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::OK);
    let answer: Value = login.json().await.expect("token JSON");
    for token in ["access_token", "refresh_token"] {
        sensitive::record(answer[token].as_str().expect("a token"));
    }
    answer
}
