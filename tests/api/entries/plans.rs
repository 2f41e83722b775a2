//! Plan stability of the list statement, for every filter shape. A pooled connection prepares it
//! once and PostgreSQL may switch it to a generic plan after five executions, so whatever holds
//! must hold under both plan modes: the date-ordered scan starts at the cursor in the caller's own
//! index range and reads at most its window, never sorts it, and a filter the window cannot fill
//! is answered from the caller's own postings in the owner-keyed GIN index: it returns exactly the
//! caller's entries with the filters' keys, however common the word, tag or mood is in other
//! people's entries.

use reqwest::Method;
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use uuid::Uuid;

use crate::support::TestApp;

const ENTRIES: i32 = 3_000;
const PAGE: i64 = 21;
/// `FILTER_WINDOW_ROWS` in src/entries/db.rs: the binary passes it as the statement's `$10`.
const WINDOW: i64 = 200;
const FILTERS_INDEX: &str = "entries_filter_keys_idx";
const DATE_INDEX: &str = "entries_user_date_id_idx";
const MOOD_INDEX: &str = "entries_owner_mood_date_id_idx";

/// The list statement exactly as the binary runs it: the committed query data (.sqlx/) holds it.
fn list_statement() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/.sqlx");
    let mut lists = std::fs::read_dir(dir).expect(".sqlx/").filter_map(|file| {
        let data: Value =
            serde_json::from_str(&std::fs::read_to_string(file.ok()?.path()).ok()?).ok()?;
        let sql = data["query"].as_str()?;
        sql.contains("WITH window_end AS").then(|| sql.to_owned())
    });
    let sql = lists.next().expect("the list statement in .sqlx/");
    assert!(lists.next().is_none(), "one list statement in .sqlx/");
    sql
}

/// Every node of a JSON plan that ran, depth first (a branch whose one-time filter is false, or
/// that the `LIMIT` never reached, shows `Actual Loops: 0`).
fn executed(plan: &Value) -> Vec<&Value> {
    if plan["Actual Loops"].as_i64() == Some(0) {
        return Vec::new();
    }
    let mut all = vec![plan];
    for child in plan["Plans"].as_array().into_iter().flatten() {
        all.extend(executed(child));
    }
    all
}

fn sql_text(value: Option<&str>) -> String {
    value.map_or("NULL".to_owned(), |v| format!("'{v}'"))
}

/// A filter shape: the cursor and date bounds as SQL, `mood`, `tag`, `q`, and how many postings
/// the GIN index must return for it: the caller's entries with every key the filters give it,
/// cursor aside (none: the window alone fills the page or ends the diary, the index is not read).
struct Shape {
    name: &'static str,
    bounds: String,
    mood: Option<&'static str>,
    tag: Option<&'static str>,
    q: Option<&'static str>,
    postings: Option<i64>,
}

impl Shape {
    fn arguments(&self, owner: Uuid) -> String {
        format!(
            "'{owner}', {}, {}, {}, {}",
            self.bounds,
            sql_text(self.mood),
            sql_text(self.tag),
            sql_text(self.q)
        )
    }
}

/// The owner's 3,000 entries, newest first by position `g`: every third one is tagged `daily`,
/// says "walk" and is `good`; positions 1,000, 2,000 and 3,000, past any window, are tagged `rare`
/// and say "zebra"; positions 500, 1,500 and 2,500 are `awful`. The other person's 3,000 entries
/// are all `rare`, `awful` and say "zebra": common in the table, rare for the owner.
async fn seed(db: &mut PgConnection, owner: Uuid, other: Uuid) {
    for (user, content, tags, mood) in [
        (
            owner,
            "'entry ' || g || CASE WHEN g % 3 = 0 THEN ' walk' ELSE '' END
               || CASE WHEN g % 1000 = 0 THEN ' zebra' ELSE '' END",
            "CASE WHEN g % 3 = 0 THEN ARRAY['daily'] ELSE '{}' END
               || CASE WHEN g % 1000 = 0 THEN ARRAY['rare'] ELSE '{}' END",
            "CASE WHEN g % 1000 = 500 THEN 'awful' WHEN g % 3 = 0 THEN 'good' END",
        ),
        (other, "'zebra ' || g", "ARRAY['rare']", "'awful'"),
    ] {
        let insert = format!(
            "INSERT INTO entries (id, user_id, content, tags, mood, entry_date)
             SELECT gen_random_uuid(), '{user}', {content}, {tags}, {mood},
                    date '2026-01-01' - g / 2
               FROM generate_series(1, {ENTRIES}) g"
        );
        sqlx::raw_sql(AssertSqlSafe(insert))
            .execute(&mut *db)
            .await
            .expect("seed entries");
    }
    sqlx::raw_sql("VACUUM ANALYZE entries")
        .execute(&mut *db)
        .await
        .expect("analyze");
}

