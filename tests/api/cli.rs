//! The real `echodiary` binary: `serve` under SIGTERM, `migrate` racing itself, `config`,
//! `healthcheck`, the production secret check, and what the logs may never contain.
//!
//! Child processes get a cleared environment plus exactly the keys a test sets, so a developer's
//! own `DATABASE_URL` or `RUST_LOG` cannot change what a test sees.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::lifecycle::{
    RowLock, assert_schema_complete, eventually, wait_for_lock_waiters, within,
};
use crate::metrics::account;
use crate::support::{TestApp, admin_url, fresh_database};

const BIN: &str = env!("CARGO_BIN_EXE_echodiary");

/// Long enough for the production check, and distinctive enough to search the logs for.
pub(crate) const PRODUCTION_SECRET: &str = "prod-jwt-secret-7f3c9a1e5b2d4c6a8e0f1a2b3c4d5e6f";

/// A child `echodiary` process whose stdout and stderr are collected as they arrive.
pub(crate) struct Proc {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    status: Option<ExitStatus>,
}

fn collect(
    stream: Option<impl Read + Send + 'static>,
) -> (Arc<Mutex<String>>, std::thread::JoinHandle<()>) {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    let reader = std::thread::spawn(move || {
        let Some(stream) = stream else { return };
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut text = sink.lock().expect("output buffer");
            text.push_str(&line);
            text.push('\n');
        }
    });
    (text, reader)
}

impl Proc {
    pub(crate) fn spawn(args: &[&str], env: &[(String, String)]) -> Self {
        let mut child = Command::new(BIN)
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the echodiary binary");
        let (stdout, out_reader) = collect(child.stdout.take());
        let (stderr, err_reader) = collect(child.stderr.take());
        Self {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
            status: None,
        }
    }

    pub(crate) fn stdout(&self) -> String {
        self.stdout.lock().expect("stdout buffer").clone()
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr buffer").clone()
    }

    /// Everything the process wrote, for assertions and failure messages.
    pub(crate) fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}--- stderr ---\n{}",
            self.stdout(),
            self.stderr()
        )
    }

    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("poll the child");
        }
        self.status
    }

    /// SIGTERM, as an orchestrator sends it (std has no kill(2) without libc; `kill` does).
    pub(crate) fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
    }

    /// Waits for the exit without blocking the runtime; kills the process and fails after `limit`.
    pub(crate) async fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.exited() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("echodiary did not exit within {limit:?}\n{}", self.output());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // The pipes are at EOF once the process is gone, so this is quick.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        status
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// `base` with `overrides` applied: a key in both takes the override's value.
fn merged(base: &[(&str, &str)], overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = env(base);
    for (key, value) in overrides {
        env.retain(|(k, _)| k != key);
        env.push(((*key).to_owned(), (*value).to_owned()));
    }
    env
}

/// Runs a short-lived command to completion.
async fn run(args: &[&str], env: &[(String, String)]) -> (ExitStatus, Proc) {
    let mut proc = Proc::spawn(args, env);
    let status = proc.wait(Duration::from_secs(20)).await;
    (status, proc)
}

/// `echodiary serve` started by a test, on free loopback ports.
pub(crate) struct Service {
    pub(crate) proc: Proc,
    pub(crate) public: String,
    pub(crate) ops: String,
    pub(crate) client: reqwest::Client,
    database_url: String,
}

impl Service {
    /// Production mode (JSON logs, a real secret) on a fresh database that `serve` migrates itself.
    pub(crate) async fn start(overrides: &[(&str, &str)]) -> Self {
        let url = fresh_database(&admin_url()).await;
        Self::start_on(&url, overrides).await
    }

