//! Reading and deleting entries: the `ETag` on GET, 404 for ids that do not exist, 204 then gone
//! on DELETE, and that someone else's entry is indistinguishable from an absent one.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{delete_entry, etag, get_entry, id_of, listed_ids, patch_entry};
use crate::support::{TestApp, assert_problem};

// ---- read ---------------------------------------------------------------------------------------

#[tokio::test]
async fn get_answers_200_with_the_entry_and_its_version_as_etag() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let created = app
        .entry(&user, &json!({"content": "hello", "tags": ["t"]}))
        .await;
    let response = get_entry(&app, &user, id_of(&created)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(etag(&response).as_deref(), Some("\"1\""));
    let entry: Value = response.json().await.expect("entry JSON");
    assert_eq!(entry, created);
}

#[tokio::test]
async fn get_patch_and_delete_answer_404_for_an_id_that_does_not_exist() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let absent = uuid::Uuid::now_v7().to_string();
    assert_problem(get_entry(&app, &user, &absent).await, StatusCode::NOT_FOUND).await;
    let patch = patch_entry(&app, &user, &absent, &json!({"content": "y"}), None).await;
    assert_problem(patch, StatusCode::NOT_FOUND).await;
    // A conditional update of nothing is still "not found", not "precondition failed".
    let patch = patch_entry(
        &app,
        &user,
        &absent,
        &json!({"content": "y"}),
        Some("\"1\""),
    )
    .await;
    assert_problem(patch, StatusCode::NOT_FOUND).await;
    assert_problem(
        delete_entry(&app, &user, &absent).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn someone_elses_entry_is_404_for_get_patch_and_delete_and_stays_unchanged() {
    let app = TestApp::spawn().await;
    let owner = app.user().await;
    let other = app.user().await;
    let entry = app
        .entry(
            &owner,
            &json!({"content": "private thoughts", "title": "mine", "mood": "bad", "tags": ["secret"]}),
        )
        .await;
    let id = id_of(&entry);
    let absent = uuid::Uuid::now_v7().to_string();

    let foreign = assert_problem(get_entry(&app, &other, id).await, StatusCode::NOT_FOUND).await;
    let missing = assert_problem(
        get_entry(&app, &other, &absent).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Exactly the answer for an id that does not exist: nothing tells the two apart.
    assert_eq!(foreign, missing);

    let body = json!({"content": "overwritten", "title": null, "tags": []});
    for if_match in [None, Some("\"1\""), Some("\"7\""), Some("*")] {
        let response = patch_entry(&app, &other, id, &body, if_match).await;
        let problem = assert_problem(response, StatusCode::NOT_FOUND).await;
        assert_eq!(problem, missing, "If-Match {if_match:?}");
    }
    let deleted = assert_problem(delete_entry(&app, &other, id).await, StatusCode::NOT_FOUND).await;
    assert_eq!(deleted, missing);

    assert!(listed_ids(&app, &other, "").await.is_empty());
    assert!(listed_ids(&app, &other, "?q=private").await.is_empty());
    assert!(listed_ids(&app, &other, "?tag=secret").await.is_empty());
    assert!(listed_ids(&app, &other, "?mood=bad").await.is_empty());

    let after = get_entry(&app, &owner, id).await;
    assert_eq!(after.status(), StatusCode::OK);
    let after: Value = after.json().await.expect("entry JSON");
    assert_eq!(after, entry, "the owner's entry changed");
    assert_eq!(listed_ids(&app, &owner, "").await, [id]);
}

// ---- delete -------------------------------------------------------------------------------------

#[tokio::test]
async fn delete_answers_204_then_the_entry_is_gone() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let keep = app.entry(&user, &json!({"content": "keep"})).await;
    let entry = app.entry(&user, &json!({"content": "bye"})).await;
    let id = id_of(&entry);
    let response = delete_entry(&app, &user, id).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.expect("body").is_empty());
    assert_problem(get_entry(&app, &user, id).await, StatusCode::NOT_FOUND).await;
    assert_problem(delete_entry(&app, &user, id).await, StatusCode::NOT_FOUND).await;
    let patch = patch_entry(
        &app,
        &user,
        id,
        &json!({"content": "zombie"}),
        Some("\"1\""),
    )
    .await;
    assert_problem(patch, StatusCode::NOT_FOUND).await;
    assert_eq!(listed_ids(&app, &user, "").await, [id_of(&keep)]);
}
