//! Plan stability of the list statements, one per filter shape. A pooled connection prepares each
//! once and PostgreSQL may switch it to a generic plan after five executions, so whatever holds
//! must hold under both plan modes: a tag without words walks the tag's own rows in `entry_tags`
//! from the cursor and reads one entry per row it keeps; every other shape's date-ordered scan
//! starts at the cursor in the caller's own index range and reads at most its window, never sorts
//! it; a search whose window held many matches reads on in date order for a bounded stretch; and
//! a filter these cannot fill is answered from the caller's own postings in the owner-keyed GIN
//! index: it returns exactly the caller's entries with the filters' keys, however common the
//! word, tag or mood is in other people's entries.

mod shapes;

use reqwest::Method;
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use uuid::Uuid;

use crate::support::TestApp;
use shapes::{Shape, oracle, seed, shapes};

const PAGE: i64 = 21;
/// `FILTER_WINDOW_ROWS`, `DENSE_WINDOW_MATCHES` and `FURTHER_WINDOW_ROWS` in
/// src/entries/list.rs: the binary passes them as the search statement's `$10` to `$12`.
const WINDOW: i64 = 100;
const DENSE: i64 = 5;
const FURTHER: i64 = 300;
const FILTERS_INDEX: &str = "entries_owner_keys_idx";
const DATE_INDEX: &str = "entries_user_date_id_idx";
const MOOD_INDEX: &str = "entries_owner_mood_date_id_idx";
const TAGS_INDEX: &str = "entry_tags_pkey";

/// The list statements exactly as the binary runs them (`src/entries/list.rs`), each named after
/// its file, taking the first `parameters` of the shared parameter list.
const STATEMENTS: [(&str, usize); 4] = [("recent", 6), ("mood", 7), ("tag", 8), ("search", 12)];
const PARAMETER_TYPES: [&str; 12] = [
    "uuid", "date", "uuid", "date", "date", "bigint", "text", "text", "text", "bigint", "bigint",
    "bigint",
];

fn prepare_statement(name: &str, parameters: usize) -> String {
    let path = format!(
        "{}/src/entries/sql/list_{name}.sql",
        env!("CARGO_MANIFEST_DIR")
    );
    let sql = std::fs::read_to_string(&path).expect("a list statement");
    let types = PARAMETER_TYPES[..parameters].join(", ");
    format!("PREPARE list_{name} ({types}) AS {sql}")
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

async fn ids(db: &mut PgConnection, execute: String) -> Vec<Uuid> {
    sqlx::query_scalar(AssertSqlSafe(execute))
        .fetch_all(db)
        .await
        .expect("execute")
}

fn check_plan(root: &Value, shape: &Shape, mode: &str) {
    let at = format!("{mode}, {}", shape.name);
    let ran = executed(root);
    // The index read in date order from the cursor: a tag's own rows, or the window of the
    // mood's index or of the caller's whole diary.
    let walk = match shape.statement(Uuid::nil(), PAGE).0 {
        "tag" => TAGS_INDEX,
        "mood" => MOOD_INDEX,
        _ => DATE_INDEX,
    };
    assert!(
        ran.iter().any(|node| node["Index Name"] == walk),
        "{at}: not read from {walk}: {root}"
    );
    for node in &ran {
        assert_ne!(
            node["Node Type"], "Seq Scan",
            "{at}: a sequential scan: {root}"
        );
        let index = node["Index Name"].as_str().unwrap_or_default();
        assert!(
            index == walk || ![DATE_INDEX, MOOD_INDEX, TAGS_INDEX].contains(&index),
            "{at}: {index} read: {root}"
        );
        if index == walk {
            assert!(
                node["Index Cond"]
                    .as_str()
                    .is_some_and(|cond| cond.contains("ROW(entry_date, ")),
                "{at}: a date-ordered scan that does not start at the cursor: {root}"
            );
            // A tag's rows are filtered by the mood in the index and each row kept reads its
            // entry; a window reads every row it scans, and a dense search's walk past it at
            // most `FURTHER` more.
            let (read, most) = if walk == TAGS_INDEX {
                (node["Actual Rows"].as_i64().unwrap_or(i64::MAX), PAGE)
            } else {
                let removed = node["Rows Removed by Filter"].as_i64().unwrap_or(0);
                (
                    node["Actual Rows"].as_i64().unwrap_or(i64::MAX) + removed,
                    WINDOW.max(FURTHER),
                )
            };
            assert!(read <= most, "{at}: {read} rows from {walk}: {root}");
        }
        if node["Node Type"] == "Sort" {
            assert!(
                executed(node).iter().all(|n| n["Index Name"] != walk),
                "{at}: the date-ordered walk is sorted, not read in order: {root}"
            );
        }
    }
    let gin: Vec<(&str, i64)> = ran
        .iter()
        .filter(|node| node["Node Type"] == "Bitmap Index Scan")
        .map(|node| {
            let cond = node["Index Cond"].as_str().unwrap_or_default();
            assert!(
                cond.contains("(entry_owner_keys(user_id, mood, tags, search) @>"),
                "{at}: index keys {cond}"
            );
            let name = node["Index Name"].as_str().unwrap_or_default();
            (name, node["Actual Rows"].as_i64().unwrap_or(-1))
        })
        .collect();
    assert_eq!(
        gin,
        Vec::from_iter(shape.postings.iter().map(|rows| (FILTERS_INDEX, *rows))),
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
    // Keys queue in a pending list of at most 1 MB: every read scans it, and it holds everyone's
    // recent entries, so its bound is what others' writes can cost a search (about 0.4 ms).
    let (options,): (Option<Vec<String>>,) =
        sqlx::query_as("SELECT reloptions FROM pg_class WHERE oid = $1::regclass")
            .bind(FILTERS_INDEX)
            .fetch_one(&mut db)
            .await
            .expect("index options");
    assert_eq!(
        options,
        Some(vec![
            "fastupdate=on".to_owned(),
            "gin_pending_list_limit=1024".to_owned()
        ])
    );
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
    let shapes = shapes(&first, &deep, &range);
    let prepared = STATEMENTS.map(|(name, parameters)| prepare_statement(name, parameters));
    for statement in prepared.into_iter().chain([oracle()]) {
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
            let (name, arguments) = shape.statement(owner, PAGE);
            let explain =
                format!("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE list_{name} ({arguments})");
            let (plan,): (Value,) = sqlx::query_as(AssertSqlSafe(explain))
                .fetch_one(&mut db)
                .await
                .expect("explain");
            check_plan(&plan[0]["Plan"], shape, mode);
            assert_eq!(
                ids(&mut db, format!("EXECUTE list_{name} ({arguments})")).await,
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
          WHERE statement LIKE '-- The list by tag%'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("the list statement, prepared on the one connection");
    assert_eq!((generic, custom), (8, 0));
}
