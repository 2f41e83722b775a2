//! A bound on how long a response write may wait for the client to read.
//!
//! Responses are built in full before hyper writes them, so the request deadline is over by the
//! time the bytes go out. A client that asks for large answers (or pipelines many) and never
//! reads them would keep its connection, its task and the unsent bytes for as long as it liked.
//! Wrapped in [`WriteStallLimit`], a connection whose writes make no progress for the limit fails
//! with `TimedOut`, and hyper closes it. A client that reads slowly but steadily is unaffected:
//! every write that goes through restarts the clock.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pub(super) struct WriteStallLimit<S> {
    inner: S,
    limit: Duration,
    /// Armed when a write is first refused, cleared when one goes through; allocated only for
    /// connections that ever stall.
    stalled_until: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteStallLimit<S> {
    pub(super) fn new(inner: S, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            stalled_until: None,
        }
    }

    /// Passes a write's outcome through, keeping the stall clock: `Pending` arms it (and fails
    /// once it runs out), anything else disarms it.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        outcome: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if outcome.is_ready() {
            self.stalled_until = None;
            return outcome;
        }
        let limit = self.limit;
        let deadline = self
            .stalled_until
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + limit)));
        ready!(deadline.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client read nothing of the response for the write stall limit",
        )))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteStallLimit<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteStallLimit<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let outcome = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, outcome)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let outcome = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, outcome)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    /// Passed through: a socket's flush completes at once, which says nothing about the client
    /// reading, so it must not restart the stall clock.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn a_write_the_reader_never_takes_fails_after_the_limit() {
        let (server, _client) = tokio::io::duplex(1024);
        let mut guarded = WriteStallLimit::new(server, LIMIT);
        let started = Instant::now();
        let err = guarded
            .write_all(&[0; 64 * 1024])
            .await
            .expect_err("nobody reads, so the write cannot finish");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), LIMIT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_is_slow_but_steady_gets_everything() {
        let (server, mut client) = tokio::io::duplex(1024);
        let mut guarded = WriteStallLimit::new(server, LIMIT);
        let reader = tokio::spawn(async move {
            let mut received = Vec::new();
            let mut chunk = [0; 512];
            loop {
                // Each read comes well within the limit, but the whole transfer takes far longer.
                tokio::time::sleep(LIMIT / 2).await;
                match client.read(&mut chunk).await.expect("read") {
                    0 => return received,
                    n => received.extend_from_slice(&chunk[..n]),
                }
            }
        });
        let sent: Vec<u8> = (0..16 * 1024).map(|i| (i % 251) as u8).collect();
        guarded.write_all(&sent).await.expect("a steady reader");
        guarded.shutdown().await.expect("shutdown");
        drop(guarded);
        assert_eq!(reader.await.expect("reader"), sent);
    }
}
