//! Typed configuration: built-in defaults, then an optional file, then the environment.
//!
//! Environment keys are `ECHODIARY__SECTION__KEY` (for example `ECHODIARY__SERVER__ADDR`), plus the
//! well-known `DATABASE_URL`. Each secret can also be read from a file named by the same key with
//! `_FILE` appended, which is how Docker and Kubernetes mount secrets. Secrets are kept in
//! [`SecretString`] so they cannot reach a log line through `Debug`, and [`Settings`] serializes
//! them redacted, so printing the effective configuration is always safe.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

mod secrets;

pub use secrets::{DEVELOPMENT_JWT_SECRET, is_published_secret, redact_url};
use secrets::{read_secret_file, serialize_database_url, serialize_redacted};

/// Smallest header limit: a request line, a bearer token and the usual headers must fit.
const MIN_HEADER_BYTES: usize = 1024;
/// Largest header limit: hyper's read buffer (about 400 KiB) would cut in first anyway, and a
/// head this big is never legitimate here.
const MAX_HEADER_BYTES: usize = 256 * 1024;

/// Everything the service can be told, with its defaults.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `development` (readable logs, development secrets allowed) or `production`.
    pub environment: RunMode,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    #[default]
    Development,
    Production,
}

/// The two listeners and the limits every request runs under.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Public listener: the API, health, docs.
    pub addr: SocketAddr,
    /// Ops listener: `/metrics` and health, never exposed through the public ingress.
    pub ops_addr: SocketAddr,
    /// Whole-request deadline; a request still running then answers 503. Also the longest a
    /// response write may make no progress (a client not reading) before the connection closes.
    pub request_timeout_ms: u64,
    /// Largest accepted request body; larger ones answer 413.
    pub body_limit_bytes: usize,
    /// How long a client has to send a complete request head (request line and headers); past it
    /// the connection closes without an answer. Counted from the connection opening, or from the
    /// previous response on a kept-alive connection, so it is also the idle keep-alive timeout.
    /// Bytes trickled in do not extend it: this is what stops slowloris clients.
    pub header_read_timeout_ms: u64,
    /// Largest accepted request head (request line and headers); larger ones answer 431 and the
    /// connection closes. More than 100 header fields answer 431 too.
    pub max_header_bytes: usize,
    /// After SIGTERM, how long readiness reports 503 while requests are still served, so load
    /// balancers stop routing here before the listener closes.
    pub shutdown_grace_ms: u64,
    /// After the grace period, how long in-flight requests may take to finish.
    pub shutdown_drain_ms: u64,
    /// Take the client address from the last `X-Forwarded-For` hop (set when behind one proxy,
    /// such as the cluster ingress); otherwise the socket peer is the client.
    pub trust_forwarded_for: bool,
    /// Browser origins (`https://app.example.com`) whose pages may call the API with a bearer
    /// token: exact origins, comma-separated in the environment. Empty: no CORS headers at all.
    #[serde(deserialize_with = "comma_separated")]
    pub cors_allowed_origins: Vec<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([0, 0, 0, 0], 8000)),
            ops_addr: SocketAddr::from(([0, 0, 0, 0], 9000)),
            request_timeout_ms: 10_000,
            body_limit_bytes: 256 * 1024,
            header_read_timeout_ms: 5_000,
            max_header_bytes: 16 * 1024,
            shutdown_grace_ms: 5_000,
            shutdown_drain_ms: 20_000,
            trust_forwarded_for: false,
            cors_allowed_origins: Vec::new(),
        }
    }
}

