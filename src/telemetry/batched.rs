//! Log lines collected in memory and written to stdout a few times a second.
//!
//! The access log is one line per request. Written directly, each line is a `write` system call;
//! handed to a logging thread, each line is a wake-up of that thread. Either costs a good part of
//! the throughput of a one-query request (bench/README.md, "Where the time goes"). Here a line is only
//! appended to a buffer under a short lock; a flusher thread writes the buffer out every
//! [`FLUSH_INTERVAL`]. Nothing is dropped: a full buffer is written out by the caller that filled
//! it, and warnings and errors are written out at once, so the line explaining a crash is never
//! the one left in memory.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// How stale stdout may be: well under a log shipper's own batching delay.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Past this many buffered bytes the line that crosses it writes the buffer out itself, so memory
/// stays bounded even if the flusher is starved.
const BUFFER_LIMIT: usize = 256 * 1024;

struct Shared {
    pending: Mutex<Vec<u8>>,
    /// Held while writing, so two flushes never interleave or reorder lines.
    out: Mutex<Box<dyn Write + Send>>,
    stopping: AtomicBool,
}

impl Shared {
    fn flush(&self) {
        let mut out = self.out.lock();
        let batch = std::mem::take(&mut *self.pending.lock());
        if !batch.is_empty() {
            // Nowhere to report a failing stdout; the lines are lost either way.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
        }
    }
}

/// The writer the subscriber formats into; cheap to clone.
#[derive(Clone)]
pub struct BatchedStdout {
    shared: Arc<Shared>,
}

/// Flushes what is buffered and stops the flusher when dropped: keep it until the process exits.
pub struct FlushGuard {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
}

impl BatchedStdout {
    pub fn start() -> (Self, FlushGuard) {
        Self::start_with(Box::new(io::stdout()))
    }

    fn start_with(out: Box<dyn Write + Send>) -> (Self, FlushGuard) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::with_capacity(16 * 1024)),
            out: Mutex::new(out),
            stopping: AtomicBool::new(false),
        });
        let flusher = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("log-flush".into())
                .spawn(move || {
                    while !shared.stopping.load(Ordering::Acquire) {
                        std::thread::park_timeout(FLUSH_INTERVAL);
                        shared.flush();
                    }
                })
                .ok()
        };
        let guard = FlushGuard {
            shared: Arc::clone(&shared),
            flusher,
        };
        (Self { shared }, guard)
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        if let Some(flusher) = self.flusher.take() {
            flusher.thread().unpark();
            let _ = flusher.join();
        }
        self.shared.flush();
    }
}

/// One formatted event; `urgent` ones go out as soon as they are complete.
pub struct Line<'a> {
    shared: &'a Shared,
    urgent: bool,
}

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let full = {
            let mut pending = self.shared.pending.lock();
            pending.extend_from_slice(bytes);
            pending.len() >= BUFFER_LIMIT
        };
        if full || self.urgent {
            self.shared.flush();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedStdout {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line {
            shared: &self.shared,
            urgent: false,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line<'a> {
        Line {
            shared: &self.shared,
            urgent: *meta.level() <= Level::WARN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What reached the destination so far.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn start() -> (BatchedStdout, FlushGuard, Sink) {
        let sink = Sink::default();
        let (writer, guard) = BatchedStdout::start_with(Box::new(sink.clone()));
        (writer, guard, sink)
    }

    #[test]
    fn lines_wait_for_a_flush_and_urgent_ones_and_the_guard_flush_at_once() {
        let (writer, guard, sink) = start();
        writer.make_writer().write_all(b"info\n").expect("buffered");
        let mut urgent = Line {
            shared: &writer.shared,
            urgent: true,
        };
        urgent.write_all(b"warning\n").expect("written");
        assert_eq!(sink.0.lock().as_slice(), b"info\nwarning\n", "in order");
        writer.make_writer().write_all(b"last\n").expect("buffered");
        drop(guard);
        assert_eq!(sink.0.lock().as_slice(), b"info\nwarning\nlast\n");
    }

    #[test]
    fn the_flusher_writes_buffered_lines_without_being_asked() {
        let (writer, _guard, sink) = start();
        writer.make_writer().write_all(b"info\n").expect("buffered");
        let started = std::time::Instant::now();
        while sink.0.lock().is_empty() && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(FLUSH_INTERVAL / 4);
        }
        assert_eq!(sink.0.lock().as_slice(), b"info\n");
    }

    #[test]
    fn a_full_buffer_is_written_out_by_the_line_that_fills_it() {
        let (writer, _guard, sink) = start();
        let line = vec![b'x'; BUFFER_LIMIT];
        writer.make_writer().write_all(&line).expect("written");
        assert_eq!(sink.0.lock().len(), BUFFER_LIMIT);
    }
}
