//! Entries: create, read, partial update with `If-Match`, delete, filters, full-text search, and
//! that nobody ever sees or changes someone else's entries.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, TestUser, assert_problem, error_fields};

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

/// Asserts a 422 whose `errors` name exactly `field`.
async fn assert_rejects(response: Response, field: &str) {
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&problem), [field], "{problem}");
}

// ---- create -------------------------------------------------------------------------------------

#[tokio::test]
async fn create_answers_201_with_location_etag_and_the_defaults() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let before = chrono::Utc::now().date_naive();
    let response = app
        .create_entry(&user, &json!({"content": "Rain all day."}))
        .await;
    let after = chrono::Utc::now().date_naive();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(etag(&response).as_deref(), Some("\"1\""));
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location header")
        .to_owned();
    let entry: Value = response.json().await.expect("entry JSON");
    let id = id_of(&entry);
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{entry}");
    assert_eq!(location, format!("/api/v1/entries/{id}"));
    assert_eq!(entry["content"], "Rain all day.");
    assert_eq!(entry["title"], Value::Null);
    assert_eq!(entry["mood"], Value::Null);
    assert_eq!(entry["tags"], json!([]));
    assert_eq!(entry["version"], 1);
    // Today in UTC, whichever side of midnight the request landed on.
    let date = entry["entry_date"].as_str().expect("a date");
    assert!(
        [before.to_string(), after.to_string()].contains(&date.to_owned()),
        "{date}"
    );
    for stamp in ["created_at", "updated_at"] {
        let text = entry[stamp].as_str().expect("a timestamp");
        assert!(text.ends_with('Z'), "{stamp} is not UTC: {text}");
        assert!(chrono::DateTime::parse_from_rfc3339(text).is_ok(), "{text}");
    }
    let mut keys: Vec<&str> = entry
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "content",
            "created_at",
            "entry_date",
            "id",
            "mood",
            "tags",
            "title",
            "updated_at",
            "version"
        ]
    );

    // The Location leads to the same entry.
    let fetched = app
        .as_user(&user, Method::GET, &location)
        .send()
        .await
        .expect("follow Location");
    assert_eq!(fetched.status(), StatusCode::OK);
    let fetched: Value = fetched.json().await.expect("entry JSON");
    assert_eq!(fetched, entry);
}

#[tokio::test]
async fn create_stores_every_field_given() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = app
        .entry(
            &user,
            &json!({
                "content": "Met Ada at the café.",
                "title": "Tuesday",
                "mood": "great",
                "tags": ["friends", "coffee"],
                "entry_date": "2024-02-29",
            }),
        )
        .await;
    assert_eq!(entry["content"], "Met Ada at the café.");
    assert_eq!(entry["title"], "Tuesday");
    assert_eq!(entry["mood"], "great");
    assert_eq!(entry["tags"], json!(["friends", "coffee"]));
    assert_eq!(entry["entry_date"], "2024-02-29");
}

#[tokio::test]
async fn create_accepts_every_mood_of_the_contract_and_nothing_else() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    for mood in ["great", "good", "okay", "bad", "awful"] {
        let entry = app
            .entry(&user, &json!({"content": "x", "mood": mood}))
            .await;
        assert_eq!(entry["mood"], mood);
    }
    for mood in [json!("happy"), json!("Good"), json!(""), json!(3)] {
        let response = app
            .create_entry(&user, &json!({"content": "x", "mood": mood}))
            .await;
        assert_rejects(response, "mood").await;
    }
}

#[tokio::test]
async fn content_must_be_1_to_20000_characters_counted_as_characters_not_bytes() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    // 20000 two-byte characters: 40000 bytes, still within the limit.
    for content in ["x".to_owned(), "é".repeat(20_000), "x".repeat(20_000)] {
        let entry = app.entry(&user, &json!({"content": content})).await;
        assert_eq!(
            entry["content"].as_str().map(|c| c.chars().count()),
            Some(content.chars().count())
        );
    }
    for content in [String::new(), "x".repeat(20_001), "é".repeat(20_001)] {
        let response = app.create_entry(&user, &json!({"content": content})).await;
        assert_rejects(response, "content").await;
    }
}

