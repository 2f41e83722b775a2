//! PATCH: only the fields sent change, `null` clears or is rejected per field, the create limits
//! apply, and `If-Match` (matching, stale, `*`, lists, malformed, racing writers) guards updates.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use super::{etag, get_entry, id_of, patch_entry};
use crate::support::assert_rejects;
use crate::support::{TestApp, assert_problem};

#[tokio::test]
async fn patch_changes_only_the_fields_sent_and_bumps_the_version() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = app
        .entry(
            &user,
            &json!({"content": "draft", "title": "T", "mood": "okay", "tags": ["a"], "entry_date": "2025-05-05"}),
        )
        .await;
    let id = id_of(&entry);
    let steps = [
        (json!({"content": "final"}), "content", json!("final")),
        (json!({"title": "New title"}), "title", json!("New title")),
        (json!({"mood": "good"}), "mood", json!("good")),
        (json!({"tags": ["b", "c"]}), "tags", json!(["b", "c"])),
        (json!({"tags": []}), "tags", json!([])),
        (
            json!({"entry_date": "2025-06-01"}),
            "entry_date",
            json!("2025-06-01"),
        ),
    ];
    let mut expected = entry.clone();
    for (n, (body, field, value)) in steps.into_iter().enumerate() {
        let response = patch_entry(&app, &user, id, &body, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{body}");
        let version = n as i64 + 2;
        assert_eq!(etag(&response), Some(format!("\"{version}\"")), "{body}");
        let updated: Value = response.json().await.expect("entry JSON");
        expected[field] = value;
        expected["version"] = json!(version);
        expected["updated_at"] = updated["updated_at"].clone();
        assert_eq!(updated, expected, "after {body}");
        assert_eq!(updated["created_at"], entry["created_at"]);
    }
    let final_entry: Value = get_entry(&app, &user, id)
        .await
        .json()
        .await
        .expect("entry JSON");
    assert_eq!(final_entry, expected);
    assert!(
        timestamp(&final_entry["updated_at"]) > timestamp(&entry["updated_at"]),
        "updated_at did not move: {final_entry}"
    );
}

/// Compared as instants: the rendered fraction of a second varies in length.
fn timestamp(value: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a timestamp")).expect("RFC 3339")
}

#[tokio::test]
async fn patch_with_null_clears_title_and_mood() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = app
        .entry(&user, &json!({"content": "x", "title": "T", "mood": "bad"}))
        .await;
    let response = patch_entry(
        &app,
        &user,
        id_of(&entry),
        &json!({"title": null, "mood": null}),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.expect("entry JSON");
    assert_eq!(updated["title"], Value::Null);
    assert_eq!(updated["mood"], Value::Null);
    assert_eq!(updated["content"], "x");
    assert_eq!(updated["version"], 2);
}

#[tokio::test]
async fn patch_with_null_for_content_tags_or_entry_date_is_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = app
        .entry(&user, &json!({"content": "x", "tags": ["t"]}))
        .await;
    let id = id_of(&entry);
    for field in ["content", "tags", "entry_date"] {
        let response = patch_entry(&app, &user, id, &json!({ field: null }), None).await;
        assert_rejects(response, field, &format!("{field}: null")).await;
    }
    let unchanged: Value = get_entry(&app, &user, id).await.json().await.expect("JSON");
    assert_eq!(unchanged, entry);
}

#[tokio::test]
async fn patch_applies_the_same_limits_as_create() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = app.entry(&user, &json!({"content": "x"})).await;
    let id = id_of(&entry);
    for (body, field) in [
        (json!({"content": ""}), "content"),
        (json!({"content": "x".repeat(20_001)}), "content"),
        (json!({"title": "t".repeat(201)}), "title"),
        (json!({"mood": "happy"}), "mood"),
        (json!({"tags": ["a", "a"]}), "tags"),
        (
            json!({"tags": (0..11).map(|n| n.to_string()).collect::<Vec<_>>()}),
            "tags",
        ),
        (json!({"tags": ["x".repeat(33)]}), "tags"),
        (json!({"entry_date": "2026-02-30"}), "entry_date"),
        (json!({"entry_date": "2026-2-3"}), "entry_date"),
    ] {
        assert_rejects(
            patch_entry(&app, &user, id, &body, None).await,
            field,
            &body.to_string(),
        )
        .await;
    }
    let ok = patch_entry(
        &app,
        &user,
        id,
        &json!({"content": "é".repeat(20_000), "title": "t".repeat(200)}),
        None,
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn patch_with_an_empty_object_is_422() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = app.entry(&user, &json!({"content": "x"})).await;
    let response = patch_entry(&app, &user, id_of(&entry), &json!({}), None).await;
    assert_rejects(response, "body", "an empty body").await;
    let unchanged: Value = get_entry(&app, &user, id_of(&entry))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(unchanged["version"], 1);
}

