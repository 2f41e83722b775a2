//! The test harness: a fresh database per test, the real app on real sockets, and a helper per
//! endpoint so tests read as the behaviour they pin down.

pub(crate) mod databases;
pub(crate) mod exposition;
pub(crate) mod in_process;
pub(crate) mod postgres;
pub(crate) mod process;
pub(crate) mod row_lock;
pub(crate) mod sensitive;
pub(crate) mod server_bin;
pub(crate) mod service_accounts;
pub(crate) mod smtp;
pub(crate) mod suite_logs;
pub(crate) mod wait;

use std::sync::Once;
use std::time::Duration;

use echodiary::config::Settings;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) use databases::{TestDatabase, fresh_database, replace_database};

pub(crate) const PASSWORD: &str = "correct horse battery";

/// The admin URL of the server tests create their databases on: a throwaway cluster shared by
/// this test binary, unless `ECHODIARY_TEST_DATABASE_URL` names a server (a superuser URL) to use
/// instead. `DATABASE_URL` is deliberately ignored: a shell set up for `cargo run` exports it, and
/// the suite must not fill the development server with test databases.
pub(crate) fn admin_url() -> String {
    std::env::var("ECHODIARY_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(postgres::shared_cluster_admin_url)
}

/// A pool of the test's own. Its statements are never logged: seeding SQL holds literals a test
/// also sends as data, and sqlx's slow-statement warning (a busy machine) would put them in the log
/// the leak scan reads, which is for what the service writes.
pub(crate) async fn sqlx_connect(url: &str) -> sqlx::PgPool {
    let options: sqlx::postgres::PgConnectOptions = url.parse().expect("a database URL");
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(sqlx::ConnectOptions::disable_statement_logging(options))
        .await
        .expect("connect to the test server")
}

/// Settings for a test app: loopback listeners on free ports, short shutdown phases.
pub(crate) fn test_settings(database_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let mut env = vec![
        ("DATABASE_URL".to_owned(), database_url.to_owned()),
        (
            "ECHODIARY__SERVER__ADDR".to_owned(),
            "127.0.0.1:0".to_owned(),
        ),
        (
            "ECHODIARY__SERVER__OPS_ADDR".to_owned(),
            "127.0.0.1:0".to_owned(),
        ),
        (
            "ECHODIARY__SERVER__SHUTDOWN_GRACE_MS".to_owned(),
            "0".to_owned(),
        ),
        (
            "ECHODIARY__SERVER__SHUTDOWN_DRAIN_MS".to_owned(),
            "5000".to_owned(),
        ),
    ];
    env.extend(
        overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Settings::load_from(None, env).expect("valid test settings")
}

/// In-process apps log as production does (JSON, `RUST_LOG` or `info`) to a file of the suite's
/// log directory, where the leak scan reads every line; the test output stays silent.
/// `TEST_LOG=1 cargo test` shows readable logs on stdout instead (and writes no such file).
fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use echodiary::config::RunMode;
        if std::env::var_os("TEST_LOG").is_some() {
            echodiary::telemetry::init_with_writer(RunMode::Development, std::io::stdout);
        } else {
            let file = std::sync::Mutex::new(suite_logs::create("app"));
            echodiary::telemetry::init_with_writer(RunMode::Production, file);
        }
    });
}

/// A running app on its own database.
pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) ops: String,
    pub(crate) database_url: String,
    pub(crate) pool: sqlx::PgPool,
    pub(crate) client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    /// Held, never awaited: graceful shutdown is pinned on the real process (serve_process.rs).
    _server: JoinHandle<anyhow::Result<()>>,
    /// Last, so that it is dropped after everything else that uses the database.
    database: Option<TestDatabase>,
}

impl TestApp {
    pub(crate) async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Spawns with extra `ECHODIARY__...` settings, on a fresh migrated database.
    pub(crate) async fn spawn_with(overrides: &[(&str, &str)]) -> Self {
        let database = fresh_database(&admin_url()).await;
        let mut app = Self::spawn_on(&database, overrides, true).await;
        app.database = Some(database);
        app
    }

    pub(crate) async fn spawn_on(
        database_url: &str,
        overrides: &[(&str, &str)],
        migrate: bool,
    ) -> Self {
        init_logs();
        let settings = test_settings(database_url, overrides);
        let pool = echodiary::db::connect_lazy(database_url, &settings.database)
            .expect("a valid pool configuration");
        if migrate {
            echodiary::db::migrate(&pool)
                .await
                .expect("migrations apply");
        }
        let listeners = echodiary::Listeners::bind(settings.server.addr, settings.server.ops_addr)
            .await
            .expect("bind loopback listeners");
        let base = format!("http://{}", listeners.public.local_addr().expect("bound"));
        let ops = format!("http://{}", listeners.ops.local_addr().expect("bound"));
        let state = echodiary::AppState::new(settings, pool.clone()).expect("valid app state");
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(echodiary::run(listeners, state, async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            ops,
            database_url: database_url.to_owned(),
            pool,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
            stop: Some(stop),
            _server: server,
            database: None,
        }
    }

    /// Begins a graceful shutdown, as SIGTERM would.
    pub(crate) fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    pub(crate) async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.expect("GET")
    }

