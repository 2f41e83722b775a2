//! Logging: one subscriber per process, JSON in production, readable text in development.

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::RunMode;

/// Lines waiting for the log thread; the queue is allocated up front, so this is memory at rest
/// (the library's default of 128,000 costs ~4 MiB).
const QUEUED_LINES: usize = 4_096;

/// Installs the global subscriber, writing to stdout. `RUST_LOG` filters (default `info`). Safe to
/// call more than once: only the first call takes effect.
///
/// Lines are written by a thread of their own, buffered and flushed whenever it has caught up, so
/// a request pays for formatting its access line but not for a `write` system call (one per line
/// was ~5% of the CPU a request costs). Nothing is dropped: when the queue is full, callers wait.
/// Keep the returned guard until exit; dropping it flushes what is still queued.
#[must_use = "dropping the guard stops logging; keep it until the process exits"]
pub fn init(mode: RunMode) -> WorkerGuard {
    let stdout = std::io::BufWriter::new(std::io::stdout());
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .finish(stdout);
    init_with_writer(mode, writer);
    guard
}

/// [`init`] with another destination. The integration tests send the production format to a file
/// so that every line the suite logs can be scanned for leaks; one setup keeps what they scan
/// identical to what production writes.
pub fn init_with_writer<W>(mode: RunMode, make_writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        .with_writer(make_writer);
    let _ = match mode {
        RunMode::Production => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        RunMode::Development => builder.try_init(),
    };
}

/// Reports panics as one error event (JSON in production) instead of the default stderr text. Only
/// the location is logged: a panic message can quote request data such as diary text.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(%location, "panic");
    }));
}
