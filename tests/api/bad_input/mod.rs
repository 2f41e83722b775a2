//! Bad input of every kind gets the contract's 4xx problem, never a 5xx, and every answer carries
//! a request id.
//!
//! This file holds the raw-request helpers; the tests live in one submodule per kind of input.

mod bodies;
mod requests;
mod sweep;
mod wording;

use reqwest::{Method, Response};
use serde_json::json;

use crate::support::{TestApp, TestUser};

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

async fn an_entry(app: &TestApp, user: &TestUser) -> String {
    let entry = app.entry(user, &json!({"content": "x"})).await;
    entry["id"].as_str().expect("an id").to_owned()
}
