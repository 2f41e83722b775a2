//! `entry_tags`, the table the list's `tag` filter walks from the cursor: the database keeps it in
//! step with every write to `entries`, and the backfill migration builds it for entries written
//! before its trigger existed, committing as it goes, and mends rows a racing write left stale.

use serde_json::json;
use sqlx::PgPool;

use super::{delete_entry, id_of, listed_ids, patch_entry};
use crate::support::TestApp;

const BACKFILL: &str = include_str!("../../../migrations/20261206001200_entry_tags_backfill.sql");

/// The rows `entry_tags` holds that the entries do not imply, then the implied rows it lacks.
async fn drift(pool: &PgPool) -> (Vec<String>, Vec<String>) {
    let implied = "SELECT user_id, tag, entry_date, id, mood FROM entries, unnest(tags) AS tag";
    let held = "SELECT user_id, tag, entry_date, entry_id, mood FROM entry_tags";
    let mut rows = Vec::new();
    for (left, right) in [(held, implied), (implied, held)] {
        rows.push(
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT row::text FROM ({left} EXCEPT ALL {right}) AS row ORDER BY 1"
            )))
            .fetch_all(pool)
            .await
            .expect("compare entry_tags with entries"),
        );
    }
    let [extra, missing] = <[Vec<String>; 2]>::try_from(rows).expect("both directions");
    (extra, missing)
}

async fn assert_in_step(pool: &PgPool, after: &str) {
    let (extra, missing) = drift(pool).await;
    assert!(
        extra.is_empty() && missing.is_empty(),
        "after {after}: extra rows {extra:?}, missing rows {missing:?}"
    );
}

#[tokio::test]
async fn the_tag_table_follows_every_create_patch_and_delete() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let walk = app
        .entry(
            &user,
            &json!({"content": "a walk", "tags": ["a", "b"], "mood": "good",
                    "entry_date": "2026-03-01"}),
        )
        .await;
    let plain = app.entry(&user, &json!({"content": "no tags"})).await;
    let other = app
        .entry(
            &user,
            &json!({"content": "other", "tags": ["a"], "entry_date": "2026-02-01"}),
        )
        .await;
    assert_in_step(&app.pool, "the creates").await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM entry_tags")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 3, "one row per entry and tag");

    for (entry, change) in [
        (&walk, json!({"tags": ["b", "c"]})),
        (&walk, json!({"entry_date": "2026-04-01"})),
        (&walk, json!({"mood": null})),
        (&walk, json!({"mood": "awful", "content": "a long walk"})),
        (&plain, json!({"tags": ["a"]})),
        (&other, json!({"content": "only the text"})),
    ] {
        let response = patch_entry(&app, &user, id_of(entry), &change, None).await;
        assert_eq!(response.status(), 200, "{change}");
        assert_in_step(&app.pool, &format!("PATCH {change}")).await;
    }
    assert_eq!(
        listed_ids(&app, &user, "?tag=a").await,
        [id_of(&plain), id_of(&other)].map(str::to_owned),
        "newest entry_date first: the plain entry is dated today"
    );
    assert_eq!(
        listed_ids(&app, &user, "?tag=c&mood=awful").await,
        [id_of(&walk).to_owned()]
    );
    let deleted = delete_entry(&app, &user, id_of(&other)).await;
    assert_eq!(deleted.status(), 204);
    assert_in_step(&app.pool, "the delete").await;
    assert_eq!(
        listed_ids(&app, &user, "?tag=a").await,
        [id_of(&plain).to_owned()]
    );
}

#[tokio::test]
async fn the_backfill_builds_the_rows_of_older_entries_and_drops_stale_ones() {
    let app = TestApp::spawn().await;
    // Over a thousand people, so the migration commits on its way; every fourth has four entries,
    // three of them with two tags, one with a mood.
    sqlx::raw_sql(
        "INSERT INTO users (id, email, password_hash)
         SELECT gen_random_uuid(), 'backfill-' || g || '@example.com', 'unused'
           FROM generate_series(1, 1201) g;
         INSERT INTO entries (id, user_id, content, tags, mood, entry_date)
         SELECT gen_random_uuid(), id, 'text',
                CASE WHEN n % 3 = 0 THEN '{}' ELSE ARRAY['t' || n, 'shared'] END,
                CASE WHEN n = 1 THEN 'good' END, date '2026-01-01' - n
           FROM (SELECT id, row_number() OVER (ORDER BY id) AS r FROM users) u,
                generate_series(1, 4) n
          WHERE r % 4 = 0;
         -- What the table holds before the backfill: nothing for these entries, except a row
         -- a racing write left for a tag the entry no longer has.
         DELETE FROM entry_tags;
         INSERT INTO entry_tags (user_id, tag, entry_date, entry_id, mood)
         SELECT user_id, 'gone', entry_date, id, mood FROM entries LIMIT 1;",
    )
    .execute(&app.pool)
    .await
    .expect("entries written before the trigger");
    let (extra, missing) = drift(&app.pool).await;
    assert_eq!(
        (extra.len(), missing.len()),
        (1, 1_800),
        "the starting point"
    );

    for run in ["the backfill", "the backfill run again"] {
        sqlx::raw_sql(BACKFILL)
            .execute(&app.pool)
            .await
            .expect("the backfill migration");
        assert_in_step(&app.pool, run).await;
    }
}
