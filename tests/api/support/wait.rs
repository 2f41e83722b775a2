//! Bounded waiting: a limit on a whole test, polling until something holds, and the two things
//! shutdown tests poll for (readiness changing, the public listener closing).

use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

/// Fails the test instead of hanging it when `test` does not finish within `limit`.
pub(crate) async fn within<T>(limit: Duration, test: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, test)
        .await
        .unwrap_or_else(|_| panic!("the test did not finish within {limit:?}"))
}

/// Polls `check` every 25 ms until it holds, failing with `what` after `limit`.
pub(crate) async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls `{ops}/health/ready` until it answers `status`, failing with `what` after `limit`.
pub(crate) async fn readiness_becomes(
    client: &reqwest::Client,
    ops: &str,
    status: StatusCode,
    limit: Duration,
    what: &str,
) {
    eventually(limit, what, || {
        let probe = client.get(format!("{ops}/health/ready"));
        async move { probe.send().await.is_ok_and(|r| r.status() == status) }
    })
    .await;
}

/// Polls until the listener at `base` (`http://host:port`) refuses new connections, failing with
/// `what` after `limit`.
pub(crate) async fn listener_closes(base: &str, limit: Duration, what: &str) {
    let addr = base.trim_start_matches("http://");
    eventually(limit, what, || async move {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
}
