//! Walking the pages with the cursor: while others write, across deletions, with filters, and with a cursor of someone else.

use super::*;

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
