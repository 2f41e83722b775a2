//! The `echodiary` subcommands and start-up failures: `migrate` racing itself and recovering an
//! interrupted index build, `config`
//! redacting every secret, `healthcheck` exit codes, `serve` refusing to start in production
//! without a real secret, and start-up errors (database down, unknown role, busy port) said once,
//! in one line naming the address, the cause and what to try.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::lifecycle::assert_schema_complete;
use crate::support::postgres::shared_cluster_admin_url;
use crate::support::process::{Proc, env, merged, run};
use crate::support::sensitive;
use crate::support::wait::within;
use crate::support::{TestApp, admin_url, fresh_database};

#[tokio::test]
async fn two_concurrent_migrate_processes_both_succeed_apply_each_migration_once_and_a_rerun_changes_nothing()
 {
    within(Duration::from_secs(60), async {
        let url = fresh_database(&admin_url()).await;
        let env = env(&[("DATABASE_URL", &url), ("NO_COLOR", "1")]);
        let mut first = Proc::spawn(&["migrate"], &env);
        let mut second = Proc::spawn(&["migrate"], &env);
        for proc in [&mut first, &mut second] {
            let status = proc.wait(Duration::from_secs(30)).await;
            assert!(status.success(), "exit {status}\n{}", proc.output());
        }
        assert_schema_complete(&url).await;
        // Running it again changes nothing.
        let (status, proc) = run(&["migrate"], &env).await;
        assert!(status.success(), "exit {status}\n{}", proc.output());
        assert_schema_complete(&url).await;
    })
    .await;
}

#[tokio::test]
async fn migrate_is_not_cut_short_by_the_statement_timeout_requests_get() {
    within(Duration::from_secs(60), async {
        let url = fresh_database(&admin_url()).await;
        // Far shorter than creating the schema takes; requests keep it, migrations do not.
        let env = env(&[
            ("DATABASE_URL", &url),
            ("NO_COLOR", "1"),
            ("ECHODIARY__DATABASE__STATEMENT_TIMEOUT_MS", "1"),
        ]);
        let (status, proc) = run(&["migrate"], &env).await;
        assert!(status.success(), "exit {status}\n{}", proc.output());
        assert_schema_complete(&url).await;
    })
    .await;
}

#[tokio::test]
async fn migrate_rebuilds_an_index_whose_concurrent_build_was_interrupted() {
    within(Duration::from_secs(60), async {
        let url = fresh_database(&admin_url()).await;
        let env = env(&[("DATABASE_URL", &url), ("NO_COLOR", "1")]);
        let (status, proc) = run(&["migrate"], &env).await;
        assert!(status.success(), "exit {status}\n{}", proc.output());
        // What a killed `CREATE INDEX CONCURRENTLY` leaves: the index, marked invalid, and no
        // record of its migration.
        let db = crate::support::sqlx_connect(&url).await;
        sqlx::raw_sql(
            "UPDATE pg_index SET indisvalid = false
              WHERE indexrelid = 'entries_owner_keys_idx'::regclass;
             DELETE FROM _sqlx_migrations WHERE version = 20261206001500",
        )
        .execute(&db)
        .await
        .expect("interrupt the build");
        let (status, proc) = run(&["migrate"], &env).await;
        assert!(status.success(), "exit {status}\n{}", proc.output());
        assert!(
            proc.output().contains("entries_owner_keys_idx"),
            "{}",
            proc.output()
        );
        let valid: bool = sqlx::query_scalar(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'entries_owner_keys_idx'::regclass",
        )
        .fetch_one(&db)
        .await
        .expect("the index");
        assert!(valid, "the rebuilt index is valid");
        assert_schema_complete(&url).await;
    })
    .await;
}

/// A loopback port nothing listens on.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("bound").port()
}

/// The one line the process logged about `needle`: it must say it exactly once.
fn the_line_about(proc: &Proc, needle: &str) -> String {
    let output = proc.output();
    assert_eq!(output.matches(needle).count(), 1, "said once:\n{output}");
    let line = output.lines().find(|line| line.contains(needle));
    line.expect("the line").to_owned()
}

#[tokio::test]
async fn migrate_with_postgresql_down_says_connection_refused_at_once_without_the_password() {
    within(Duration::from_secs(60), async {
        let port = free_port();
        let password = format!("unreachable-{}", uuid::Uuid::new_v4().simple());
        let url = format!("postgres://postgres:{password}@127.0.0.1:{port}/nowhere");
        let env = env(&[
            ("DATABASE_URL", &url),
            // The cause is known at once: nothing may wait for the pool's timeout.
            ("ECHODIARY__DATABASE__ACQUIRE_TIMEOUT_MS", "30000"),
            ("NO_COLOR", "1"),
        ]);
        let started = Instant::now();
        let (status, proc) = run(&["migrate"], &env).await;
        assert_eq!(status.code(), Some(1), "{}", proc.output());
        assert!(started.elapsed() < Duration::from_secs(10));
        let line = the_line_about(&proc, "connection refused");
        assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
        assert!(!proc.output().contains(&password), "{}", proc.output());
    })
    .await;
}