/// The connection pool and how the schema is kept current.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// PostgreSQL connection string (also `DATABASE_URL`); printed with its password masked.
    #[serde(serialize_with = "serialize_database_url")]
    pub url: Option<SecretString>,
    /// File holding the connection string; wins over `url`.
    pub url_file: Option<PathBuf>,
    /// Pool ceiling for this process. Replicas x this must stay below the server's `max_connections`.
    pub max_connections: u32,
    /// Connections kept open while idle, so the first requests after a quiet spell pay no handshake.
    pub min_connections: u32,
    /// How long a request waits for a pooled connection before answering 503.
    pub acquire_timeout_ms: u64,
    /// Server-side limit for every statement, so no query can hold a connection indefinitely.
    pub statement_timeout_ms: u64,
    /// Connections are recycled after this long, so a managed-database failover is picked up.
    pub max_lifetime_secs: u64,
    /// Idle connections above `min_connections` are closed after this long.
    pub idle_timeout_secs: u64,
    /// Apply pending migrations before serving (turn off where a deploy job migrates).
    pub migrate_on_start: bool,
    /// How long the readiness check waits for the database before reporting 503.
    pub health_timeout_ms: u64,
    /// A passing readiness check is reused for this long, so probes from the kubelet, the load
    /// balancer and Prometheus together cost at most one query per interval. Failures are never
    /// reused: an instance reports ready as soon as the database is back. 0 checks every probe.
    pub ready_cache_ms: u64,
    /// Ping every pooled connection before handing it out (and never reuse one without that
    /// test, see `db::lease`). Off by default: it adds a round trip to every request, and a
    /// connection broken since its last use fails one request with 503 and is replaced.
    pub test_before_acquire: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            url_file: None,
            max_connections: 10,
            min_connections: 1,
            acquire_timeout_ms: 2_000,
            statement_timeout_ms: 5_000,
            max_lifetime_secs: 30 * 60,
            idle_timeout_secs: 10 * 60,
            migrate_on_start: true,
            health_timeout_ms: 1_000,
            ready_cache_ms: 1_000,
            test_before_acquire: false,
        }
    }
}

/// Tokens, password hashing and login throttling.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// HMAC key that signs access tokens.
    #[serde(serialize_with = "serialize_redacted")]
    pub jwt_secret: SecretString,
    /// File holding the signing key; wins over `jwt_secret`.
    pub jwt_secret_file: Option<PathBuf>,
    /// Lifetime of an access token.
    pub token_ttl_secs: u64,
    /// Failed logins for one account from one client address within the window before that pair
    /// answers 429. Small: a stranger's guesses lock out only the stranger's address, and the
    /// owner still logs in from their own.
    pub login_max_failures_per_account_address: u32,
    /// Failed logins for one account from all addresses within the window before the account
    /// answers 429 to everyone: the stop for guessing spread over many addresses.
    pub login_max_failures_per_account: u32,
    /// Failed logins from one client address over all accounts within the window before it
    /// answers 429: the stop for one address trying many accounts. Generous, because many people
    /// may share an address (an office, a mobile carrier's NAT).
    pub login_max_failures_per_address: u32,
    /// Length of the window failures are counted in, and so the longest lockout.
    pub login_window_secs: u64,
    /// Registrations from one client address within the registration window before 429.
    pub register_max_per_address: u32,
    /// Length of the window registrations are counted in.
    pub register_window_secs: u64,
    /// Password hashes and checks that may wait for a hashing thread; beyond that a request
    /// answers 503 with `Retry-After` at once.
    pub password_hash_queue: usize,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: SecretString::from(DEVELOPMENT_JWT_SECRET),
            jwt_secret_file: None,
            token_ttl_secs: 60 * 60,
            login_max_failures_per_account_address: 5,
            login_max_failures_per_account: 50,
            login_max_failures_per_address: 100,
            login_window_secs: 15 * 60,
            register_max_per_address: 20,
            register_window_secs: 60 * 60,
            password_hash_queue: 32,
        }
    }
}

