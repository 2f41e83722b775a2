//! The entry list: page size, order, the opaque cursor, and that walking the pages while others
//! write still visits every entry exactly once.

mod walking;

use std::collections::{BTreeSet, HashMap};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::entries::{delete_entry, ids};
use crate::support::{TestApp, TestUser, assert_problem, error_fields};

pub(crate) struct Page {
    pub(crate) items: Vec<Value>,
    pub(crate) next_cursor: Option<String>,
}

pub(crate) async fn page(app: &TestApp, user: &TestUser, query: &str) -> Page {
    let response = app.list_entries(user, query).await;
    assert_eq!(response.status(), StatusCode::OK, "list {query}");
    let body: Value = response.json().await.expect("page JSON");
    let next_cursor = match &body["next_cursor"] {
        Value::Null => None,
        Value::String(cursor) => Some(cursor.clone()),
        other => panic!("next_cursor is neither a string nor null: {other}"),
    };
    Page {
        items: body["items"].as_array().expect("items").clone(),
        next_cursor,
    }
}

/// `?{filters}&cursor=...` with the cursor escaped, as a client that treats it as opaque would.
pub(crate) fn with_cursor(filters: &str, cursor: Option<&str>) -> String {
    let mut query = filters.to_owned();
    if let Some(cursor) = cursor {
        let escaped: String = url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
        query.push_str(&format!("&cursor={escaped}"));
    }
    format!("?{query}")
}

/// Follows `next_cursor` to the end, returning every item in the order served.
pub(crate) async fn walk(app: &TestApp, user: &TestUser, filters: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor = None;
    for _ in 0..100 {
        let page = page(app, user, &with_cursor(filters, cursor.as_deref())).await;
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return items,
        }
    }
    panic!("the walk did not end after 100 pages");
}

/// (entry_date, id) as the list orders them; hyphenated lower-case UUIDs compare like the bytes
/// PostgreSQL compares.
pub(crate) fn key(entry: &Value) -> (String, String) {
    (
        entry["entry_date"].as_str().expect("a date").to_owned(),
        entry["id"].as_str().expect("an id").to_owned(),
    )
}

pub(crate) fn assert_strictly_newest_first(items: &[Value]) {
    for pair in items.windows(2) {
        assert!(
            key(&pair[0]) > key(&pair[1]),
            "out of order: {:?} then {:?}",
            key(&pair[0]),
            key(&pair[1])
        );
    }
}

/// Inserts an entry with a random (v4) id straight into the table, so ties on `entry_date` are
/// not ordered the way they were created, as they would not be after an import.
async fn insert_with_random_id(app: &TestApp, owner: uuid::Uuid, date: &str) -> String {
    let id = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO entries (id, user_id, content, entry_date) VALUES ($1, $2, 'imported', $3::date)")
        .bind(id)
        .bind(owner)
        .bind(date)
        .execute(&app.pool)
        .await
        .expect("insert an entry");
    id.to_string()
}

#[tokio::test]
async fn a_page_holds_20_entries_by_default_and_limit_sets_the_size() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    for n in 0..21 {
        app.entry(&user, &json!({"content": format!("entry {n}")}))
            .await;
    }
    let first = page(&app, &user, "").await;
    assert_eq!(first.items.len(), 20);
    let cursor = first.next_cursor.expect("a next page");
    let rest = page(&app, &user, &with_cursor("", Some(&cursor))).await;
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next_cursor, None);
    for (limit, size, more) in [
        (1, 1, true),
        (7, 7, true),
        (21, 21, false),
        (100, 21, false),
    ] {
        let page = page(&app, &user, &format!("?limit={limit}")).await;
        assert_eq!(page.items.len(), size, "limit={limit}");
        assert_eq!(page.next_cursor.is_some(), more, "limit={limit}");
    }
}

#[tokio::test]
async fn a_limit_outside_1_to_100_or_not_an_integer_is_422_naming_limit() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    for limit in [
        "0",
        "101",
        "-1",
        "abc",
        "",
        "1.5",
        "99999999999999999999",
        "1e2",
    ] {
        let response = app.list_entries(&user, &format!("?limit={limit}")).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(
            error_fields(&problem),
            ["limit"],
            "limit={limit:?}: {problem}"
        );
    }
}

#[tokio::test]
async fn entries_come_newest_entry_date_first_with_the_id_breaking_ties() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let owner = app.user_id(&user).await;
    let mut expected = Vec::new();
    for date in [
        "2026-03-02",
        "2026-01-15",
        "2026-03-02",
        "2025-12-31",
        "2026-01-15",
    ] {
        let entry = app
            .entry(&user, &json!({"content": "x", "entry_date": date}))
            .await;
        expected.push((
            date.to_owned(),
            entry["id"].as_str().expect("id").to_owned(),
        ));
    }
    for date in ["2026-03-02", "2026-01-15", "2026-03-02"] {
        expected.push((
            date.to_owned(),
            insert_with_random_id(&app, owner, date).await,
        ));
    }
    expected.sort();
    expected.reverse();
    let listed = page(&app, &user, "").await;
    let listed: Vec<(String, String)> = listed.items.iter().map(key).collect();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn next_cursor_is_null_on_the_last_page_even_when_it_is_exactly_full() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let empty = page(&app, &user, "").await;
    assert!(empty.items.is_empty());
    assert_eq!(empty.next_cursor, None);
    for n in 0..4 {
        app.entry(&user, &json!({"content": format!("{n}")})).await;
    }
    let exact = page(&app, &user, "?limit=4").await;
    assert_eq!((exact.items.len(), exact.next_cursor), (4, None));
    let first = page(&app, &user, "?limit=2").await;
    let cursor = first.next_cursor.expect("a second page");
    let second = page(&app, &user, &with_cursor("limit=2", Some(&cursor))).await;
    assert_eq!(second.items.len(), 2);
    assert_eq!(second.next_cursor, None);
}

#[tokio::test]
async fn an_invalid_cursor_is_422_naming_cursor() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let entry = app.entry(&user, &json!({"content": "x"})).await;
    let id = entry["id"].as_str().expect("id");
    use base64::Engine as _;
    let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    for cursor in [
        "".to_owned(),
        "not a cursor".to_owned(),
        "!!!".to_owned(),
        b64("hello"),
        b64(&format!("2026-02-30|{id}")),
        b64(&format!("-5000-01-01|{id}")),
        b64(&format!("2026-2-9|{id}")),
        b64("2026-02-09|not-a-uuid"),
        b64(&format!("{id}|2026-02-09")),
        // Standard base64 with padding is not what the service hands out.
        base64::engine::general_purpose::STANDARD.encode(format!("2026-02-09|{id}")),
    ] {
        let response = app
            .list_entries(&user, &with_cursor("limit=5", Some(&cursor)))
            .await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(
            error_fields(&problem),
            ["cursor"],
            "cursor={cursor:?}: {problem}"
        );
    }
}