#[tokio::test]
async fn patch_with_a_matching_if_match_succeeds_and_the_etag_follows() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = app.entry(&user, &json!({"content": "v1"})).await;
    let id = id_of(&entry);
    let mut tag = "\"1\"".to_owned();
    for n in 2..=4 {
        let response = patch_entry(
            &app,
            &user,
            id,
            &json!({"content": format!("v{n}")}),
            Some(&tag),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        tag = etag(&response).expect("an ETag");
        assert_eq!(tag, format!("\"{n}\""));
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["version"], n);
    }
    let current = get_entry(&app, &user, id).await;
    assert_eq!(etag(&current).as_deref(), Some("\"4\""));
}

#[tokio::test]
async fn patch_with_a_stale_if_match_answers_412_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = app.entry(&user, &json!({"content": "v1"})).await;
    let id = id_of(&entry);
    let first = patch_entry(&app, &user, id, &json!({"content": "v2"}), Some("\"1\"")).await;
    assert_eq!(first.status(), StatusCode::OK);
    // A weak tag never matches under If-Match's strong comparison; nor does a list of stale ones.
    for stale in ["\"1\"", "\"3\"", "W/\"2\"", "\"0\", \"1\"", "\"abc\""] {
        let response = patch_entry(&app, &user, id, &json!({"content": "lost"}), Some(stale)).await;
        assert_eq!(
            response.status(),
            StatusCode::PRECONDITION_FAILED,
            "{stale}"
        );
        // The version the entry has now, so the client can re-read or retry without guessing.
        assert_eq!(etag(&response).as_deref(), Some("\"2\""), "{stale}");
        let problem = assert_problem(response, StatusCode::PRECONDITION_FAILED).await;
        assert_eq!(problem["type"], "urn:echodiary:problem:precondition-failed");
    }
    let current: Value = get_entry(&app, &user, id).await.json().await.expect("JSON");
    assert_eq!(current["content"], "v2");
    assert_eq!(current["version"], 2);
}

#[tokio::test]
async fn patch_with_if_match_star_or_a_list_holding_the_version_succeeds() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = app.entry(&user, &json!({"content": "v1"})).await;
    let id = id_of(&entry);
    let response = patch_entry(&app, &user, id, &json!({"mood": "good"}), Some("*")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(etag(&response).as_deref(), Some("\"2\""));
    let response = patch_entry(
        &app,
        &user,
        id,
        &json!({"mood": "bad"}),
        Some("W/\"9\", \"2\""),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(etag(&response).as_deref(), Some("\"3\""));
}

#[tokio::test]
async fn patch_with_a_malformed_if_match_answers_400() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = app.entry(&user, &json!({"content": "v1"})).await;
    let id = id_of(&entry);
    for malformed in ["1", "", "\"1", "1\"", "**", "\"1\", 2"] {
        let response =
            patch_entry(&app, &user, id, &json!({"content": "x"}), Some(malformed)).await;
        assert_problem(response, StatusCode::BAD_REQUEST).await;
    }
    let current: Value = get_entry(&app, &user, id).await.json().await.expect("JSON");
    assert_eq!(current["version"], 1);
}

#[tokio::test]
async fn concurrent_patches_with_the_same_if_match_let_exactly_one_win() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = app.entry(&user, &json!({"content": "v1"})).await;
    let id = id_of(&entry);
    let requests = (0..8).map(|n| {
        app.as_user(&user, Method::PATCH, &format!("/api/v1/entries/{id}"))
            .header("if-match", "\"1\"")
            .json(&json!({"content": format!("writer {n}")}))
    });
    let mut winners = Vec::new();
    for response in send_all_at_once(requests).await {
        match response.status() {
            StatusCode::OK => winners.push(response.json::<Value>().await.expect("JSON")),
            StatusCode::PRECONDITION_FAILED => {
                assert_problem(response, StatusCode::PRECONDITION_FAILED).await;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let current: Value = get_entry(&app, &user, id).await.json().await.expect("JSON");
    assert_eq!(current["version"], 2);
    assert_eq!(current["content"], winners[0]["content"]);
}

#[tokio::test]
async fn concurrent_unconditional_patches_all_apply_and_each_counts_a_version() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = app.entry(&user, &json!({"content": "v1"})).await;
    let id = id_of(&entry);
    let requests = (0..6).map(|n| {
        app.as_user(&user, Method::PATCH, &format!("/api/v1/entries/{id}"))
            .json(&json!({"title": format!("writer {n}")}))
    });
    let mut versions = Vec::new();
    for response in send_all_at_once(requests).await {
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("JSON");
        versions.push(body["version"].as_i64().expect("a version"));
    }
    versions.sort_unstable();
    assert_eq!(versions, [2, 3, 4, 5, 6, 7]);
}

/// Sends every request before awaiting any answer, so they race inside the service.
async fn send_all_at_once(requests: impl Iterator<Item = RequestBuilder>) -> Vec<Response> {
    let tasks: Vec<_> = requests.map(|r| tokio::spawn(r.send())).collect();
    let mut responses = Vec::new();
    for task in tasks {
        responses.push(task.await.expect("request task").expect("response"));
    }
    responses
}
