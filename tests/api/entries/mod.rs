//! Entries: create, read, partial update with `If-Match`, delete, filters, full-text search, and
//! that nobody ever sees or changes someone else's entries.
//!
//! This file holds the per-endpoint helpers the entry tests share (pagination and bad input use
//! some too); the tests live in one submodule per responsibility.

mod conditional_get;
mod create;
mod owner_keys;
mod plans;
mod read_delete;
mod search;
mod tag_table;
mod updates;

use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::support::{TestApp, TestUser};

pub(crate) async fn get_entry(app: &TestApp, user: &TestUser, id: &str) -> Response {
    app.as_user(user, Method::GET, &format!("/api/v1/entries/{id}"))
        .send()
        .await
        .expect("get entry")
}

pub(crate) async fn patch_entry(
    app: &TestApp,
    user: &TestUser,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Response {
    crate::support::sensitive::record_entry(body);
    let mut request = app
        .as_user(user, Method::PATCH, &format!("/api/v1/entries/{id}"))
        .json(body);
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    request.send().await.expect("patch entry")
}

pub(crate) async fn delete_entry(app: &TestApp, user: &TestUser, id: &str) -> Response {
    app.as_user(user, Method::DELETE, &format!("/api/v1/entries/{id}"))
        .send()
        .await
        .expect("delete entry")
}

/// The ids of a list answer, in the order given.
pub(crate) async fn listed_ids(app: &TestApp, user: &TestUser, query: &str) -> Vec<String> {
    let response = app.list_entries(user, query).await;
    assert_eq!(response.status(), StatusCode::OK, "list {query}");
    let page: Value = response.json().await.expect("page JSON");
    ids(&page["items"])
}

pub(crate) fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("an array of entries")
        .iter()
        .map(|e| e["id"].as_str().expect("an id").to_owned())
        .collect()
}

fn id_of(entry: &Value) -> &str {
    entry["id"].as_str().expect("an id")
}

fn etag(response: &Response) -> Option<String> {
    response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
