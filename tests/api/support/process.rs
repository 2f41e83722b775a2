//! The real `echodiary` binary as a child process: one-shot commands, and `serve` on free
//! loopback ports with a client and an account to talk to it.
//!
//! Child processes get a cleared environment plus exactly the keys a test sets, so a developer's
//! own `DATABASE_URL` or `RUST_LOG` cannot change what a test sees.
//!
//! Everything a child writes is also appended to its own file in the suite's log directory (see
//! `suite_logs`), and the secrets it is given are recorded, for the suite-wide leak scan.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::support::row_lock::{RowLock, blocked_by_row_lock};
pub(crate) use crate::support::service_accounts::{account, login, login_answer};
use crate::support::{TestDatabase, admin_url, fresh_database, sensitive, suite_logs};

const BIN: &str = env!("CARGO_BIN_EXE_echodiary");

/// Long enough for the production check, and distinctive enough to search the logs for. Made at
/// run time: a key printed in the repository is one production refuses.
pub(crate) static PRODUCTION_SECRET: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "test-run-key-{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
});

/// A child `echodiary` process whose stdout and stderr are collected as they arrive.
pub(crate) struct Proc {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    status: Option<ExitStatus>,
}

/// Collects `stream` line by line, in memory and in `file` (which stdout and stderr share).
fn collect(
    stream: Option<impl Read + Send + 'static>,
    file: Arc<Mutex<File>>,
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
            let kept = file
                .lock()
                .expect("log file")
                .write_all(format!("{line}\n").as_bytes());
            kept.expect("append to the child's log file");
        }
    });
    (text, reader)
}

/// Records the secrets among a child's settings: the signing key and the database password.
fn record_secrets(env: &[(String, String)]) {
    for (key, value) in env {
        if key.ends_with("JWT_SECRET") {
            sensitive::record(value);
        } else if key == "DATABASE_URL" || key.ends_with("DATABASE__URL") {
            let Ok(url) = url::Url::parse(value) else {
                continue;
            };
            url.password().into_iter().for_each(sensitive::record);
            url.query_pairs()
                .filter(|(k, _)| k == "password")
                .for_each(|(_, password)| sensitive::record(&password));
        }
    }
}

impl Proc {
    pub(crate) fn spawn(args: &[&str], env: &[(String, String)]) -> Self {
        record_secrets(env);
        let mut child = Command::new(BIN)
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the echodiary binary");
        let file = Arc::new(Mutex::new(suite_logs::create("child")));
        let (stdout, out_reader) = collect(child.stdout.take(), Arc::clone(&file));
        let (stderr, err_reader) = collect(child.stderr.take(), file);
        Self {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
            status: None,
        }
    }

    /// The child's process id, to read what the kernel says about it (`/proc/<pid>/status`).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
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
        self.signal("-TERM");
    }

    /// SIGINT, as Ctrl-C in a terminal sends it.
    pub(crate) fn interrupt(&self) {
        self.signal("-INT");
    }

    fn signal(&self, which: &str) {
        let sent = Command::new("kill")
            .args([which, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill {which} failed");
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

pub(crate) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// `base` with `overrides` applied: a key in both takes the override's value.
pub(crate) fn merged(base: &[(&str, &str)], overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = env(base);
    for (key, value) in overrides {
        env.retain(|(k, _)| k != key);
        env.push(((*key).to_owned(), (*value).to_owned()));
    }
    env
}

/// Runs a short-lived command to completion.
pub(crate) async fn run(args: &[&str], env: &[(String, String)]) -> (ExitStatus, Proc) {
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
    /// The database made for this service, if [`Service::start`] made it; dropped with it.
    _database: Option<TestDatabase>,
}

impl Service {
    /// Production mode (JSON logs, a real secret) on a fresh database that `serve` migrates itself.
    pub(crate) async fn start(overrides: &[(&str, &str)]) -> Self {
        let database = fresh_database(&admin_url()).await;
        let mut service = Self::start_on(&database, overrides).await;
        service._database = Some(database);
        service
    }

    pub(crate) async fn start_on(database_url: &str, overrides: &[(&str, &str)]) -> Self {
        let base = [
            ("DATABASE_URL", database_url),
            ("ECHODIARY__ENVIRONMENT", "production"),
            ("ECHODIARY__AUTH__JWT_SECRET", PRODUCTION_SECRET.as_str()),
            // Port 0: the kernel picks free ports and the "serving" log line names them.
            ("ECHODIARY__SERVER__ADDR", "127.0.0.1:0"),
            ("ECHODIARY__SERVER__OPS_ADDR", "127.0.0.1:0"),
            ("ECHODIARY__SERVER__SHUTDOWN_GRACE_MS", "0"),
            ("ECHODIARY__SERVER__SHUTDOWN_DRAIN_MS", "5000"),
            ("RUST_LOG", "info"),
            ("NO_COLOR", "1"),
        ];
        Self::start_with_env(database_url, merged(&base, overrides)).await
    }

    /// Development mode with its own defaults (shutdown phases included), as `cargo run` starts.
    pub(crate) async fn start_in_development(database_url: &str) -> Self {
        let env = env(&[
            ("DATABASE_URL", database_url),
            ("ECHODIARY__SERVER__ADDR", "127.0.0.1:0"),
            ("ECHODIARY__SERVER__OPS_ADDR", "127.0.0.1:0"),
            ("RUST_LOG", "info"),
            ("NO_COLOR", "1"),
        ]);
        Self::start_with_env(database_url, env).await
    }

    async fn start_with_env(database_url: &str, env: Vec<(String, String)>) -> Self {
        let mut proc = Proc::spawn(&["serve"], &env);
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
            _database: None,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public)
    }

    pub(crate) fn database_url(&self) -> &str {
        &self.database_url
    }

    pub(crate) async fn get_ops(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.ops))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} on the ops port: {e}"))
    }

    /// Creates an entry with this `content` as the holder of `token`; returns its id.
    pub(crate) async fn create_entry(&self, token: &str, content: &str) -> String {
        sensitive::record(token);
        sensitive::record(content);
        let created = self
            .client
            .post(self.url("/api/v1/entries"))
            .bearer_auth(token)
            .json(&json!({ "content": content }))
            .send()
            .await
            .expect("create");
        assert_eq!(created.status(), StatusCode::CREATED);
        let entry: Value = created.json().await.expect("entry");
        entry["id"].as_str().expect("id").to_owned()
    }

    /// Locks `entry_id` and sends a PATCH of its title that waits on the lock: the lock to
    /// release, and the request's task.
    pub(crate) async fn blocked_patch(
        &self,
        token: &str,
        entry_id: &str,
        title: &str,
    ) -> (RowLock, JoinHandle<reqwest::Result<Response>>) {
        sensitive::record(token);
        sensitive::record(title);
        let request = self
            .client
            .patch(self.url(&format!("/api/v1/entries/{entry_id}")))
            .bearer_auth(token)
            .json(&json!({ "title": title }));
        blocked_by_row_lock(self.database_url(), entry_id, async move {
            request.send().await
        })
        .await
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
