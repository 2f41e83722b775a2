//! One direct connection before the migrations, so a database that cannot be used is reported at
//! once, in one line that says where, why and what to try.
//!
//! Through the pool, every failure looks the same: sqlx retries the connection until the acquire
//! timeout and then reports "pool timed out", without the host, the port or the cause. A single
//! connection attempt fails with the real cause (refused, unknown role, wrong password, missing
//! database, unknown host) as soon as it is known.

use std::fmt;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::config::{DatabaseSettings, RunMode};

/// Why the configured database cannot be used, worded for whoever starts the service. Names the
/// server, the role and the database, never the password or the connection string.
#[derive(Debug)]
pub struct DatabaseUnusable {
    server: String,
    user: String,
    database: String,
    cause: String,
    hint: String,
}

impl fmt::Display for DatabaseUnusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            server,
            user,
            database,
            cause,
            hint,
        } = self;
        write!(
            f,
            "cannot use PostgreSQL at {server} (user {user}, database {database}): {cause}; {hint}"
        )
    }
}

impl std::error::Error for DatabaseUnusable {}

/// Opens one connection to `url` and closes it again, or says why that failed. Waits at most the
/// pool's acquire timeout, the longest the service would have waited for a connection anyway.
pub async fn check_database(
    url: &str,
    settings: &DatabaseSettings,
    mode: RunMode,
) -> anyhow::Result<()> {
    let options = super::connect_options(url, settings)?;
    let limit = settings.acquire_timeout();
    let attempt = tokio::time::timeout(limit, options.connect()).await;
    let failure = match attempt {
        Ok(Ok(conn)) => {
            // Closing politely keeps an aborted-session line out of PostgreSQL's log.
            let _ = conn.close().await;
            return Ok(());
        }
        Ok(Err(err)) => Failure::Connect(err),
        Err(_elapsed) => Failure::NoAnswer(limit),
    };
    Err(describe(&options, &failure, mode).into())
}

enum Failure {
    Connect(sqlx::Error),
    NoAnswer(Duration),
}

fn describe(options: &PgConnectOptions, failure: &Failure, mode: RunMode) -> DatabaseUnusable {
    let server = match options.get_socket() {
        Some(dir) => format!("{} (port {})", dir.display(), options.get_port()),
        None if options.get_host().starts_with('/') => {
            format!("{} (port {})", options.get_host(), options.get_port())
        }
        None if options.get_host().contains(':') => {
            format!("[{}]:{}", options.get_host(), options.get_port())
        }
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    let user = options.get_username().to_owned();
    let database = options.get_database().unwrap_or(&user).to_owned();
    let (cause, hint) = cause_and_hint(failure, &server, &user, &database, mode);
    DatabaseUnusable {
        server,
        user,
        database,
        cause,
        hint,
    }
}

/// What went wrong, and the first thing to try about it.
fn cause_and_hint(
    failure: &Failure,
    server: &str,
    user: &str,
    database: &str,
    mode: RunMode,
) -> (String, String) {
    let start_it = match mode {
        RunMode::Development => " (for development: scripts/dev-postgres.sh start)",
        RunMode::Production => "",
    };
    let err = match failure {
        Failure::NoAnswer(limit) => {
            return (
                format!("no answer within {} ms", limit.as_millis()),
                "check the host and port in DATABASE_URL, and that no firewall drops the \
                 connection (ECHODIARY__DATABASE__ACQUIRE_TIMEOUT_MS sets the wait)"
                    .into(),
            );
        }
        Failure::Connect(err) => err,
    };
    match err {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => (
            "connection refused".into(),
            format!("is PostgreSQL running on {server}?{start_it}"),
        ),
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => (
            format!("no server socket there ({io})"),
            format!("is PostgreSQL running with its socket in that directory?{start_it}"),
        ),
        // getaddrinfo's failure has no error kind of its own, only its text.
        sqlx::Error::Io(io) if io.to_string().contains("lookup address") => (
            format!("the host name does not resolve ({io})"),
            "check the host in DATABASE_URL".into(),
        ),
        sqlx::Error::Io(io) => (
            io.to_string(),
            "check the host and port in DATABASE_URL".into(),
        ),
        sqlx::Error::Tls(tls) => (
            format!("TLS failed ({tls})"),
            "check sslmode in DATABASE_URL and the server's certificate".into(),
        ),
        sqlx::Error::Database(db) => {
            let hint = match db.code().as_deref() {
                // invalid_password
                Some("28P01") => "check the user name and password in DATABASE_URL (or in the \
                                  file DATABASE_URL_FILE names)"
                    .to_owned(),
                // invalid_authorization_specification: an unknown role, or no pg_hba.conf entry
                Some("28000") if db.message().contains("pg_hba.conf") => {
                    "allow this client in the server's pg_hba.conf, or connect as another user"
                        .to_owned()
                }
                Some("28000") => format!(
                    "check the user name in DATABASE_URL, or create the role ({user}) on the server"
                ),
                // invalid_catalog_name
                Some("3D000") => format!(
                    "check the database name in DATABASE_URL, or create it (CREATE DATABASE \
                     {database}){start_it}"
                ),
                // too_many_connections
                Some("53300") => "wait for connections to close, raise the server's \
                                  max_connections or lower ECHODIARY__DATABASE__MAX_CONNECTIONS"
                    .to_owned(),
                // cannot_connect_now: starting up, shutting down, in recovery
                Some("57P03") => "retry once the server has finished starting".to_owned(),
                _ => "check DATABASE_URL and the server's log".to_owned(),
            };
            // The message alone: sqlx's text appends the line of PostgreSQL's source code.
            (db.message().to_owned(), hint)
        }
        other => (
            other.to_string(),
            "check DATABASE_URL and the server's log".into(),
        ),
    }
}
