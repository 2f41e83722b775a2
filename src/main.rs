//! The `echodiary` binary: parse the command line, load configuration, start logging, then hand
//! over to the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use echodiary::config::Settings;

/// See Cargo.toml: lower CPU per allocation and a flat memory profile under password hashing.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "echodiary",
    version,
    about = "EchoDiary backend: a private diary API on PostgreSQL"
)]
struct Cli {
    /// Optional configuration file (TOML); environment variables override it.
    #[arg(long, short, env = "ECHODIARY_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the ops endpoints (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Exit 0 when the local instance reports ready on its ops port, 1 otherwise (for container
    /// health checks in images without curl).
    Healthcheck,
    /// Print the effective configuration as JSON, secrets redacted.
    Config,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("echodiary: configuration error: {}", one_line(&err));
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Config = command {
        return match serde_json::to_string_pretty(&settings) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("echodiary: {err}");
                ExitCode::FAILURE
            }
        };
    }
    // Held to the end of `main`: its drop flushes the log lines still queued.
    let _logs = echodiary::telemetry::init(settings.environment);
    echodiary::telemetry::log_panics();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("echodiary: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Serve => serve(settings).await,
            Command::Migrate => migrate(settings).await,
            Command::Healthcheck => healthcheck(settings).await,
            Command::Config => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %one_line(&err), "echodiary failed");
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each said once: sqlx's errors repeat their source's text
/// in their own, so the plain `{:#}` chain printed the same cause two or three times.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// The listeners are bound before the database is touched, so a port already in use fails the
/// start at once, before any migration. Connections that arrive while the migrations run wait in
/// the listen backlog and are served once they are done.
async fn serve(settings: Settings) -> anyhow::Result<()> {
    let url = settings.database_url()?;
    let listeners =
        echodiary::Listeners::bind(settings.server.addr, settings.server.ops_addr).await?;
    let pool = echodiary::db::connect_lazy(url, &settings.database)?;
    if settings.database.migrate_on_start {
        echodiary::db::check_database(url, &settings.database, settings.environment).await?;
        echodiary::db::migrate(&pool).await?;
    }
    let state = echodiary::AppState::new(settings, pool)?;
    echodiary::run(listeners, state, echodiary::shutdown_signal()).await
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let url = settings.database_url()?;
    echodiary::db::check_database(url, &settings.database, settings.environment).await?;
    let pool = echodiary::db::connect_lazy(url, &settings.database)?;
    echodiary::db::migrate(&pool).await?;
    tracing::info!("migrations applied");
    pool.close().await;
    Ok(())
}

/// A bare HTTP/1.1 GET to the ops port's readiness route: no HTTP client dependency for one request.
async fn healthcheck(settings: Settings) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut addr = settings.server.ops_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(
                b"GET /health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head)
    };
    let head = tokio::time::timeout(Duration::from_secs(3), check)
        .await
        .context("timed out")?
        .with_context(|| format!("cannot reach {addr}"))?;
    anyhow::ensure!(
        &head[9..12] == b"200",
        "not ready: HTTP {}",
        String::from_utf8_lossy(&head[9..12])
    );
    Ok(())
}
