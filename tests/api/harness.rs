//! The harness keeps to itself: a shell's `DATABASE_URL` (exported for `cargo run`) does not send
//! the suite's databases to the development server, and a test's database is dropped even when
//! the test fails.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::postgres::{PgCluster, private_cluster};
use crate::support::wait::within;
use crate::support::{fresh_database, sqlx_connect};

/// A test that creates a database through the harness, run again by the child process below.
const PROBE_TEST: &str = "database::the_service_identifies_itself_to_postgresql";

/// Turns on `log_connections`, then waits until a connection of ours shows in the log: from then
/// on every connection to `cluster` leaves a line there.
async fn log_every_connection(cluster: &PgCluster) {
    let admin = sqlx_connect(&cluster.url("postgres")).await;
    for statement in [
        "ALTER SYSTEM SET log_connections = on",
        "SELECT pg_reload_conf()",
    ] {
        sqlx::raw_sql(statement)
            .execute(&admin)
            .await
            .expect("turn on log_connections");
    }
    admin.close().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let probe = sqlx_connect(&cluster.url("postgres")).await;
        probe.close().await;
        if cluster.server_log().contains("connection authorized") {
            return;
        }
        assert!(Instant::now() < deadline, "{}", cluster.server_log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_developers_database_url_does_not_send_the_suites_databases_to_that_server() {
    within(Duration::from_secs(120), async {
        // Stands in for the development server the shell's variables point at.
        let developers = private_cluster().await;
        log_every_connection(&developers).await;
        let before = developers.server_log().len();

        let developers_url = developers.url("postgres");
        let mut child = Command::new(std::env::current_exe().expect("the test binary"));
        child
            .args([PROBE_TEST, "--exact", "--test-threads=1"])
            .env("DATABASE_URL", &developers_url)
            .env("ECHODIARY__DATABASE__URL", &developers_url)
            .env_remove("ECHODIARY_TEST_DATABASE_URL");
        let out = tokio::task::spawn_blocking(move || child.output())
            .await
            .expect("the child task")
            .expect("run the test binary");
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{report}");
        assert!(report.contains("1 passed"), "the probe test ran:\n{report}");

        let during = developers.server_log()[before..].to_owned();
        assert!(
            !during.contains("connection received"),
            "the suite connected to the server DATABASE_URL names:\n{during}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_failing_tests_database_is_dropped_from_an_explicitly_named_server() {
    within(Duration::from_secs(120), async {
        // Stands in for a server named by ECHODIARY_TEST_DATABASE_URL, which outlives the run.
        let server = private_cluster().await;
        let admin_url = server.url("postgres");
        let (created_tx, created_rx) = tokio::sync::oneshot::channel::<String>();
        let (fail_tx, fail_rx) = tokio::sync::oneshot::channel::<()>();
        let failing_test = tokio::spawn({
            let admin_url = admin_url.clone();
            async move {
                let database = fresh_database(&admin_url).await;
                // A connection still open when the test fails: the drop must not wait for it.
                let pool = sqlx_connect(&database).await;
                sqlx::query("SELECT 1").execute(&pool).await.expect("query");
                created_tx
                    .send(database.name().to_owned())
                    .expect("report the name");
                let _ = fail_rx.await;
                panic!("the test's deliberate failure");
            }
        });

        let name = created_rx.await.expect("the database was created");
        let admin = sqlx_connect(&admin_url).await;
        let exists = async |name: &str| -> bool {
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(name)
                .fetch_one(&admin)
                .await
                .expect("pg_database")
        };
        assert!(exists(&name).await, "created");
        fail_tx.send(()).expect("let the test fail");
        let outcome = failing_test.await;
        assert!(outcome.is_err_and(|e| e.is_panic()), "the test failed");
        assert!(!exists(&name).await, "{name} is left on the server");
    })
    .await;
}