#[tokio::test]
async fn title_may_be_up_to_200_characters() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    for title in ["ü".repeat(200), "t".repeat(200)] {
        let entry = app
            .entry(&user, &json!({"content": "x", "title": title}))
            .await;
        assert_eq!(entry["title"], title.as_str());
    }
    let response = app
        .create_entry(&user, &json!({"content": "x", "title": "t".repeat(201)}))
        .await;
    assert_rejects(response, "title").await;
}

#[tokio::test]
async fn tags_may_be_up_to_10_distinct_strings_of_1_to_32_characters() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let ten: Vec<String> = (0..10).map(|n| format!("tag{n}")).collect();
    let entry = app
        .entry(&user, &json!({"content": "x", "tags": ten}))
        .await;
    assert_eq!(entry["tags"], json!(ten));
    let edges = ["a".to_owned(), "ß".repeat(32)];
    let entry = app
        .entry(&user, &json!({"content": "x", "tags": edges}))
        .await;
    assert_eq!(entry["tags"], json!(edges));

    let eleven: Vec<String> = (0..11).map(|n| format!("tag{n}")).collect();
    for tags in [
        json!(eleven),
        json!(["same", "same"]),
        json!([""]),
        json!(["ok", "x".repeat(33)]),
        json!(["ß".repeat(33)]),
    ] {
        let response = app
            .create_entry(&user, &json!({"content": "x", "tags": tags}))
            .await;
        assert_rejects(response, "tags").await;
    }
}

#[tokio::test]
async fn entry_date_must_be_a_real_calendar_date_written_yyyy_mm_dd() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    for date in ["2024-02-29", "0001-01-01", "9999-12-31", "1970-01-01"] {
        let entry = app
            .entry(&user, &json!({"content": "x", "entry_date": date}))
            .await;
        assert_eq!(entry["entry_date"], date);
    }
    for date in [
        "2023-02-29",
        "2026-13-01",
        "2026-00-10",
        "2026-2-9",
        "26-02-09",
        "+2026-02-09",
        "12026-02-09",
        "-5000-01-01",
        " 2026-02-09",
        "2026-02-09 ",
        "2026-02-09T10:00:00Z",
        "20260209",
        "09/02/2026",
        "today",
        "",
    ] {
        let response = app
            .create_entry(&user, &json!({"content": "x", "entry_date": date}))
            .await;
        assert_rejects(response, "entry_date").await;
    }
    let response = app
        .create_entry(&user, &json!({"content": "x", "entry_date": 20260209}))
        .await;
    assert_rejects(response, "entry_date").await;
}

#[tokio::test]
async fn text_with_a_nul_character_is_422_not_a_database_error() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    for (body, field) in [
        (json!({"content": "a\u{0}b"}), "content"),
        (json!({"content": "x", "title": "\u{0}"}), "title"),
        (json!({"content": "x", "tags": ["ok", "b\u{0}d"]}), "tags"),
    ] {
        assert_rejects(app.create_entry(&user, &body).await, field).await;
    }
    let entry = app.entry(&user, &json!({"content": "x"})).await;
    for (body, field) in [
        (json!({"content": "\u{0}"}), "content"),
        (json!({"title": "a\u{0}"}), "title"),
        (json!({"tags": ["\u{0}"]}), "tags"),
    ] {
        let response = patch_entry(&app, &user, id_of(&entry), &body, None).await;
        assert_rejects(response, field).await;
    }
}

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

// ---- update -------------------------------------------------------------------------------------

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
        assert_rejects(response, field).await;
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
        assert_rejects(patch_entry(&app, &user, id, &body, None).await, field).await;
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
    assert_rejects(response, "body").await;
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

// ---- filters and search -------------------------------------------------------------------------

