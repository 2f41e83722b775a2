//! Rotating the database credentials under load, as the runbook does it: a second role gets
//! the new credentials, the connection string file switches to it, the service picks it up by
//! itself, and only then is the first role's login disabled. Not one request may fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::support::process::{Service, account};
use crate::support::wait::within;
use crate::support::{admin_url, fresh_database, replace_database, sqlx_connect};

/// `url` with another role and password.
fn as_role(url: &str, role: &str, password: &str) -> String {
    let mut url = url::Url::parse(url).expect("a database URL");
    url.set_username(role).expect("a role");
    url.set_password(Some(password)).expect("a password");
    url.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_database_credentials_under_load_fails_no_request() {
    within(Duration::from_secs(120), async {
        let admin_db_url = fresh_database(&admin_url()).await;
        let database = url::Url::parse(&admin_db_url).expect("URL").path()[1..].to_owned();
        let admin = sqlx_connect(&admin_db_url).await;
        echodiary::db::migrate(&admin).await.expect("migrate");
        // Two login roles with the same rights; names unique to this test's database, since
        // roles belong to the whole server.
        let suffix = &database[database.len() - 8..];
        let (old_role, new_role) = (format!("app_a_{suffix}"), format!("app_b_{suffix}"));
        for role in [&old_role, &new_role] {
            for statement in [
                format!("CREATE ROLE {role} LOGIN PASSWORD 'rotation-drill-{role}'"),
                format!("GRANT CONNECT ON DATABASE {database} TO {role}"),
                format!("GRANT USAGE ON SCHEMA public TO {role}"),
                format!(
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
                ),
            ] {
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                    .execute(&admin)
                    .await
                    .expect("set up the roles");
            }
        }
        let old_url = as_role(
            &admin_db_url,
            &old_role,
            &format!("rotation-drill-{old_role}"),
        );
        let new_url = as_role(
            &admin_db_url,
            &new_role,
            &format!("rotation-drill-{new_role}"),
        );
        let dir = tempfile::tempdir().expect("a directory");
        let url_file = dir.path().join("database-url");
        std::fs::write(&url_file, format!("{old_url}\n")).expect("write the URL file");
        let url_file_text = url_file.display().to_string();
        let service = Service::start_on(
            &replace_database(&admin_url(), &database),
            &[
                ("DATABASE_URL", ""),
                ("DATABASE_URL_FILE", url_file_text.as_str()),
                ("ECHODIARY__DATABASE__MIGRATE_ON_START", "false"),
                ("ECHODIARY__DATABASE__URL_FILE_CHECK_SECS", "1"),
                // Connections are replaced every few seconds, so the drill sees new ones opened
                // with the new role while the load runs.
                ("ECHODIARY__DATABASE__MAX_LIFETIME_SECS", "3"),
            ],
        )
        .await;
        let token = account(&service, "rotation@example.com", "rotation drill password").await;

        let stop = Arc::new(AtomicBool::new(false));
        let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let service = Arc::new(service);
        let clients: Vec<_> = (0..8)
            .map(|_| {
                let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
                let (service, token) = (service.clone(), token.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let response = service
                            .client
                            .get(service.url("/api/v1/entries?limit=5"))
                            .bearer_auth(&token)
                            .send()
                            .await;
                        match response {
                            Ok(r) if r.status() == StatusCode::OK => {
                                ok.fetch_add(1, Ordering::Relaxed)
                            }
                            _ => failed.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                })
            })
            .collect();

        tokio::time::sleep(Duration::from_secs(1)).await;
        // Step 1: the new credentials go into the file (what the Secret's update does).
        std::fs::write(&url_file, format!("{new_url}\n")).expect("rewrite the URL file");
        // Step 2: the service says it picked them up.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !service
            .proc
            .stdout()
            .contains("the database URL file changed")
        {
            assert!(
                Instant::now() < deadline,
                "the change was never picked up\n{}",
                service.proc.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Step 3: the old role can no longer log in (its open sessions go on).
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER ROLE {old_role} NOLOGIN"
        )))
        .execute(&admin)
        .await
        .expect("retire the old role");
        // Long enough for every pooled connection to be replaced at least once.
        tokio::time::sleep(Duration::from_secs(5)).await;
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            client.await.expect("a load client");
        }
        let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
        println!("{ok} requests answered, {failed} failed");
        assert!(ok > 100, "too little load to prove anything: {ok} requests");
        assert_eq!(failed, 0, "requests failed during the rotation");

        let roles: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT usename::text FROM pg_stat_activity
              WHERE datname = current_database() AND application_name = 'echodiary'",
        )
        .fetch_all(&admin)
        .await
        .expect("who is connected");
        // The request pool's connections (the revocation listener keeps its session until it
        // reconnects, which then uses the new role too).
        assert_eq!(
            roles,
            vec![new_role.clone()],
            "the request pool still holds old connections"
        );
        let output = service.proc.output();
        assert!(
            !output.contains("rotation-drill-"),
            "a password reached the logs"
        );
        Arc::into_inner(service)
            .expect("the only handle")
            .stop()
            .await;
        admin.close().await;
    })
    .await;
}
