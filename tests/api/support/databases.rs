//! A database per test, on the suite's server, that goes when its test ends, failed or not.

use std::time::Duration;

use crate::support::sqlx_connect;

/// Creates an empty database with a unique name; it is dropped when the returned guard is.
pub(crate) async fn fresh_database(admin_url: &str) -> TestDatabase {
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx_connect(admin_url).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create the test database");
    admin.close().await;
    TestDatabase {
        url: replace_database(admin_url, &name),
        admin_url: admin_url.to_owned(),
        name,
    }
}

/// A database made for one test. Dropping the guard drops the database, open connections and
/// all, so it goes at the end of the test or while a failing test unwinds: on a server named by
/// `ECHODIARY_TEST_DATABASE_URL` nothing is left behind, and the throwaway cluster stays small.
/// Derefs to its URL.
pub(crate) struct TestDatabase {
    url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl std::ops::Deref for TestDatabase {
    type Target = str;

    fn deref(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and may run on the test's runtime thread (which must not block on
        // itself): the statement runs on a thread and runtime of its own.
        let admin_url = self.admin_url.clone();
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                use sqlx::Connection;
                let work = async {
                    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                        .execute(&mut admin)
                        .await?;
                    admin.close().await
                };
                match tokio::time::timeout(Duration::from_secs(30), work).await {
                    Ok(result) => result.map_err(|e| e.to_string()),
                    Err(_) => Err("timed out".to_owned()),
                }
            })
        })
        .join();
        // A test that stopped its private cluster for good leaves nothing to drop; that cluster
        // is deleted anyway. Panicking here could abort a test that is already failing.
        if let Ok(Err(why)) | Err(why) = dropped.map_err(|_| "panicked".to_owned()) {
            eprintln!("could not drop the test database {}: {why}", self.name);
        }
    }
}

pub(crate) fn replace_database(url: &str, database: &str) -> String {
    let mut url = url::Url::parse(url).expect("a valid database URL");
    url.set_path(&format!("/{database}"));
    url.to_string()
}