#[tokio::test]
async fn serve_with_postgresql_down_names_the_address_and_how_to_start_it_in_one_line() {
    within(Duration::from_secs(60), async {
        let port = free_port();
        let url = format!("postgres://postgres@127.0.0.1:{port}/echodiary");
        let env = env(&[
            ("DATABASE_URL", &url),
            ("ECHODIARY__SERVER__ADDR", "127.0.0.1:0"),
            ("ECHODIARY__SERVER__OPS_ADDR", "127.0.0.1:0"),
            ("ECHODIARY__DATABASE__ACQUIRE_TIMEOUT_MS", "30000"),
            ("NO_COLOR", "1"),
        ]);
        let started = Instant::now();
        let (status, proc) = run(&["serve"], &env).await;
        assert_eq!(status.code(), Some(1), "{}", proc.output());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "waited for the pool's timeout\n{}",
            proc.output()
        );
        let line = the_line_about(&proc, "connection refused");
        let running = format!("is PostgreSQL running on 127.0.0.1:{port}?");
        for expected in [running.as_str(), "scripts/dev-postgres.sh start"] {
            assert!(line.contains(expected), "{expected:?} in {line}");
        }
        assert!(
            !proc.output().contains("pool timed out"),
            "{}",
            proc.output()
        );
        assert!(!proc.stdout().contains("serving"), "{}", proc.output());
    })
    .await;
}

