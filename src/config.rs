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

mod auth;
mod email;
mod secrets;

pub use auth::AuthSettings;
pub use email::EmailSettings;
pub use secrets::{DEVELOPMENT_JWT_SECRET, is_published_secret, redact_url};
use secrets::{read_secret_file, serialize_database_url};

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
    pub email: EmailSettings,
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
    /// balancers stop routing here before the listener closes. Defaults to 5 s in production and
    /// to 0 in development, where no load balancer waits and Ctrl-C should stop at once.
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
    /// File holding the connection string; wins over `url`. Read again every
    /// `url_file_check_secs`: a changed string is used for every new connection from then on
    /// (connections already open stay), so rotating the database credentials needs no restart.
    pub url_file: Option<PathBuf>,
    /// How often `url_file` is read again.
    pub url_file_check_secs: u64,
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
            url_file_check_secs: 10,
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
        let mut layered = builder.clone().build().context("reading configuration")?;
        // Development stops at once on Ctrl-C: the grace period exists for load balancers, and a
        // developer waiting for it gains nothing. Set as a default, so a configured value wins.
        let mode: RunMode = layered.get("environment").unwrap_or_default();
        if mode == RunMode::Development {
            layered = builder
                .set_default("server.shutdown_grace_ms", 0)
                .and_then(|builder| builder.build())
                .context("reading configuration")?;
        }
        let mut settings: Settings = layered.try_deserialize().context("invalid configuration")?;
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
        if let Some(path) = &self.email.smtp_url_file {
            self.email.smtp_url = Some(read_secret_file(path, "ECHODIARY__EMAIL__SMTP_URL_FILE")?);
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
        self.auth.check()?;
        self.email.check()?;
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
