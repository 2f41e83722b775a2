//! Plan stability of the list statement. A pooled connection prepares it once and PostgreSQL may
//! switch it to a generic plan after five executions, so whatever holds for a page must hold under
//! both plan modes: the scan starts at the cursor in the caller's own index range and reads only
//! the page, never the entries before it, and never sorts.

use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::support::TestApp;

const ENTRIES: i32 = 3_000;
const PAGE: i64 = 21;

/// The list statement exactly as the binary runs it: the committed query data (.sqlx/) holds it.
fn list_statement() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/.sqlx");
    let mut lists = std::fs::read_dir(dir).expect(".sqlx/").filter_map(|file| {
        let data: Value =
            serde_json::from_str(&std::fs::read_to_string(file.ok()?.path()).ok()?).ok()?;
        let sql = data["query"].as_str()?;
        (sql.contains("FROM entries") && sql.contains("ORDER BY entry_date DESC, id DESC"))
            .then(|| sql.to_owned())
    });
    let sql = lists.next().expect("the list statement in .sqlx/");
    assert!(lists.next().is_none(), "one list statement in .sqlx/");
    sql
}

/// Every node of a JSON plan, depth first.
fn nodes(plan: &Value) -> Vec<&Value> {
    let mut all = vec![plan];
    for child in plan["Plans"].as_array().into_iter().flatten() {
        all.extend(nodes(child));
    }
    all
}

#[tokio::test]
async fn a_deep_page_reads_only_its_rows_under_custom_and_generic_plans() {
    let app = TestApp::spawn().await;
    let (owner, other) = (app.user().await, app.user().await);
    let (owner, other) = (app.user_id(&owner).await, app.user_id(&other).await);
    let mut db = PgConnection::connect(&app.database_url)
        .await
        .expect("connect");
    for user in [owner, other] {
        sqlx::query(
            "INSERT INTO entries (id, user_id, content, entry_date)
             SELECT gen_random_uuid(), $1, 'entry ' || g, date '2026-01-01' - g / 2
               FROM generate_series(1, $2) g",
        )
        .bind(user)
        .bind(ENTRIES)
        .execute(&mut db)
        .await
        .expect("seed entries");
    }
    sqlx::query("ANALYZE entries")
        .execute(&mut db)
        .await
        .expect("analyze");
    let (cursor_date, cursor_id): (chrono::NaiveDate, uuid::Uuid) = sqlx::query_as(
        "SELECT entry_date, id FROM entries WHERE user_id = $1
          ORDER BY entry_date DESC, id DESC OFFSET 2000 LIMIT 1",
    )
    .bind(owner)
    .fetch_one(&mut db)
    .await
    .expect("the 2,000th entry");
    // Values formatted into the text are the test's own uuids and dates (EXPLAIN EXECUTE takes no
    // bind parameters).
    let prepare = format!(
        "PREPARE list (uuid, date, uuid, date, date, text, text, text, bigint) AS {}",
        list_statement()
    );
    sqlx::raw_sql(AssertSqlSafe(prepare))
        .execute(&mut db)
        .await
        .expect("prepare");

    let shapes = [
        ("first page", "NULL, NULL, NULL, NULL".to_owned()),
        (
            "2,000 entries deep",
            format!("'{cursor_date}', '{cursor_id}', NULL, NULL"),
        ),
        (
            "a date range",
            "NULL, NULL, date '2024-01-01', date '2025-06-30'".to_owned(),
        ),
    ];
    for mode in ["force_custom_plan", "force_generic_plan"] {
        sqlx::raw_sql(AssertSqlSafe(format!("SET plan_cache_mode = {mode}")))
            .execute(&mut db)
            .await
            .expect("plan mode");
        for (shape, bounds) in &shapes {
            let explain = format!(
                "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE list ('{owner}', {bounds}, NULL, NULL, NULL, {PAGE})"
            );
            let (plan,): (Value,) = sqlx::query_as(AssertSqlSafe(explain))
                .fetch_one(&mut db)
                .await
                .expect("explain");
            let root = &plan[0]["Plan"];
            let all = nodes(root);
            let scan = all
                .iter()
                .find(|node| node["Index Name"] == "entries_user_date_id_idx")
                .unwrap_or_else(|| panic!("{mode}, {shape}: no scan of the user's index: {root}"));
            assert!(
                scan["Index Cond"]
                    .as_str()
                    .is_some_and(|cond| cond.contains("ROW(entry_date, id) <")),
                "{mode}, {shape}: the cursor is not where the scan starts: {root}"
            );
            assert!(
                all.iter().all(|node| node["Node Type"] != "Sort"),
                "{mode}, {shape}: the page is sorted, not read in order: {root}"
            );
            let read = scan["Actual Rows"].as_i64().unwrap_or(i64::MAX)
                + scan["Rows Removed by Filter"].as_i64().unwrap_or(0);
            assert!(
                read <= PAGE,
                "{mode}, {shape}: read {read} rows for a page of {PAGE}: {root}"
            );
        }
    }
    db.close().await.expect("close");
}
