//! Logging: one subscriber per process, flat JSON in production, readable text in development.

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::RunMode;
use crate::monitoring::LOG_LEVELS;

mod batched;
mod flat_json;

pub use batched::{BatchedStdout, FlushGuard};
use flat_json::FlatJson;

/// Installs the global subscriber, writing to stdout. `RUST_LOG` filters (default `info`). Safe to
/// call more than once: only the first call takes effect.
///
/// Lines reach stdout in batches (see [`BatchedStdout`]), so keep the returned guard until exit:
/// dropping it writes out what is still buffered.
#[must_use = "dropping the guard stops the log flusher; keep it until the process exits"]
pub fn init(mode: RunMode) -> FlushGuard {
    let (writer, guard) = BatchedStdout::start();
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
            .event_format(FlatJson)
            .finish()
            .with(LineCounter)
            .try_init(),
        RunMode::Development => builder.finish().with(LineCounter).try_init(),
    };
}

/// Counts every line the subscriber writes in `log_events_total{level}`, so an alert can fire on a
/// surge of error lines without a log pipeline (docs/runbooks/alerts.md). It wraps the filtered
/// subscriber, so a line `RUST_LOG` drops is not counted. Lines written before the server installs
/// the metrics recorder (configuration and start-up) go uncounted.
struct LineCounter;

impl<S: Subscriber> Layer<S> for LineCounter {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let level = match *event.metadata().level() {
            Level::ERROR => LOG_LEVELS[0],
            Level::WARN => LOG_LEVELS[1],
            Level::INFO => LOG_LEVELS[2],
            Level::DEBUG => LOG_LEVELS[3],
            Level::TRACE => LOG_LEVELS[4],
        };
        metrics::counter!("log_events_total", "level" => level).increment(1);
    }
}

/// Reports panics as one error event (JSON in production) instead of the default stderr text. Only
/// the location is logged: a panic message can quote request data such as diary text.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        // Inside a request, which one: the panic hook runs on the panicking task's thread.
        crate::access_log::with_current(|request_id, route| {
            tracing::error!(%location, request_id, route, "panic");
        });
    }));
}