/// What the page must hold: the plain reading of the filters, with no plan tricks.
fn oracle() -> String {
    format!(
        "PREPARE oracle (uuid, date, uuid, date, date, text, text, text) AS
    SELECT id FROM entries
     WHERE user_id = $1
       AND (entry_date, id) < (COALESCE($2, 'infinity'),
                               COALESCE($3, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
       AND entry_date >= COALESCE($4, '-infinity') AND entry_date <= COALESCE($5, 'infinity')
       AND ($6 IS NULL OR mood = $6) AND ($7 IS NULL OR tags @> ARRAY[$7])
       AND ($8 IS NULL OR search @@ websearch_to_tsquery('english', $8))
     ORDER BY entry_date DESC, id DESC LIMIT {PAGE}"
    )
}

async fn ids(db: &mut PgConnection, execute: String) -> Vec<Uuid> {
    sqlx::query_scalar(AssertSqlSafe(execute))
        .fetch_all(db)
        .await
        .expect("execute")
}

fn check_plan(root: &Value, shape: &Shape, mode: &str) {
    let at = format!("{mode}, {}", shape.name);
    let ran = executed(root);
    // The window is read in date order from the index of the shape: with a mood, the mood's own.
    let (window, unused) = if shape.mood.is_some() {
        (MOOD_INDEX, DATE_INDEX)
    } else {
        (DATE_INDEX, MOOD_INDEX)
    };
    assert!(
        ran.iter().any(|node| node["Index Name"] == window),
        "{at}: the window is not read from {window}: {root}"
    );
    for node in &ran {
        assert_ne!(
            node["Node Type"], "Seq Scan",
            "{at}: a sequential scan: {root}"
        );
        assert_ne!(node["Index Name"], unused, "{at}: {unused} read: {root}");
        if node["Index Name"] == window {
            assert!(
                node["Index Cond"]
                    .as_str()
                    .is_some_and(|cond| cond.contains("ROW(entry_date, id) <")),
                "{at}: a date-ordered scan that does not start at the cursor: {root}"
            );
            let read = node["Actual Rows"].as_i64().unwrap_or(i64::MAX)
                + node["Rows Removed by Filter"].as_i64().unwrap_or(0);
            assert!(
                read <= WINDOW,
                "{at}: read {read} rows in date order: {root}"
            );
        }
        if node["Node Type"] == "Sort" {
            assert!(
                executed(node).iter().all(|n| n["Index Name"] != window),
                "{at}: the date-ordered window is sorted, not read in order: {root}"
            );
        }
    }
    let gin: Vec<(&str, i64)> = ran
        .iter()
        .filter(|node| node["Node Type"] == "Bitmap Index Scan")
        .map(|node| {
            let cond = node["Index Cond"].as_str().unwrap_or_default();
            assert!(
                cond.contains("(entry_filter_keys(user_id, mood, tags, search) @>"),
                "{at}: index keys {cond}"
            );
            let name = node["Index Name"].as_str().unwrap_or_default();
            (name, node["Actual Rows"].as_i64().unwrap_or(-1))
        })
        .collect();
    assert_eq!(
        gin,
        Vec::from_iter(shape.postings.map(|rows| (FILTERS_INDEX, rows))),
        "{at}: GIN indexes read and their postings: {root}"
    );
}

#[tokio::test]
async fn every_filter_shape_reads_only_the_callers_window_or_own_postings_under_both_plan_modes() {
    let app = TestApp::spawn().await;
    let (owner_user, other_user) = (app.user().await, app.user().await);
    let (owner, other) = (
        app.user_id(&owner_user).await,
        app.user_id(&other_user).await,
    );
    let mut db = PgConnection::connect(&app.database_url)
        .await
        .expect("connect");
    seed(&mut db, owner, other).await;
    // Keys go straight into the tree: a pending list would be scanned by every read, and it
    // holds everyone's recent entries.
    let (options,): (Option<Vec<String>>,) = sqlx::query_as(
        "SELECT reloptions FROM pg_class WHERE oid = 'entries_filter_keys_idx'::regclass",
    )
    .fetch_one(&mut db)
    .await
    .expect("index options");
    assert_eq!(options, Some(vec!["fastupdate=off".to_owned()]));
    let (cursor_date, cursor_id): (chrono::NaiveDate, Uuid) = sqlx::query_as(
        "SELECT entry_date, id FROM entries WHERE user_id = $1
          ORDER BY entry_date DESC, id DESC OFFSET 1999 LIMIT 1",
    )
    .bind(owner)
    .fetch_one(&mut db)
    .await
    .expect("the 2,000th entry");
    let (first, deep) = (
        "NULL, NULL, NULL, NULL".to_owned(),
        format!("'{cursor_date}', '{cursor_id}', NULL, NULL"),
    );
    let range = "NULL, NULL, date '2024-01-01', date '2025-06-30'".to_owned();
    let shape = |name, bounds: &String, mood, tag, q, postings| Shape {
        name,
        bounds: bounds.clone(),
        mood,
        tag,
        q,
        postings,
    };
    let shapes = [
        shape("first page", &first, None, None, None, None),
        shape("2,000 entries deep", &deep, None, None, None, None),
        shape("a date range", &range, None, None, None, None),
        shape("a common tag", &first, None, Some("daily"), None, None),
        shape("a common word", &first, None, None, Some("walk"), None),
        shape("a common mood", &deep, Some("good"), None, None, None),
        shape("a rare tag", &first, None, Some("rare"), None, Some(3)),
        shape("a rare mood", &range, Some("awful"), None, None, None),
        shape("a rare word", &deep, None, None, Some("zebra"), Some(3)),
        shape(
            "an absent word",
            &first,
            None,
            None,
            Some("xylophone"),
            Some(0),
        ),
        shape(
            "rare tag, common word",
            &first,
            None,
            Some("rare"),
            Some("walk"),
            Some(1),
        ),
        shape(
            "common tag, rare mood",
            &first,
            Some("awful"),
            Some("daily"),
            None,
            None,
        ),
        shape(
            "all three",
            &first,
            Some("good"),
            Some("daily"),
            Some("zebra"),
            Some(1),
        ),
        shape(
            "rare word, common mood",
            &first,
            Some("good"),
            None,
            Some("zebra"),
            Some(1),
        ),
        // `or`: the owner's entries with either word; `-walk` is checked on the rows, the index
        // reads `zebra`; only stop words: no lexeme, no entry, and no posting read.
        shape(
            "a rare word or an absent one",
            &first,
            None,
            None,
            Some("zebra or xylophone"),
            Some(3),
        ),
        shape(
            "a rare word without a common one",
            &first,
            None,
            None,
            Some("zebra -walk"),
            Some(3),
        ),
        shape("only stop words", &first, None, None, Some("the"), Some(0)),
    ];
    let prepare = format!(
        "PREPARE list (uuid, date, uuid, date, date, text, text, text, bigint, bigint) AS {}",
        list_statement()
    );
    for statement in [prepare, oracle()] {
        sqlx::raw_sql(AssertSqlSafe(statement))
            .execute(&mut db)
            .await
            .expect("prepare");
    }
    for mode in ["force_custom_plan", "force_generic_plan"] {
        sqlx::raw_sql(AssertSqlSafe(format!("SET plan_cache_mode = {mode}")))
            .execute(&mut db)
            .await
            .expect("plan mode");
        for shape in &shapes {
            let arguments = format!("{}, {PAGE}, {WINDOW}", shape.arguments(owner));
            let explain = format!("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE list ({arguments})");
            let (plan,): (Value,) = sqlx::query_as(AssertSqlSafe(explain))
                .fetch_one(&mut db)
                .await
                .expect("explain");
            check_plan(&plan[0]["Plan"], shape, mode);
            assert_eq!(
                ids(&mut db, format!("EXECUTE list ({arguments})")).await,
                ids(
                    &mut db,
                    format!("EXECUTE oracle ({})", shape.arguments(owner))
                )
                .await,
                "{mode}, {}: not the entries the filters select",
                shape.name
            );
        }
    }
    // Through the service, whose window is the binary's own: the three `rare` entries lie past
    // any window, behind 1,000 entries each.
    let listed = app
        .as_user(
            &owner_user,
            Method::GET,
            "/api/v1/entries?tag=rare&limit=100",
        )
        .send()
        .await
        .expect("list")
        .json::<Value>()
        .await
        .expect("page");
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 3, "{listed}");
    assert!(
        items.iter().all(|item| {
            item["tags"]
                .as_array()
                .is_some_and(|tags| tags.contains(&Value::from("rare")))
        }),
        "{listed}"
    );
    db.close().await.expect("close");
}

/// The service's connections plan every statement generically (`src/db.rs`): the list statement
/// is planned once per connection, not on each of its first five executions nor, when PostgreSQL
/// judges custom plans cheaper, on every one after them.
#[tokio::test]
async fn the_services_connections_run_the_list_statement_on_one_generic_plan() {
    let app = TestApp::spawn_with(&[("ECHODIARY__DATABASE__MAX_CONNECTIONS", "1")]).await;
    let user = app.user().await;
    for _ in 0..8 {
        let status = app
            .as_user(&user, Method::GET, "/api/v1/entries?tag=rare")
            .send()
            .await
            .expect("list")
            .status();
        assert_eq!(status, 200);
    }
    let (generic, custom): (i64, i64) = sqlx::query_as(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements
          WHERE statement LIKE 'WITH window_end AS%'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("the list statement, prepared on the one connection");
    assert_eq!((generic, custom), (8, 0));
}
