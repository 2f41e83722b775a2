//! Listing filters and full-text search: `from`/`to`, `mood`, `tag`, `q` with English stemming
//! and web-search syntax, and that `q` is served by the GIN index.

use reqwest::StatusCode;
use serde_json::json;

use super::{id_of, listed_ids, patch_entry};
use crate::support::TestApp;

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