    pub(crate) async fn start_on(database_url: &str, overrides: &[(&str, &str)]) -> Self {
        let base = [
            ("DATABASE_URL", database_url),
            ("ECHODIARY__ENVIRONMENT", "production"),
            ("ECHODIARY__AUTH__JWT_SECRET", PRODUCTION_SECRET),
            // Port 0: the kernel picks free ports and the "serving" log line names them.
            ("ECHODIARY__SERVER__ADDR", "127.0.0.1:0"),
            ("ECHODIARY__SERVER__OPS_ADDR", "127.0.0.1:0"),
            ("ECHODIARY__SERVER__SHUTDOWN_GRACE_MS", "0"),
            ("ECHODIARY__SERVER__SHUTDOWN_DRAIN_MS", "5000"),
            ("RUST_LOG", "info"),
            ("NO_COLOR", "1"),
        ];
        let mut proc = Proc::spawn(&["serve"], &merged(&base, overrides));
        let deadline = Instant::now() + Duration::from_secs(30);
        let (public, ops) = loop {
            if let Some(addrs) = serving_addresses(&proc.stdout()) {
                break addrs;
            }
            if let Some(status) = proc.exited() {
                panic!("echodiary serve exited early ({status})\n{}", proc.output());
            }
            assert!(
                Instant::now() < deadline,
                "echodiary serve did not start\n{}",
                proc.output()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        Self {
            proc,
            public: format!("http://{public}"),
            ops: format!("http://{ops}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
            database_url: database_url.to_owned(),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public)
    }

    pub(crate) fn database_url(&self) -> &str {
        &self.database_url
    }

    /// SIGTERM, then the exit must be clean; returns what the process wrote to stdout and stderr.
    pub(crate) async fn stop(mut self) -> (String, String) {
        self.proc.terminate();
        let status = self.proc.wait(Duration::from_secs(20)).await;
        assert!(status.success(), "exit {status}\n{}", self.proc.output());
        (self.proc.stdout(), self.proc.stderr())
    }
}

/// The listener addresses from the "serving" line, in the JSON or the text log format.
fn serving_addresses(stdout: &str) -> Option<(String, String)> {
    stdout.lines().find_map(|line| {
        if let Ok(event) = serde_json::from_str::<Value>(line) {
            if event["message"] == "serving" {
                let field = |name: &str| event[name].as_str().map(str::to_owned);
                return field("public").zip(field("ops"));
            }
            return None;
        }
        if !line.contains("serving") {
            return None;
        }
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix(name))
                .map(str::to_owned)
        };
        field("public=").zip(field("ops="))
    })
}

#[tokio::test]
async fn serve_drains_the_in_flight_request_and_exits_0_after_sigterm() {
    within(Duration::from_secs(90), async {
        let service = Service::start(&[
            ("ECHODIARY__SERVER__SHUTDOWN_GRACE_MS", "2500"),
            ("ECHODIARY__SERVER__SHUTDOWN_DRAIN_MS", "20000"),
            ("ECHODIARY__DATABASE__STATEMENT_TIMEOUT_MS", "60000"),
            ("ECHODIARY__SERVER__REQUEST_TIMEOUT_MS", "60000"),
        ])
        .await;
        let mut service = service;
        let token = account(&service, "sigterm@example.com", "sigterm password").await;
        let created = service
            .client
            .post(service.url("/api/v1/entries"))
            .bearer_auth(&token)
            .json(&json!({"content": "in flight during a deploy"}))
            .send()
            .await
            .expect("create");
        assert_eq!(created.status(), StatusCode::CREATED);
        let entry: Value = created.json().await.expect("entry");
        let id = entry["id"].as_str().expect("id").to_owned();
        let ready = service
            .client
            .get(format!("{}/health/ready", service.ops))
            .send()
            .await
            .expect("ready");
        assert_eq!(ready.status(), StatusCode::OK);

        let lock = RowLock::take(service.database_url(), &id).await;
        let patch = tokio::spawn(
            service
                .client
                .patch(service.url(&format!("/api/v1/entries/{id}")))
                .bearer_auth(&token)
                .json(&json!({"title": "survived the deploy"}))
                .send(),
        );
        wait_for_lock_waiters(service.database_url(), 1).await;

        let signalled = Instant::now();
        service.proc.terminate();
        let (client, ops) = (service.client.clone(), service.ops.clone());
        eventually(
            Duration::from_secs(1),
            "readiness 503 after SIGTERM",
            || {
                let (client, ops) = (client.clone(), ops.clone());
                async move {
                    let response = client.get(format!("{ops}/health/ready")).send().await;
                    response.is_ok_and(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE)
                }
            },
        )
        .await;
        let live = service.client.get(service.url("/health/live")).send().await;
        assert_eq!(live.expect("live during grace").status(), StatusCode::OK);
        assert!(
            signalled.elapsed() < Duration::from_millis(2500),
            "still in grace"
        );

        let public = service.public.trim_start_matches("http://").to_owned();
        eventually(
            Duration::from_secs(5),
            "the public listener closing after the grace period",
            || {
                let public = public.clone();
                async move { tokio::net::TcpStream::connect(&public).await.is_err() }
            },
        )
        .await;
        assert!(!patch.is_finished(), "the PATCH still waits for the lock");
        assert!(service.proc.exited().is_none(), "the process waits for it");

        lock.release().await;
        let response = patch
            .await
            .expect("the PATCH task")
            .expect("the in-flight request gets its answer");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("entry");
        assert_eq!(body["title"], "survived the deploy");

        let status = service.proc.wait(Duration::from_secs(10)).await;
        assert!(status.success(), "exit {status}\n{}", service.proc.output());
        assert!(
            service.proc.stdout().contains("shutdown complete"),
            "{}",
            service.proc.output()
        );
    })
    .await;
}

#[tokio::test]
async fn two_concurrent_migrate_processes_both_succeed_and_apply_each_migration_once() {
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
    })
    .await;
}