#[tokio::test]
async fn from_and_to_filter_entry_dates_inclusively() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let mut by_date = std::collections::BTreeMap::new();
    for date in [
        "2026-01-01",
        "2026-01-02",
        "2026-01-03",
        "2026-01-04",
        "2026-01-05",
    ] {
        let entry = app
            .entry(&user, &json!({"content": date, "entry_date": date}))
            .await;
        by_date.insert(date, id_of(&entry).to_owned());
    }
    let expect =
        |dates: &[&str]| -> Vec<String> { dates.iter().map(|d| by_date[d].clone()).collect() };
    assert_eq!(
        listed_ids(&app, &user, "?from=2026-01-02&to=2026-01-04").await,
        expect(&["2026-01-04", "2026-01-03", "2026-01-02"])
    );
    assert_eq!(
        listed_ids(&app, &user, "?from=2026-01-04").await,
        expect(&["2026-01-05", "2026-01-04"])
    );
    assert_eq!(
        listed_ids(&app, &user, "?to=2026-01-02").await,
        expect(&["2026-01-02", "2026-01-01"])
    );
    assert_eq!(
        listed_ids(&app, &user, "?from=2026-01-03&to=2026-01-03").await,
        expect(&["2026-01-03"])
    );
    assert!(listed_ids(&app, &user, "?from=2026-02-01").await.is_empty());
}

#[tokio::test]
async fn mood_and_tag_filters_keep_only_matching_entries() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let good_work = app
        .entry(
            &user,
            &json!({"content": "a", "mood": "good", "tags": ["work"], "entry_date": "2026-01-03"}),
        )
        .await;
    let good_home = app
        .entry(&user, &json!({"content": "b", "mood": "good", "tags": ["home", "Work"], "entry_date": "2026-01-02"}))
        .await;
    let bad_work = app
        .entry(&user, &json!({"content": "c", "mood": "bad", "tags": ["work", "home"], "entry_date": "2026-01-01"}))
        .await;
    let _no_mood = app.entry(&user, &json!({"content": "d"})).await;
    assert_eq!(
        listed_ids(&app, &user, "?mood=good").await,
        [id_of(&good_work), id_of(&good_home)]
    );
    assert_eq!(
        listed_ids(&app, &user, "?mood=awful").await,
        Vec::<String>::new()
    );
    // Tags match exactly: case matters.
    assert_eq!(
        listed_ids(&app, &user, "?tag=work").await,
        [id_of(&good_work), id_of(&bad_work)]
    );
    assert_eq!(
        listed_ids(&app, &user, "?tag=Work").await,
        [id_of(&good_home)]
    );
    assert_eq!(
        listed_ids(&app, &user, "?tag=wor").await,
        Vec::<String>::new()
    );
    assert_eq!(
        listed_ids(&app, &user, "?tag=home&mood=bad").await,
        [id_of(&bad_work)]
    );
    assert_eq!(
        listed_ids(&app, &user, "?tag=work&from=2026-01-02&to=2026-01-03").await,
        [id_of(&good_work)]
    );
}

#[tokio::test]
async fn q_searches_title_and_content_with_english_stemming() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let walked = app
        .entry(
            &user,
            &json!({"content": "We walked to the old lighthouse.", "entry_date": "2026-01-03"}),
        )
        .await;
    let titled = app
        .entry(&user, &json!({"title": "Lighthouse keepers", "content": "Nothing much.", "entry_date": "2026-01-02"}))
        .await;
    let running = app
        .entry(
            &user,
            &json!({"content": "Running in the rain with the dogs.", "entry_date": "2026-01-01"}),
        )
        .await;
    let (walked, titled, running) = (id_of(&walked), id_of(&titled), id_of(&running));

    // 'english' reduces walk, walks, walked and walking to one lexeme.
    for q in ["walking", "walks", "walk", "WALKED"] {
        assert_eq!(
            listed_ids(&app, &user, &format!("?q={q}")).await,
            [walked],
            "{q}"
        );
    }
    // Title and content are both searched; plural and case do not matter.
    assert_eq!(
        listed_ids(&app, &user, "?q=lighthouses").await,
        [walked, titled]
    );
    assert_eq!(listed_ids(&app, &user, "?q=keeper").await, [titled]);
    assert_eq!(listed_ids(&app, &user, "?q=run").await, [running]);
    assert_eq!(listed_ids(&app, &user, "?q=dog").await, [running]);
    // Stemming is not a thesaurus: the irregular past "ran" is its own word.
    assert!(listed_ids(&app, &user, "?q=ran").await.is_empty());
    // Web-search syntax: all words must match, "-" excludes, quotes make a phrase.
    assert_eq!(
        listed_ids(&app, &user, "?q=lighthouse%20walk").await,
        [walked]
    );
    assert_eq!(
        listed_ids(&app, &user, "?q=lighthouse%20-walk").await,
        [titled]
    );
    assert_eq!(
        listed_ids(&app, &user, "?q=%22old%20lighthouse%22").await,
        [walked]
    );
    assert!(
        listed_ids(&app, &user, "?q=%22lighthouse%20old%22")
            .await
            .is_empty()
    );
    assert_eq!(
        listed_ids(&app, &user, "?q=walk%20or%20dogs").await,
        [walked, running]
    );
    // A query of stop words only finds nothing rather than everything.
    assert!(listed_ids(&app, &user, "?q=the").await.is_empty());
    assert!(listed_ids(&app, &user, "?q=umbrella").await.is_empty());
    // Search combines with the other filters.
    assert_eq!(
        listed_ids(&app, &user, "?q=lighthouse&to=2026-01-02").await,
        [titled]
    );
}

