//! Creating entries: 201 with `Location`, `ETag` and the defaults, every field stored, and the
//! contract's limits on content, title, mood, tags and `entry_date` (NUL characters included).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{etag, id_of, patch_entry};
use crate::support::TestApp;
use crate::support::assert_rejects;

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
        assert_rejects(response, "mood", &format!("mood {mood}")).await;
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
        assert_rejects(
            response,
            "content",
            &format!("{} characters", content.chars().count()),
        )
        .await;
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
    assert_rejects(response, "title", "201 characters").await;
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
        assert_rejects(response, "tags", &tags.to_string()).await;
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
        assert_rejects(response, "entry_date", date).await;
    }
    let response = app
        .create_entry(&user, &json!({"content": "x", "entry_date": 20260209}))
        .await;
    assert_rejects(response, "entry_date", "a number").await;
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
        assert_rejects(
            app.create_entry(&user, &body).await,
            field,
            &format!("POST {body}"),
        )
        .await;
    }
    let entry = app.entry(&user, &json!({"content": "x"})).await;
    for (body, field) in [
        (json!({"content": "\u{0}"}), "content"),
        (json!({"title": "a\u{0}"}), "title"),
        (json!({"tags": ["\u{0}"]}), "tags"),
    ] {
        let response = patch_entry(&app, &user, id_of(&entry), &body, None).await;
        assert_rejects(response, field, &format!("PATCH {body}")).await;
    }
}
