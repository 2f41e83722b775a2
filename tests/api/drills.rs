//! Fault drills: the real binary on real sockets under concurrent load while something goes
//! wrong (SIGTERM, PostgreSQL stopping, a login storm). Every request's send time and outcome is
//! recorded, and the assertions are about what the clients saw.

mod login_storm;
mod outage;
mod sigterm;

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::support::postgres::{PgCluster, blocking, private_cluster};
use crate::support::process::{Service, account};
use crate::support::wait::{readiness_becomes, within};
use crate::support::{content_type, sqlx_connect};

/// One drill at a time: each loads the two cores on purpose, and the timing in one must not be
/// the load of another.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What one request of the load saw.
#[derive(Debug)]
struct Outcome {
    sent: Instant,
    took: Duration,
    what: &'static str,
    /// The status and, for problem answers, the content type; or the transport error.
    result: Result<(StatusCode, String), String>,
    /// The id of a created entry (201).
    id: Option<String>,
}

impl Outcome {
    fn ok(&self) -> bool {
        self.result.as_ref().is_ok_and(|(s, _)| s.is_success())
    }
}

/// A client of its own per load task: its own keep-alive connection, like a separate user.
fn load_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("an HTTP client")
}

/// Sends one request and records what came back; a 201 also yields the created entry's id.
async fn record(what: &'static str, request: reqwest::RequestBuilder) -> Outcome {
    let sent = Instant::now();
    let (result, id) = match request.send().await {
        Ok(response) => {
            let status = response.status();
            let kind = content_type(&response);
            let body: Option<Value> = response.json().await.ok();
            let id = (status == StatusCode::CREATED)
                .then(|| {
                    body.as_ref()
                        .and_then(|b| b["id"].as_str())
                        .map(str::to_owned)
                })
                .flatten();
            (Ok((status, kind)), id)
        }
        Err(e) => (Err(format!("{e:?}")), None),
    };
    Outcome {
        sent,
        took: sent.elapsed(),
        what,
        result,
        id,
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let rank = ((samples.len() as f64) * p).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}
