//! The entry list: page size, order, the opaque cursor, and that walking the pages while others
//! write still visits every entry exactly once.

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

#[tokio::test]
async fn walking_all_pages_while_entries_are_inserted_visits_every_existing_entry_exactly_once() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let owner = app.user_id(&user).await;
    let dates: Vec<String> = (1..=8).map(|d| format!("2026-01-{d:02}")).collect();
    let mut existing = BTreeSet::new();
    // Four entries a day, one of them with a random id, so page boundaries (3 a page) fall
    // inside days and ties are not in creation order.
    for date in &dates {
        for _ in 0..3 {
            let entry = app
                .entry(&user, &json!({"content": "before", "entry_date": date}))
                .await;
            existing.insert(entry["id"].as_str().expect("id").to_owned());
        }
        existing.insert(insert_with_random_id(&app, owner, date).await);
    }

    let mut visited: Vec<Value> = Vec::new();
    let mut inserted_behind_the_cursor = BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages < 60, "the walk does not end");
        let page = page(&app, &user, &with_cursor("limit=3", cursor.as_deref())).await;
        let (Some(first), Some(last)) = (page.items.first(), page.items.last()) else {
            panic!("an empty page with a cursor pointing at it");
        };
        let (first_date, last_date) = (key(first).0, key(last).0);
        visited.extend(page.items.iter().cloned());
        let Some(next) = page.next_cursor else { break };
        cursor = Some(next);

        // Another device writes between two page fetches: on the boundary day, on the page's
        // first day, on a newer day, and on an older day still ahead of the walk.
        for date in [last_date.as_str(), first_date.as_str(), "2026-02-01"] {
            app.entry(&user, &json!({"content": "during", "entry_date": date}))
                .await;
        }
        let boundary_import = insert_with_random_id(&app, owner, &last_date).await;
        if (last_date.clone(), boundary_import.clone()) < key(last) {
            inserted_behind_the_cursor.insert(boundary_import);
        }
        // Each one older than everything so far, so strictly behind wherever the cursor is.
        let older_date = chrono::NaiveDate::from_ymd_opt(2025, 12, 31).expect("a date")
            - chrono::Days::new(pages);
        let older = app
            .entry(
                &user,
                &json!({"content": "during", "entry_date": older_date.to_string()}),
            )
            .await;
        inserted_behind_the_cursor.insert(older["id"].as_str().expect("id").to_owned());
    }

    assert_strictly_newest_first(&visited);
    let visited_ids = ids(&Value::Array(visited));
    let mut seen = HashMap::new();
    for id in &visited_ids {
        *seen.entry(id.as_str()).or_insert(0) += 1;
    }
    let duplicates: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "visited twice: {duplicates:?}");
    let missing: Vec<_> = existing
        .iter()
        .filter(|id| !seen.contains_key(id.as_str()))
        .collect();
    assert!(missing.is_empty(), "never visited: {missing:?}");
    // Keyset pagination: what is written behind the cursor is still ahead of the walk.
    let not_reached: Vec<_> = inserted_behind_the_cursor
        .iter()
        .filter(|id| !seen.contains_key(id.as_str()))
        .collect();
    assert!(
        not_reached.is_empty(),
        "written behind the cursor but never visited: {not_reached:?}"
    );
}

#[tokio::test]
async fn deleting_the_entry_a_cursor_points_at_does_not_break_the_walk() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let mut all = Vec::new();
    for day in 1..=6 {
        let entry = app
            .entry(
                &user,
                &json!({"content": "x", "entry_date": format!("2026-01-{day:02}")}),
            )
            .await;
        all.push(entry["id"].as_str().expect("id").to_owned());
    }
    all.reverse();
    let first = page(&app, &user, "?limit=2").await;
    assert_eq!(ids(&Value::Array(first.items.clone())), all[..2]);
    // The cursor names the last entry of the page; it is deleted before the next fetch.
    let response = delete_entry(&app, &user, &all[1]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cursor = first.next_cursor.expect("more pages");
    let second = page(&app, &user, &with_cursor("limit=2", Some(&cursor))).await;
    assert_eq!(ids(&Value::Array(second.items)), all[2..4]);
}

#[tokio::test]
async fn filters_combine_with_the_cursor_and_every_page_keeps_them() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let moods = ["good", "bad", "okay"];
    let mut everything = Vec::new();
    for n in 0..15u32 {
        let mut tags = vec!["all".to_owned()];
        if n % 2 == 0 {
            tags.push("even".to_owned());
        }
        let content = if n % 3 == 0 {
            "walked by the sea"
        } else {
            "stayed in"
        };
        let entry = app
            .entry(
                &user,
                &json!({
                    "content": content,
                    "mood": moods[n as usize % 3],
                    "tags": tags,
                    // Two entries a day, so pages split days.
                    "entry_date": format!("2026-04-{:02}", 1 + n / 2),
                }),
            )
            .await;
        everything.push(entry);
    }
    let expected = |keep: &dyn Fn(&Value) -> bool| -> Vec<String> {
        let mut kept: Vec<Value> = everything.iter().filter(|e| keep(e)).cloned().collect();
        kept.sort_by_key(|e| std::cmp::Reverse(key(e)));
        ids(&Value::Array(kept))
    };
    let has_tag = |e: &Value, tag: &str| {
        e["tags"]
            .as_array()
            .is_some_and(|t| t.contains(&json!(tag)))
    };
    let in_range = |e: &Value| {
        let date = e["entry_date"].as_str().unwrap_or_default();
        ("2026-04-02"..="2026-04-06").contains(&date)
    };
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("mood=good&limit=2", expected(&|e| e["mood"] == "good")),
        ("tag=even&limit=3", expected(&|e| has_tag(e, "even"))),
        ("from=2026-04-02&to=2026-04-06&limit=2", expected(&in_range)),
        (
            "q=walking&limit=1",
            expected(&|e| e["content"] == "walked by the sea"),
        ),
        (
            "tag=even&mood=okay&from=2026-04-02&limit=1",
            expected(&|e| {
                has_tag(e, "even")
                    && e["mood"] == "okay"
                    && e["entry_date"].as_str() >= Some("2026-04-02")
            }),
        ),
    ];
    for (filters, want) in cases {
        assert!(!want.is_empty(), "{filters} selects nothing");
        let walked = walk(&app, &user, filters).await;
        assert_strictly_newest_first(&walked);
        assert_eq!(ids(&Value::Array(walked)), want, "{filters}");
    }
}

#[tokio::test]
async fn a_cursor_taken_from_someone_else_shows_only_ones_own_entries() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let bob = app.user().await;
    for day in 1..=4 {
        app.entry(
            &alice,
            &json!({"content": "alice", "entry_date": format!("2026-01-{day:02}")}),
        )
        .await;
    }
    let bobs = app
        .entry(&bob, &json!({"content": "bob", "entry_date": "2026-01-01"}))
        .await;
    let cursor = page(&app, &alice, "?limit=1")
        .await
        .next_cursor
        .expect("more pages");
    let seen = page(&app, &bob, &with_cursor("limit=10", Some(&cursor))).await;
    assert_eq!(
        ids(&Value::Array(seen.items)),
        [bobs["id"].as_str().expect("id")]
    );
    assert_eq!(seen.next_cursor, None);
}
