//! The byte budget of a list page: over large entries a page stops before 1 MiB of entries, still
//! with at least one entry and a `next_cursor`, and following the cursors visits every entry
//! exactly once; a page cut short leaves its connection ready for the next request.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::entries::ids;
use crate::pagination::{assert_strictly_newest_first, key, page, walk, with_cursor};
use crate::support::{TestApp, TestUser, sqlx_connect};

/// What the service promises for a page's entries (`PAGE_BYTES_BUDGET`).
const PAGE_BYTES_BUDGET: usize = 1024 * 1024;
/// `{"items":[`, `],"next_cursor":` and a cursor: what a page holds besides its entries.
const ENVELOPE_BYTES: usize = 128;
/// The most a client could ever get for one entry: 20,000 characters of six-byte escapes.
const LARGEST_CONTENT: usize = 20_000;

/// `count` entries of the largest content there is (control characters, each `\u0001` in JSON),
/// three a day so pages split days, written straight to the table for speed; returns their ids.
/// Over a connection of the test's own: the app's pool may be a single connection that the app
/// keeps parked for its next request, and the test must not queue behind it.
async fn large_entries(app: &TestApp, user: &TestUser, count: i32) -> BTreeSet<String> {
    let owner = app.user_id(user).await;
    let db = sqlx_connect(&app.database_url).await;
    let created: Vec<uuid::Uuid> = sqlx::query_scalar(
        "INSERT INTO entries (id, user_id, content, entry_date)
         SELECT gen_random_uuid(), $1, repeat(chr(1), $3), date '2026-03-01' - (g / 3)
           FROM generate_series(1, $2) g
         RETURNING id",
    )
    .bind(owner)
    .bind(count)
    .bind(i32::try_from(LARGEST_CONTENT).expect("fits"))
    .fetch_all(&db)
    .await
    .expect("insert large entries");
    db.close().await;
    created.iter().map(uuid::Uuid::to_string).collect()
}

/// A page's raw body, to weigh it, and the page it parses to.
async fn raw_page(app: &TestApp, user: &TestUser, query: &str) -> (usize, Value) {
    let response = app.list_entries(user, query).await;
    assert_eq!(response.status(), StatusCode::OK, "list {query}");
    let body = response.bytes().await.expect("a body");
    let page = serde_json::from_slice(&body).expect("page JSON");
    (body.len(), page)
}

#[tokio::test]
async fn a_page_of_large_entries_stops_under_1_mib_with_a_next_cursor_and_the_walk_visits_each_once()
 {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let created = large_entries(&app, &user, 40).await;

    let (bytes, first) = raw_page(&app, &user, "?limit=100").await;
    let served = first["items"].as_array().expect("items").len();
    assert!(
        bytes <= PAGE_BYTES_BUDGET + ENVELOPE_BYTES,
        "a page of {bytes} bytes"
    );
    // Each entry is ~120 kB of JSON: a page holds several, but not all 40.
    assert!((2..40).contains(&served), "{served} entries on the page");
    assert!(first["next_cursor"].is_string(), "{}", first["next_cursor"]);

    let walked = walk(&app, &user, "limit=100").await;
    assert_strictly_newest_first(&walked);
    let walked = ids(&Value::Array(walked));
    let distinct: BTreeSet<String> = walked.iter().cloned().collect();
    assert_eq!(walked.len(), distinct.len(), "an entry served twice");
    assert_eq!(distinct, created);

    // The byte budget and `limit` together: whichever comes first ends the page.
    let small = page(&app, &user, "?limit=3").await;
    assert_eq!(small.items.len(), 3);
    assert!(small.next_cursor.is_some());
}

#[tokio::test]
async fn a_page_of_one_large_entry_is_served_whole() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let only = large_entries(&app, &user, 1).await;
    let whole = page(&app, &user, "?limit=100").await;
    assert_eq!(
        ids(&Value::Array(whole.items.clone())),
        Vec::from_iter(only)
    );
    assert_eq!(whole.items[0]["content"], "\u{1}".repeat(LARGEST_CONTENT));
    assert_eq!(whole.next_cursor, None);

    large_entries(&app, &user, 2).await;
    let first = page(&app, &user, "?limit=1").await;
    assert_eq!(first.items.len(), 1);
    let cursor = first.next_cursor.expect("more pages");
    let rest = page(&app, &user, &with_cursor("limit=1", Some(&cursor))).await;
    assert_eq!(rest.items.len(), 1);
    assert!(key(&first.items[0]) > key(&rest.items[0]));
}

#[tokio::test]
async fn a_page_cut_short_leaves_the_only_connection_ready_for_the_next_request() {
    let app = TestApp::spawn_with(&[
        ("ECHODIARY__DATABASE__MAX_CONNECTIONS", "1"),
        ("ECHODIARY__DATABASE__MIN_CONNECTIONS", "1"),
    ])
    .await;
    let user = app.user().await;
    large_entries(&app, &user, 30).await;
    let small = app
        .entry(
            &user,
            &json!({"content": "small", "title": "after the cut", "entry_date": "2026-06-01"}),
        )
        .await;
    let small_id = small["id"].as_str().expect("an id");
    for round in 0..5 {
        // Cut by the byte budget with most of its 100 rows still unread...
        let (_, cut) = raw_page(&app, &user, "?limit=100").await;
        let served = cut["items"].as_array().expect("items").len();
        assert!(served < 31, "round {round}: {served} entries on one page");
        // ... then the same single connection answers other queries with their own rows.
        let got = app
            .as_user(&user, Method::GET, &format!("/api/v1/entries/{small_id}"))
            .send()
            .await
            .expect("get");
        assert_eq!(got.status(), StatusCode::OK, "round {round}");
        let got: Value = got.json().await.expect("entry JSON");
        assert_eq!(got["title"], "after the cut", "round {round}");
        let newest = page(&app, &user, "?limit=1").await;
        assert_eq!(
            ids(&Value::Array(newest.items)),
            [small_id],
            "round {round}"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_tells_clients_a_page_may_hold_fewer_than_limit_entries() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .get("/openapi.json")
        .await
        .json()
        .await
        .expect("OpenAPI JSON");
    let list = &doc["paths"]["/api/v1/entries"]["get"];
    let limit = list["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "limit")
        .expect("a limit parameter");
    let page = &doc["components"]["schemas"]["EntryPage"]["properties"];
    for (what, text) in [
        ("the operation", &list["description"]),
        ("limit", &limit["description"]),
        ("next_cursor", &page["next_cursor"]["description"]),
    ] {
        let text = text.as_str().unwrap_or_default();
        assert!(text.contains("1 MiB"), "{what}: {text:?}");
    }
}
