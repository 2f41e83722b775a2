//! The keys of entries_owner_keys_idx, the GIN index the list's filters fall back on past their
//! window: the upper half of every key is the owner's, so one person's keys are neighbours in
//! the index and a create, a merge of GIN's pending list or a search touches that person's few
//! pages, wherever everyone else's entries are.

use serde_json::json;
use uuid::Uuid;

use crate::support::TestApp;

/// The distinct upper halves of the keys of `owner`'s entries.
const ENTRY_HALVES: &str = "SELECT DISTINCT key >> 32 FROM entries,
        unnest(entry_owner_keys(user_id, mood, tags, search)) AS key
  WHERE user_id = $1";

/// The distinct upper halves of the keys a search of `owner`'s for a tag, a mood and two words,
/// either of them, looks for.
const WANTED_HALVES: &str = "SELECT DISTINCT key >> 32
   FROM entry_owner_wanted($1, 'good', 'walk', websearch_to_tsquery('english', 'river or hill'))
        AS wanted,
        unnest(wanted.all_of || wanted.any_of) AS key";

async fn halves(pool: &sqlx::PgPool, statement: &'static str, owner: Uuid) -> Vec<i64> {
    sqlx::query_scalar(statement)
        .bind(owner)
        .fetch_all(pool)
        .await
        .expect("the upper halves of the keys")
}

#[tokio::test]
async fn every_key_of_a_persons_entries_and_searches_carries_that_persons_own_upper_half() {
    let app = TestApp::spawn().await;
    let mut owners = Vec::new();
    for words in [
        "a river walk at dawn",
        "the hill above the river, in the rain",
    ] {
        let user = app.user().await;
        for (mood, tags) in [
            ("good", json!(["walk", "outside"])),
            ("bad", json!(["home"])),
        ] {
            app.entry(
                &user,
                &json!({"title": "Saturday", "content": words, "mood": mood, "tags": tags}),
            )
            .await;
        }
        owners.push(app.user_id(&user).await);
    }
    let mut seen = Vec::new();
    for owner in owners {
        let written = halves(&app.pool, ENTRY_HALVES, owner).await;
        assert_eq!(written.len(), 1, "{owner}: entries' keys under {written:?}");
        let wanted = halves(&app.pool, WANTED_HALVES, owner).await;
        assert_eq!(wanted, written, "{owner}: a search's keys");
        seen.extend(written);
    }
    assert_ne!(seen[0], seen[1], "two people's keys under one half");
    // The halves change where keys sit, not which entries they find.
    let found: i64 = sqlx::query_scalar(
        "SELECT count(*)
           FROM entries, to_tsquery('english', 'river') AS words,
                entry_owner_wanted(user_id, 'good', 'walk', words) AS wanted
          WHERE entry_owner_keys(user_id, mood, tags, search) @> wanted.all_of",
    )
    .fetch_one(&app.pool)
    .await
    .expect("entries with the keys");
    assert_eq!(found, 2, "each person's good walk by the river");
}

#[tokio::test]
async fn a_create_writes_one_gin_index_once_the_per_owner_keys_replaced_the_global_ones() {
    let app = TestApp::spawn().await;
    let gin_indexes: Vec<String> = sqlx::query_scalar(
        "SELECT index.relname::text
           FROM pg_index
           JOIN pg_class AS index ON index.oid = pg_index.indexrelid
           JOIN pg_am ON pg_am.oid = index.relam
          WHERE pg_index.indrelid = 'entries'::regclass AND pg_am.amname = 'gin'",
    )
    .fetch_all(&app.pool)
    .await
    .expect("the GIN indexes on entries");
    assert_eq!(gin_indexes, ["entries_owner_keys_idx"]);
}

#[tokio::test]
async fn the_global_keys_function_went_with_its_index_and_the_ones_still_called_stay() {
    let app = TestApp::spawn().await;
    let functions: Vec<String> = sqlx::query_scalar(
        "SELECT proname::text FROM pg_proc
          WHERE proname IN ('entry_filter_keys', 'entry_filter_key', 'entry_filter_wanted')
          ORDER BY proname",
    )
    .fetch_all(&app.pool)
    .await
    .expect("the key functions");
    assert_eq!(functions, ["entry_filter_key", "entry_filter_wanted"]);
}