#[tokio::test]
async fn q_reflects_edits_to_title_and_content() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = app.entry(&user, &json!({"content": "apples"})).await;
    let id = id_of(&entry);
    assert_eq!(listed_ids(&app, &user, "?q=apple").await, [id]);
    let response = patch_entry(
        &app,
        &user,
        id,
        &json!({"content": "pears", "title": "Orchard"}),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(listed_ids(&app, &user, "?q=apple").await.is_empty());
    assert_eq!(listed_ids(&app, &user, "?q=pear").await, [id]);
    assert_eq!(listed_ids(&app, &user, "?q=orchards").await, [id]);
}

#[tokio::test]
async fn search_is_served_by_the_gin_index_on_a_realistically_sized_table() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let me: Value = app
        .as_user(&user, Method::GET, "/api/v1/users/me")
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("JSON");
    let user_id = uuid::Uuid::parse_str(me["id"].as_str().expect("an id")).expect("a UUID");
    sqlx::query(
        "INSERT INTO entries (id, user_id, content, entry_date)
         SELECT gen_random_uuid(), $1, 'an ordinary day, number ' || g, date '2020-01-01' + g % 1500
         FROM generate_series(1, 3000) g",
    )
    .bind(user_id)
    .execute(&app.pool)
    .await
    .expect("seed entries");
    let needle = app
        .entry(
            &user,
            &json!({"content": "We walked to the lighthouse.", "entry_date": "2019-06-01"}),
        )
        .await;
    // VACUUM moves GIN's pending list into the index proper and ANALYZE gives the planner the
    // statistics it would have in production; without them it cannot cost the index fairly.
    sqlx::raw_sql("VACUUM ANALYZE entries")
        .execute(&app.pool)
        .await
        .expect("vacuum");

    let mut conn = app.pool.acquire().await.expect("a connection");
    sqlx::raw_sql("SET enable_seqscan = off")
        .execute(&mut *conn)
        .await
        .expect("set");
    // The search predicate exactly as the list query writes it, parameters bound the same way.
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN
         SELECT id FROM entries
         WHERE user_id = $1
           AND ($2::text IS NULL OR search @@ websearch_to_tsquery('english', $2))
         ORDER BY entry_date DESC, id DESC
         LIMIT 21",
    )
    .bind(user_id)
    .bind("walking")
    .fetch_all(&mut *conn)
    .await
    .expect("explain");
    let plan = plan.join("\n");
    assert!(plan.contains("Index Scan on entries_search_idx"), "{plan}");
    sqlx::raw_sql("RESET enable_seqscan")
        .execute(&mut *conn)
        .await
        .expect("reset");
    drop(conn);

    assert_eq!(
        listed_ids(&app, &user, "?q=walking").await,
        [id_of(&needle)]
    );
}
