//! GET with `If-None-Match`: a client holding the current version gets 304 with the ETag and no
//! body; any other version, or none, gets the entry.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{etag, id_of, patch_entry};
use crate::support::TestApp;

#[tokio::test]
async fn if_none_match_with_the_current_version_answers_304_without_a_body() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = app.entry(&user, &json!({"content": "v1"})).await;
    let id = id_of(&entry);
    let path = format!("/api/v1/entries/{id}");
    let get = |tag: &'static str| {
        app.as_user(&user, Method::GET, &path)
            .header("if-none-match", tag)
            .send()
    };
    for current in ["\"1\"", "W/\"1\"", "\"7\", \"1\"", "*"] {
        let response = get(current).await.expect("get");
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{current}");
        assert_eq!(etag(&response).as_deref(), Some("\"1\""), "{current}");
        assert!(
            response.bytes().await.expect("body").is_empty(),
            "{current}"
        );
    }
    let patched = patch_entry(&app, &user, id, &json!({"content": "v2"}), None).await;
    assert_eq!(patched.status(), StatusCode::OK);
    for stale in ["\"1\"", "W/\"1\"", "\"not-a-version\""] {
        let response = get(stale).await.expect("get");
        assert_eq!(response.status(), StatusCode::OK, "{stale}");
        assert_eq!(etag(&response).as_deref(), Some("\"2\""), "{stale}");
        let body: serde_json::Value = response.json().await.expect("the entry");
        assert_eq!(body["content"], "v2");
    }
}