    pub(crate) async fn get_ops(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.ops))
            .send()
            .await
            .expect("GET on the ops port")
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    pub(crate) async fn register(&self, email: &str, password: &str) -> Response {
        sensitive::record(email);
        sensitive::record(password);
        self.post_json(
            "/api/v1/auth/register",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    pub(crate) async fn login(&self, email: &str, password: &str) -> Response {
        sensitive::record(email);
        sensitive::record(password);
        self.post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// A new account, logged in.
    pub(crate) async fn user(&self) -> TestUser {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4().simple());
        let response = self.register(&email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::CREATED, "register");
        let response = self.login(&email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "login");
        let body: Value = response.json().await.expect("token JSON");
        TestUser::from_tokens(email, &body)
    }

    /// Logs `email` in once more: another session of the same account.
    pub(crate) async fn session(&self, email: &str) -> TestUser {
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "login");
        let body: Value = response.json().await.expect("token JSON");
        TestUser::from_tokens(email.to_owned(), &body)
    }

    pub(crate) fn as_user(&self, user: &TestUser, method: Method, path: &str) -> RequestBuilder {
        sensitive::record(&user.token);
        self.request(method, path).bearer_auth(&user.token)
    }

    pub(crate) async fn create_entry(&self, user: &TestUser, body: &Value) -> Response {
        sensitive::record_entry(body);
        self.as_user(user, Method::POST, "/api/v1/entries")
            .json(body)
            .send()
            .await
            .expect("create entry")
    }

    /// Creates an entry that must succeed, returning its JSON.
    pub(crate) async fn entry(&self, user: &TestUser, body: &Value) -> Value {
        let response = self.create_entry(user, body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "create entry");
        response.json().await.expect("entry JSON")
    }

    /// `GET /api/v1/users/me` as `user`, which must answer with JSON.
    pub(crate) async fn me(&self, user: &TestUser) -> Value {
        self.as_user(user, Method::GET, "/api/v1/users/me")
            .send()
            .await
            .expect("me")
            .json()
            .await
            .expect("JSON")
    }

    /// The id of `user`'s account, from `/api/v1/users/me`.
    pub(crate) async fn user_id(&self, user: &TestUser) -> uuid::Uuid {
        let me = self.me(user).await;
        uuid::Uuid::parse_str(me["id"].as_str().expect("an id")).expect("a UUID")
    }

    pub(crate) async fn list_entries(&self, user: &TestUser, query: &str) -> Response {
        self.as_user(user, Method::GET, &format!("/api/v1/entries{query}"))
            .send()
            .await
            .expect("list entries")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

pub(crate) struct TestUser {
    pub(crate) email: String,
    pub(crate) token: String,
    pub(crate) refresh_token: String,
}

impl TestUser {
    /// From a login or refresh answer; both tokens are recorded for the log scan.
    pub(crate) fn from_tokens(email: String, body: &Value) -> Self {
        let token = body["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned();
        let refresh_token = body["refresh_token"]
            .as_str()
            .expect("a refresh token")
            .to_owned();
        sensitive::record(&token);
        sensitive::record(&refresh_token);
        Self {
            email,
            token,
            refresh_token,
        }
    }
}

/// The response's `Content-Type`, or an empty string when it has none that reads as text.
pub(crate) fn content_type(response: &Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts a problem+json answer with this status, returning the body for further checks.
pub(crate) async fn assert_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = content_type(&response);
    assert_eq!(content_type, "application/problem+json", "content type");
    let body: Value = response.json().await.expect("problem JSON");
    assert_eq!(body["status"], status.as_u16(), "status in body");
    assert!(
        body["type"].is_string() && body["title"].is_string(),
        "{body}"
    );
    body
}

/// Asserts the one answer every rejected input gets: a 422 problem whose `errors` name exactly
/// `field`; `case` says which input it was, for the failure message. Returns the problem.
pub(crate) async fn assert_rejects(response: Response, field: &str, case: &str) -> Value {
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&problem), [field], "{case}: {problem}");
    problem
}

/// The fields named in a 422 problem's `errors`.
pub(crate) fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