#[tokio::test]
async fn serve_as_an_unknown_role_says_the_role_does_not_exist_once_and_what_to_check() {
    within(Duration::from_secs(60), async {
        // The harness's own cluster, whatever the suite runs against: its trust authentication
        // is what makes PostgreSQL name the missing role.
        let mut url = url::Url::parse(&shared_cluster_admin_url()).expect("a URL");
        url.set_username("nosuchuser").expect("a user name");
        let env = env(&[
            ("DATABASE_URL", url.as_str()),
            ("ECHODIARY__SERVER__ADDR", "127.0.0.1:0"),
            ("ECHODIARY__SERVER__OPS_ADDR", "127.0.0.1:0"),
            ("NO_COLOR", "1"),
        ]);
        let (status, proc) = run(&["serve"], &env).await;
        assert_eq!(status.code(), Some(1), "{}", proc.output());
        let line = the_line_about(&proc, r#"role "nosuchuser" does not exist"#);
        let server = format!(
            "{}:{}",
            url.host_str().expect("a host"),
            url.port().expect("a port")
        );
        for expected in [server.as_str(), "check the user name in DATABASE_URL"] {
            assert!(line.contains(expected), "{expected:?} in {line}");
        }
        assert!(!line.contains(" at line "), "{line}");
    })
    .await;
}

#[tokio::test]
async fn serve_on_a_busy_port_fails_on_the_port_before_touching_the_database() {
    within(Duration::from_secs(60), async {
        let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("a port to occupy");
        let busy = busy.local_addr().expect("bound").to_string();
        let unmigrated = fresh_database(&admin_url()).await;
        let unreachable = format!("postgres://postgres@127.0.0.1:{}/down", free_port());
        for database_url in [&*unmigrated, unreachable.as_str()] {
            for (key, other) in [
                ("ECHODIARY__SERVER__ADDR", "ECHODIARY__SERVER__OPS_ADDR"),
                ("ECHODIARY__SERVER__OPS_ADDR", "ECHODIARY__SERVER__ADDR"),
            ] {
                let env = env(&[
                    ("DATABASE_URL", database_url),
                    (key, &busy),
                    (other, "127.0.0.1:0"),
                    ("NO_COLOR", "1"),
                ]);
                let (status, proc) = run(&["serve"], &env).await;
                assert_eq!(status.code(), Some(1), "{}", proc.output());
                let line = the_line_about(&proc, "cannot listen on");
                for expected in [busy.as_str(), key, "already in use"] {
                    assert!(line.contains(expected), "{expected:?} in {line}");
                }
                assert!(!proc.output().contains("PostgreSQL"), "{}", proc.output());
            }
        }
        let admin = crate::support::sqlx_connect(&unmigrated).await;
        let migrations: Option<String> =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
                .fetch_one(&admin)
                .await
                .expect("to_regclass");
        assert_eq!(migrations, None, "no migration ran");
        admin.close().await;
    })
    .await;
}

#[tokio::test]
async fn config_prints_json_with_every_secret_redacted() {
    within(Duration::from_secs(60), async {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let env_secret = format!("env-jwt-secret-{tag}");
        let env_password = format!("env-db-password-{tag}");
        let file_secret = format!("file-jwt-secret-that-is-long-enough-{tag}");
        let file_password = format!("file-db-password-{tag}");
        let query_password = format!("query-db-password-{tag}");
        let dir = tempfile::tempdir().expect("a temp dir");
        let secret_file = dir.path().join("jwt_secret");
        std::fs::write(&secret_file, format!("{file_secret}\n")).expect("write the secret");
        let url_file = dir.path().join("database_url");
        std::fs::write(
            &url_file,
            format!("postgres://app:{file_password}@db.internal:5432/echodiary\n"),
        )
        .expect("write the URL");
        let secret_path = secret_file.display().to_string();
        let url_path = url_file.display().to_string();
        let env_url = format!("postgres://app:{env_password}@db.internal:5432/echodiary");
        let query_url = format!("postgres://app@db.internal/echodiary?password={query_password}");

        let cases = [
            env(&[
                ("ECHODIARY__AUTH__JWT_SECRET", &env_secret),
                ("DATABASE_URL", &env_url),
            ]),
            env(&[
                ("ECHODIARY__ENVIRONMENT", "production"),
                ("ECHODIARY__AUTH__JWT_SECRET", &env_secret),
                ("ECHODIARY__AUTH__JWT_SECRET_FILE", &secret_path),
                ("DATABASE_URL_FILE", &url_path),
            ]),
            env(&[("ECHODIARY__DATABASE__URL", &query_url)]),
        ];
        let secrets = [
            &env_secret,
            &env_password,
            &file_secret,
            &file_password,
            &query_password,
        ];
        // The children's settings are recorded when they start; the files' contents are not.
        sensitive::record(&file_secret);
        sensitive::record(&file_password);
        for case in cases {
            let (status, proc) = run(&["config"], &case).await;
            assert!(status.success(), "{case:?}\n{}", proc.output());
            for secret in secrets {
                assert!(
                    !proc.output().contains(secret.as_str()),
                    "{secret} printed\n{}",
                    proc.output()
                );
            }
            let config: Value = serde_json::from_str(&proc.stdout()).expect("config is JSON");
            assert_eq!(config["auth"]["jwt_secret"], "[redacted]", "{config}");
            let url = config["database"]["url"].as_str().expect("a database URL");
            assert!(url.contains("redacted"), "{url}");
            assert!(
                url == "[redacted]" || url.contains("app") && url.contains("db.internal"),
                "what is not secret stays readable: {url}"
            );
            for section in ["server", "database", "auth"] {
                assert!(config[section].is_object(), "{section}: {config}");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn serve_in_production_refuses_a_published_or_short_secret_and_names_the_key() {
    within(Duration::from_secs(60), async {
        let base = [
            ("ECHODIARY__ENVIRONMENT", "production"),
            (
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:1/never_reached",
            ),
            ("ECHODIARY__SERVER__ADDR", "127.0.0.1:0"),
            ("ECHODIARY__SERVER__OPS_ADDR", "127.0.0.1:0"),
        ];
        let cases = [
            merged(&base, &[]),
            merged(
                &base,
                &[(
                    "ECHODIARY__AUTH__JWT_SECRET",
                    echodiary::config::DEVELOPMENT_JWT_SECRET,
                )],
            ),
            // The key earlier Compose files printed: copies live on in `.env` files.
            merged(
                &base,
                &[(
                    "ECHODIARY__AUTH__JWT_SECRET",
                    "compose-development-only-jwt-secret-not-for-real-use",
                )],
            ),
            merged(&base, &[("ECHODIARY__AUTH__JWT_SECRET", "short")]),
        ];
        for case in cases {
            let (status, proc) = run(&["serve"], &case).await;
            assert!(!status.success(), "{case:?}\n{}", proc.output());
            assert!(
                !proc.output().contains("compose-development-only"),
                "the key is never printed\n{}",
                proc.output()
            );
            assert!(
                proc.stderr().contains("ECHODIARY__AUTH__JWT_SECRET"),
                "{case:?}\n{}",
                proc.output()
            );
            assert!(!proc.stdout().contains("serving"), "{}", proc.output());
        }
    })
    .await;
}

#[tokio::test]
async fn healthcheck_exits_0_when_ready_and_1_when_not_ready_or_nothing_listens() {
    within(Duration::from_secs(60), async {
        let healthcheck = |ops: &str| {
            let ops = ops.trim_start_matches("http://").to_owned();
            async move {
                let env = env(&[("ECHODIARY__SERVER__OPS_ADDR", &ops), ("NO_COLOR", "1")]);
                run(&["healthcheck"], &env).await
            }
        };

        let ready = TestApp::spawn().await;
        let (status, proc) = healthcheck(&ready.ops).await;
        assert_eq!(status.code(), Some(0), "{}", proc.output());

        let unmigrated = fresh_database(&admin_url()).await;
        let not_ready = TestApp::spawn_on(&unmigrated, &[], false).await;
        let (status, proc) = healthcheck(&not_ready.ops).await;
        assert_eq!(status.code(), Some(1), "{}", proc.output());

        let nothing = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("bound").to_string()
        };
        let (status, proc) = healthcheck(&nothing).await;
        assert_eq!(status.code(), Some(1), "{}", proc.output());
    })
    .await;
}
