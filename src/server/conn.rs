//! The accept loop behind both listeners: HTTP/1.1 connections with a bound on how long and how
//! large a request head may be, each tagged with its peer address, each in a task the loop owns.
//!
//! `axum::serve` has no header read timeout and no header size limit, so a client that sends its
//! headers a byte at a time (or never finishes them) held a connection, a task and its buffer for
//! as long as it liked. The request deadline (`http::protect`) only starts once a request head is
//! complete; the header read timeout covers the time before it, and the write stall limit
//! (`write_stall`) the time after it, while the answer goes out. No phase of a request is
//! unbounded, whether the client is sending or supposed to be reading.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use super::write_stall::WriteStallLimit;
use crate::config::ServerSettings;

/// After an accept error that is not about one connection (EMFILE, ENFILE, ENOBUFS), the next
/// accept would most likely fail the same way at once; waiting lets connections close and free
/// descriptors instead of spinning a core and flooding the log.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(500);

/// How each connection is spoken to; built once per listener from the server settings.
pub(super) struct Http {
    builder: http1::Builder,
    write_stall_limit: Duration,
}

impl Http {
    pub(super) fn new(settings: &ServerSettings) -> Self {
        let mut builder = http1::Builder::new();
        // The header timeout counts from the moment hyper starts waiting for a request head: the
        // connection's start, or the end of the previous response on a kept-alive connection. So
        // it is also the idle keep-alive timeout. Trickled bytes do not reset it.
        // A head over `max_header_bytes`, or with more than hyper's 100 header fields, answers
        // 431 and closes; the field count keeps hyper's default because setting it moves the
        // header array of every request to the heap.
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(settings.header_read_timeout())
            .max_header_size(settings.max_header_bytes)
            .keep_alive(true);
        Self {
            builder,
            // A response that cannot be sent is a request that has not finished: the same limit.
            write_stall_limit: settings.request_timeout(),
        }
    }
}

/// Accepts on `listener` until `stop` completes, then closes the listener, asks every open
/// connection to finish its current request and close, and returns once all have.
///
/// Every connection runs in a task of a `JoinSet` this future owns, so dropping the future (the
/// caller aborting it at the drain deadline) cuts every connection still open.
pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    http: Http,
    stop: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut stop = pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                // Responses go out in one write or a head and a body; without this, Nagle holds
                // the second until the client's delayed ACK, tens of milliseconds later.
                if let Err(err) = stream.set_nodelay(true) {
                    tracing::debug!(%peer, error = %err, "could not disable Nagle's algorithm");
                }
                let service = app
                    .clone()
                    .map_request(move |request: hyper::Request<Incoming>| {
                        let mut request = request.map(Body::new);
                        // What `into_make_service_with_connect_info` did: the login throttle keys
                        // on the peer address.
                        request.extensions_mut().insert(ConnectInfo(peer));
                        request
                    });
                let connection = http.builder.serve_connection(
                    TokioIo::new(WriteStallLimit::new(stream, http.write_stall_limit)),
                    TowerToHyperService::new(service),
                );
                let connection = graceful.watch(connection);
                connections.spawn(async move {
                    // Header timeouts, stalled writes, resets and clients that vanish
                    // mid-request end up here; they are the client's doing, so they are not worth
                    // more than a debug line. The timeouts are counted: many of them at once is
                    // what a slowloris attack or a wedged client fleet looks like.
                    if let Err(err) = connection.await {
                        if let Some(reason) = cut_reason(&err) {
                            metrics::counter!("http_server_connections_cut_total", "reason" => reason)
                                .increment(1);
                        }
                        tracing::debug!(%peer, error = %err, "connection ended with an error");
                    }
                });
                // Finished connections are reaped here rather than in the select above, which
                // keeps the loop to two events; at most the connections closed since the last
                // accept are waiting.
                while connections.try_join_next().is_some() {}
            }
            Err(err) if is_about_one_connection(&err) => {}
            Err(err) => {
                tracing::error!(error = %err, "accepting a connection failed; backing off");
                tokio::select! {
                    () = &mut stop => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
    drop(listener);
    // Idle connections close at once; busy ones after their current response.
    graceful.shutdown().await;
    while connections.join_next().await.is_some() {}
}

/// Which of the server's own limits ended a connection, if one did.
fn cut_reason(err: &hyper::Error) -> Option<&'static str> {
    if err.is_timeout() {
        return Some("header_timeout");
    }
    let stalled = std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut);
    stalled.then_some("write_stall")
}

/// Errors that concern the connection being accepted, not the listener: the client gave up
/// before the accept completed. The next accept is unaffected.
fn is_about_one_connection(err: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        err.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_connection_accept_errors_are_told_apart_from_listener_errors() {
        use std::io::{Error, ErrorKind};
        assert!(is_about_one_connection(&Error::from(
            ErrorKind::ConnectionAborted
        )));
        // EMFILE: the process is out of descriptors; retrying at once would spin.
        assert!(!is_about_one_connection(&Error::from_raw_os_error(24)));
    }
}