#[tokio::test]
async fn migrate_exits_non_zero_without_leaking_the_password_when_the_database_is_unreachable() {
    within(Duration::from_secs(60), async {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("bound").port()
        };
        let password = format!("unreachable-{}", uuid::Uuid::new_v4().simple());
        let url = format!("postgres://postgres:{password}@127.0.0.1:{port}/nowhere");
        let env = env(&[
            ("DATABASE_URL", &url),
            ("ECHODIARY__DATABASE__ACQUIRE_TIMEOUT_MS", "500"),
            ("NO_COLOR", "1"),
        ]);
        let started = Instant::now();
        let (status, proc) = run(&["migrate"], &env).await;
        assert!(!status.success(), "{}", proc.output());
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(proc.output().contains("migrations"), "{}", proc.output());
        assert!(!proc.output().contains(&password), "{}", proc.output());
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
async fn serve_in_production_refuses_a_development_or_short_secret_and_names_the_key() {
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
            merged(&base, &[("ECHODIARY__AUTH__JWT_SECRET", "short")]),
        ];
        for case in cases {
            let (status, proc) = run(&["serve"], &case).await;
            assert!(!status.success(), "{case:?}\n{}", proc.output());
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

#[tokio::test]
async fn logs_are_json_lines_with_request_id_and_route_and_never_carry_secrets_or_content() {
    within(Duration::from_secs(120), async {
        for level in ["debug", "info"] {
            let tag = uuid::Uuid::new_v4().simple().to_string();
            let db_password = format!("db-password-{tag}");
            let email = format!("person-{tag}@example.com");
            let password = format!("user-password-{tag}");
            let wrong_password = format!("wrong-password-{tag}");
            let content = format!("dear diary, secret-content-{tag}");
            let title = format!("secret-title-{tag}");
            let bad_content = format!("broken-json-content-{tag}");
            let request_id = format!("req-{tag}");

            let plain = fresh_database(&admin_url()).await;
            let mut with_password = url::Url::parse(&plain).expect("a URL");
            with_password
                .set_password(Some(&db_password))
                .expect("a URL that takes a password");
            let service = Service::start_on(
                with_password.as_str(),
                &[
                    ("RUST_LOG", level),
                    ("ECHODIARY__SERVER__SHUTDOWN_GRACE_MS", "0"),
                ],
            )
            .await;

            let token = account(&service, &email, &password).await;
            let created = service
                .client
                .post(service.url("/api/v1/entries"))
                .bearer_auth(&token)
                .header("x-request-id", &request_id)
                .json(&json!({"content": content, "title": title, "tags": ["private"]}))
                .send()
                .await
                .expect("create");
            assert_eq!(created.status(), StatusCode::CREATED);
            assert_eq!(
                created
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok()),
                Some(request_id.as_str())
            );
            let entry: Value = created.json().await.expect("entry");
            let id = entry["id"].as_str().expect("id").to_owned();
            let fetched = service
                .client
                .get(service.url(&format!("/api/v1/entries/{id}")))
                .bearer_auth(&token)
                .send()
                .await
                .expect("get");
            assert_eq!(fetched.status(), StatusCode::OK);
            let failed = service
                .client
                .post(service.url("/api/v1/auth/login"))
                .json(&json!({"email": email, "password": wrong_password}))
                .send()
                .await
                .expect("failed login");
            assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
            let malformed = service
                .client
                .post(service.url("/api/v1/entries"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(format!("{{\"content\": \"{bad_content}\""))
                .send()
                .await
                .expect("malformed");
            assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
            let invalid = service
                .client
                .post(service.url("/api/v1/entries"))
                .bearer_auth(&token)
                .json(&json!({"content": bad_content, "mood": "ecstatic"}))
                .send()
                .await
                .expect("invalid");
            assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);

            let service_streams = service.stop().await;
            let output = format!("{}{}", service_streams.0, service_streams.1);
            let never = [
                PRODUCTION_SECRET,
                db_password.as_str(),
                email.as_str(),
                password.as_str(),
                wrong_password.as_str(),
                token.as_str(),
                content.as_str(),
                title.as_str(),
                bad_content.as_str(),
                id.as_str(),
            ];
            for secret in never {
                assert!(
                    !output.contains(secret),
                    "RUST_LOG={level}: the logs carry {secret:?}\n{output}"
                );
            }
            let (stdout, stderr) = service_streams;
            let events: Vec<Value> = stdout
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    serde_json::from_str(l)
                        .unwrap_or_else(|_| panic!("RUST_LOG={level}: not a JSON line: {l}"))
                })
                .collect();
            assert!(stderr.trim().is_empty(), "stderr: {stderr}");
            let requests: Vec<&Value> = events
                .iter()
                .filter(|e| e["message"] == "request finished")
                .collect();
            assert!(requests.len() >= 6, "{level}: {requests:#?}");
            for event in &requests {
                let span = &event["span"];
                assert!(
                    span["request_id"].as_str().is_some_and(|id| !id.is_empty()),
                    "{event}"
                );
                assert!(span["route"].as_str().is_some(), "{event}");
                assert!(event["status"].as_u64().is_some(), "{event}");
            }
            assert!(
                requests
                    .iter()
                    .any(|e| e["span"]["route"] == "/api/v1/entries/{id}"
                        && e["span"]["method"] == "GET"),
                "{level}: the route template is logged"
            );
            assert!(
                requests
                    .iter()
                    .any(|e| e["span"]["request_id"] == request_id.as_str()),
                "{level}: the caller's request id is logged"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn serve_exits_by_the_drain_deadline_even_when_a_request_is_stuck() {
    within(Duration::from_secs(90), async {
        let mut service = Service::start(&[
            ("ECHODIARY__SERVER__SHUTDOWN_GRACE_MS", "0"),
            ("ECHODIARY__SERVER__SHUTDOWN_DRAIN_MS", "500"),
            ("ECHODIARY__DATABASE__STATEMENT_TIMEOUT_MS", "60000"),
            ("ECHODIARY__SERVER__REQUEST_TIMEOUT_MS", "60000"),
        ])
        .await;
        let token = account(&service, "stuck@example.com", "stuck password").await;
        let created = service
            .client
            .post(service.url("/api/v1/entries"))
            .bearer_auth(&token)
            .json(&json!({"content": "never finishes"}))
            .send()
            .await
            .expect("create");
        let entry: Value = created.json().await.expect("entry");
        let id = entry["id"].as_str().expect("id").to_owned();
        let lock = RowLock::take(service.database_url(), &id).await;
        let patch = tokio::spawn(
            service
                .client
                .patch(service.url(&format!("/api/v1/entries/{id}")))
                .bearer_auth(&token)
                .json(&json!({"title": "cut"}))
                .send(),
        );
        wait_for_lock_waiters(service.database_url(), 1).await;

        let signalled = Instant::now();
        service.proc.terminate();
        let status = service.proc.wait(Duration::from_secs(15)).await;
        let took = signalled.elapsed();
        lock.release().await;
        assert!(status.success(), "exit {status}\n{}", service.proc.output());
        assert!(
            took < Duration::from_secs(4),
            "exited {took:?} after SIGTERM with a 500 ms drain deadline\n{}",
            service.proc.output()
        );
        assert!(
            service.proc.stdout().contains("drain deadline passed"),
            "{}",
            service.proc.output()
        );
        // The cut request's client sees the connection end instead of waiting forever.
        let cut = patch.await.expect("the PATCH task");
        assert!(cut.is_err(), "{cut:?}");
    })
    .await;
}

#[tokio::test]
async fn serve_without_migrate_on_start_comes_up_live_but_not_ready_while_the_database_is_down() {
    within(Duration::from_secs(60), async {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("bound").port()
        };
        let url = format!("postgres://postgres@127.0.0.1:{port}/down");
        let service = Service::start_on(
            &url,
            &[
                ("ECHODIARY__DATABASE__MIGRATE_ON_START", "false"),
                ("ECHODIARY__DATABASE__ACQUIRE_TIMEOUT_MS", "500"),
            ],
        )
        .await;
        let live = service.client.get(service.url("/health/live")).send().await;
        assert_eq!(live.expect("live").status(), StatusCode::OK);
        let ready = service
            .client
            .get(format!("{}/health/ready", service.ops))
            .send()
            .await
            .expect("ready");
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        service.stop().await;
    })
    .await;
}