impl Settings {
    /// Loads the configuration from the process environment and an optional file.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_from(file, std::env::vars())
    }

    /// Loads from an explicit set of environment variables, so tests need not mutate the process's.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let env: HashMap<String, String> = env.into_iter().collect();
        let mut builder = config::Config::builder();
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).required(true));
        }
        let mut namespaced: config::Map<String, String> = env
            .iter()
            .filter(|(key, _)| key.starts_with("ECHODIARY__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // The well-known names are aliases that an explicit `ECHODIARY__DATABASE__...` key beats.
        for (alias, key) in [
            ("DATABASE_URL", "ECHODIARY__DATABASE__URL"),
            ("DATABASE_URL_FILE", "ECHODIARY__DATABASE__URL_FILE"),
        ] {
            if let Some(value) = env.get(alias) {
                namespaced
                    .entry(key.to_owned())
                    .or_insert_with(|| value.clone());
            }
        }
        builder = builder.add_source(
            config::Environment::with_prefix("ECHODIARY")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(namespaced)),
        );
        let mut settings: Settings = builder
            .build()
            .context("reading configuration")?
            .try_deserialize()
            .context("invalid configuration")?;
        settings.read_secret_files()?;
        settings.check()?;
        Ok(settings)
    }

    fn read_secret_files(&mut self) -> anyhow::Result<()> {
        if let Some(path) = &self.database.url_file {
            self.database.url = Some(read_secret_file(path, "DATABASE_URL_FILE")?);
        }
        if let Some(path) = &self.auth.jwt_secret_file {
            self.auth.jwt_secret = read_secret_file(path, "ECHODIARY__AUTH__JWT_SECRET_FILE")?;
        }
        Ok(())
    }

    /// Rejects settings the service cannot run safely with, naming the key to fix.
    fn check(&self) -> anyhow::Result<()> {
        let server = &self.server;
        if server.header_read_timeout_ms == 0 {
            bail!("ECHODIARY__SERVER__HEADER_READ_TIMEOUT_MS must be at least 1");
        }
        if !(MIN_HEADER_BYTES..=MAX_HEADER_BYTES).contains(&server.max_header_bytes) {
            bail!(
                "ECHODIARY__SERVER__MAX_HEADER_BYTES must be between {MIN_HEADER_BYTES} and \
                 {MAX_HEADER_BYTES}"
            );
        }
        for origin in &server.cors_allowed_origins {
            if let Err(why) = check_origin(origin) {
                bail!("ECHODIARY__SERVER__CORS_ALLOWED_ORIGINS: {origin:?} {why}");
            }
        }
        let auth = &self.auth;
        for (key, value) in [
            (
                "LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS",
                auth.login_max_failures_per_account_address,
            ),
            (
                "LOGIN_MAX_FAILURES_PER_ACCOUNT",
                auth.login_max_failures_per_account,
            ),
            (
                "LOGIN_MAX_FAILURES_PER_ADDRESS",
                auth.login_max_failures_per_address,
            ),
            ("REGISTER_MAX_PER_ADDRESS", auth.register_max_per_address),
        ] {
            if value == 0 {
                bail!("ECHODIARY__AUTH__{key} must be at least 1 (0 would refuse everyone)");
            }
        }
        if auth.login_window_secs == 0 || auth.register_window_secs == 0 {
            bail!("ECHODIARY__AUTH__LOGIN_WINDOW_SECS and REGISTER_WINDOW_SECS must be at least 1");
        }
        let db = &self.database;
        if db.max_connections == 0 {
            bail!("ECHODIARY__DATABASE__MAX_CONNECTIONS must be at least 1");
        }
        if db.min_connections > db.max_connections {
            bail!("ECHODIARY__DATABASE__MIN_CONNECTIONS must not exceed MAX_CONNECTIONS");
        }
        if self.environment == RunMode::Production {
            secrets::check_production_key(self.auth.jwt_secret.expose_secret())?;
        }
        Ok(())
    }

    /// The connection string, or an error that says how to provide one.
    pub fn database_url(&self) -> anyhow::Result<&str> {
        match &self.database.url {
            Some(url) => Ok(url.expose_secret()),
            None => bail!(
                "no database configured: set DATABASE_URL (or ECHODIARY__DATABASE__URL, or DATABASE_URL_FILE)"
            ),
        }
    }
}

impl ServerSettings {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }
}

impl DatabaseSettings {
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing more. Anything else could never
/// match an `Origin` header, or (`*`, `null`) would let any page call with a user's token.
fn check_origin(origin: &str) -> Result<(), &'static str> {
    let url = url::Url::parse(origin).map_err(|_| "is not an origin (scheme://host[:port])")?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an http or https origin with a host");
    }
    if url.origin().ascii_serialization() != origin {
        return Err(
            "must be exactly scheme://host[:port]: no path, trailing slash, query or default port",
        );
    }
    Ok(())
}

/// A list from the environment (`a,b`), where the `config` crate only has a string, or from a
/// configuration file, as a list.
fn comma_separated<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        Text(String),
        List(Vec<String>),
    }
    Ok(match Given::deserialize(d)? {
        Given::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Given::List(list) => list,
    })
}

#[cfg(test)]
mod tests;
