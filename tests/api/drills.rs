//! Fault drills: the real binary on real sockets under concurrent load while something goes
//! wrong (SIGTERM, PostgreSQL stopping, a login storm). Every request's send time and outcome is
//! recorded, and the assertions are about what the clients saw.

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

#[tokio::test]
async fn sigterm_under_load_fails_no_request_accepted_before_the_signal() {
    const GRACE: Duration = Duration::from_millis(1000);
    const DRAIN: Duration = Duration::from_millis(5000);
    within(Duration::from_secs(90), async {
        let _turn = ONE_AT_A_TIME.lock().await;
        let mut service = Service::start(&[
            ("ECHODIARY__SERVER__SHUTDOWN_GRACE_MS", "1000"),
            ("ECHODIARY__SERVER__SHUTDOWN_DRAIN_MS", "5000"),
        ])
        .await;
        let token = account(
            &service,
            "sigterm-load@example.com",
            "sigterm load password",
        )
        .await;
        let id = service.create_entry(&token, "read under load").await;
        assert_eq!(
            service.get_ops("/health/ready").await.status(),
            StatusCode::OK
        );

        let signalled: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<JoinHandle<Vec<Outcome>>> = (0..16)
            .map(|task| {
                let client = load_client(Duration::from_secs(10));
                let get = service.url(&format!("/api/v1/entries/{id}"));
                let create = service.url("/api/v1/entries");
                let (token, signalled, stop) =
                    (token.clone(), Arc::clone(&signalled), Arc::clone(&stop));
                tokio::spawn(async move {
                    let mut outcomes = Vec::new();
                    let mut n = 0_u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let outcome = if (n + task).is_multiple_of(4) {
                            let body = json!({ "content": format!("task {task} entry {n}") });
                            record(
                                "create",
                                client.post(&create).bearer_auth(&token).json(&body),
                            )
                            .await
                        } else {
                            record("get", client.get(&get).bearer_auth(&token)).await
                        };
                        let failed_after_signal = !outcome.ok() && signalled.get().is_some();
                        outcomes.push(outcome);
                        if failed_after_signal {
                            // The listener has closed; further attempts only spin on refusals.
                            break;
                        }
                    }
                    outcomes
                })
            })
            .collect();

        // The load itself runs for a while; nothing is waited for here.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let signal = Instant::now();
        signalled.set(signal).expect("the signal is sent once");
        service.proc.terminate();
        readiness_becomes(
            &service.client,
            &service.ops,
            StatusCode::SERVICE_UNAVAILABLE,
            GRACE - Duration::from_millis(200),
            "readiness 503 during the grace period under load",
        )
        .await;
        let limit = GRACE + DRAIN + Duration::from_secs(3);
        let status = service.proc.wait(limit).await;
        let exited = signal.elapsed();
        stop.store(true, Ordering::Relaxed);
        assert!(status.success(), "exit {status}\n{}", service.proc.output());

        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.extend(task.await.expect("a load task"));
        }
        let before: Vec<&Outcome> = outcomes.iter().filter(|o| o.sent < signal).collect();
        // Our clock starts before `kill` runs, so this window lies inside the service's grace.
        let grace_end = signal + GRACE - Duration::from_millis(200);
        let in_grace: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.sent >= signal && o.sent < grace_end)
            .collect();
        let failed: Vec<&&Outcome> = before.iter().chain(&in_grace).filter(|o| !o.ok()).collect();
        let after = outcomes.len() - before.len() - in_grace.len();
        eprintln!(
            "sigterm drill: {} before the signal, {} in the grace period, {after} later \
             ({} of them failed); exit after {exited:?}",
            before.len(),
            in_grace.len(),
            outcomes
                .iter()
                .filter(|o| o.sent >= grace_end && !o.ok())
                .count(),
        );
        assert!(
            before.len() >= 100,
            "only {} requests before the signal",
            before.len()
        );
        assert!(
            !in_grace.is_empty(),
            "no request was sent during the grace period"
        );
        assert!(
            failed.is_empty(),
            "{} of {} requests sent before the listener closed failed, first: {:?}",
            failed.len(),
            before.len() + in_grace.len(),
            failed.first()
        );
        assert!(
            service.proc.stdout().contains("shutdown complete"),
            "{}",
            service.proc.output()
        );
    })
    .await;
}

#[tokio::test]
async fn postgres_stopped_under_load_answers_503_and_loses_no_acknowledged_write() {
    const ACQUIRE: Duration = Duration::from_millis(500);
    // Everything that answers during the outage does so within the acquire timeout plus this.
    const MARGIN: Duration = Duration::from_millis(1000);
    within(Duration::from_secs(120), async {
        let _turn = ONE_AT_A_TIME.lock().await;
        let cluster = private_cluster().await;
        let url = crate::support::fresh_database(&cluster.url("postgres")).await;
        let service =
            Service::start_on(&url, &[("ECHODIARY__DATABASE__ACQUIRE_TIMEOUT_MS", "500")]).await;
        let token = account(&service, "outage-load@example.com", "outage load password").await;

        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<JoinHandle<Vec<Outcome>>> = (0..8)
            .map(|task| {
                let client = load_client(Duration::from_secs(5));
                let create = service.url("/api/v1/entries");
                let (token, stop) = (token.clone(), Arc::clone(&stop));
                tokio::spawn(async move {
                    let mut outcomes = Vec::new();
                    let mut n = 0_u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let body = json!({ "content": format!("task {task} entry {n}") });
                        let outcome = record(
                            "create",
                            client.post(&create).bearer_auth(&token).json(&body),
                        )
                        .await;
                        let refused = outcome.result.is_err();
                        outcomes.push(outcome);
                        if refused {
                            break;
                        }
                    }
                    outcomes
                })
            })
            .collect();

        tokio::time::sleep(Duration::from_millis(500)).await;
        let outage = Instant::now();
        blocking(&cluster, PgCluster::stop).await;
        let stopped = Instant::now();

        // Liveness needs no database: it stays 200, promptly, on both listeners.
        let probe = load_client(Duration::from_secs(5));
        let mut lives = 0;
        while stopped.elapsed() < Duration::from_millis(1500) {
            for base in [&service.public, &service.ops] {
                let started = Instant::now();
                let live = probe
                    .get(format!("{base}/health/live"))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{base}/health/live during the outage: {e}"));
                assert_eq!(live.status(), StatusCode::OK, "{base}");
                assert!(started.elapsed() < Duration::from_secs(1), "{base}");
                lives += 1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(lives >= 4);

        let restart = Instant::now();
        blocking(&cluster, PgCluster::restart).await;
        let restarted = Instant::now();
        // Served again without restarting the service.
        let back = loop {
            let body = json!({ "content": "after the restart" });
            let outcome = record(
                "create",
                probe
                    .post(service.url("/api/v1/entries"))
                    .bearer_auth(&token)
                    .json(&body),
            )
            .await;
            if outcome
                .result
                .as_ref()
                .is_ok_and(|(s, _)| *s == StatusCode::CREATED)
            {
                break restarted.elapsed();
            }
            assert!(
                restarted.elapsed() < Duration::from_secs(5),
                "creates still fail 5 s after PostgreSQL restarted: {outcome:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Some load after the recovery as well.
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::Relaxed);
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.extend(task.await.expect("a load task"));
        }

        let created: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| matches!(&o.result, Ok((s, _)) if *s == StatusCode::CREATED))
            .collect();
        let unavailable: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| matches!(&o.result, Ok((s, _)) if *s == StatusCode::SERVICE_UNAVAILABLE))
            .collect();
        let slowest_503 = unavailable.iter().map(|o| o.took).max();
        eprintln!(
            "postgres drill: {} requests, {} created, {} answered 503 (slowest {slowest_503:?}); \
             pg_ctl stop took {:?}, restart {:?}; first create {back:?} after the restart",
            outcomes.len(),
            created.len(),
            unavailable.len(),
            stopped - outage,
            restarted - restart,
        );
        for outcome in &outcomes {
            match &outcome.result {
                Ok((status, _)) if *status == StatusCode::CREATED => {}
                Ok((status, kind)) if *status == StatusCode::SERVICE_UNAVAILABLE => {
                    assert_eq!(kind, "application/problem+json", "{outcome:?}");
                    assert!(outcome.took < ACQUIRE + MARGIN, "{outcome:?}");
                }
                _ => panic!(
                    "neither 201 nor 503 problem+json: {outcome:?}\n{}",
                    service.proc.output()
                ),
            }
        }
        let during = |o: &&&Outcome| o.sent >= outage && o.sent < restart;
        assert!(
            unavailable.iter().any(|o| during(&o)),
            "no request answered 503 during the outage"
        );
        assert!(
            created.iter().any(|o| o.sent < outage),
            "no create before the outage"
        );
        assert!(
            created.iter().any(|o| o.sent >= restarted),
            "no create after the restart"
        );

        let ids: Vec<uuid::Uuid> = created
            .iter()
            .map(|o| {
                let id = o.id.as_deref().expect("a 201 carries the entry id");
                uuid::Uuid::parse_str(id).expect("a UUID")
            })
            .collect();
        let pool = sqlx_connect(&url).await;
        let present: i64 = sqlx::query_scalar("SELECT count(*) FROM entries WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_one(&pool)
            .await
            .expect("count the acknowledged entries");
        pool.close().await;
        assert_eq!(
            present,
            ids.len() as i64,
            "every entry whose create answered 201 is stored"
        );
        service.stop().await;
    })
    .await;
}

/// A latency comparison, so it needs the machine to itself: `.ci/run` runs it alone with
/// `cargo test --test api -- --ignored --test-threads=1 a_login_storm`. Among the suite's parallel
/// tests "quiet" stops being quiet. Measured here (2 cores, debug build): the storm raises the
/// readers' p99 by ~1.5x with the hashing threads at nice 10, ~1.9x at normal priority, and
/// it used to exceed 4x when hashing shared the blocking pool under outside load.
#[tokio::test]
#[ignore = "timing-sensitive: run alone, as .ci/run does"]
async fn a_login_storm_does_not_starve_other_requests() {
    const READERS: usize = 4;
    const SAMPLES: usize = 250;
    within(Duration::from_secs(120), async {
        let _turn = ONE_AT_A_TIME.lock().await;
        let service = Service::start(&[
            // Only failures are throttled, and the storm logs in correctly; high anyway, so the
            // drill measures hashing, never the limiter.
            (
                "ECHODIARY__AUTH__LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS",
                "100000",
            ),
            ("ECHODIARY__AUTH__LOGIN_MAX_FAILURES_PER_ACCOUNT", "100000"),
            ("ECHODIARY__AUTH__LOGIN_MAX_FAILURES_PER_ADDRESS", "100000"),
        ])
        .await;
        let reader = account(&service, "reader@example.com", "reader password").await;
        let id = service.create_entry(&reader, "read during a storm").await;
        let mut stormers = Vec::new();
        for i in 0..4 {
            let (email, password) = (
                format!("storm-{i}@example.com"),
                format!("storm password {i}"),
            );
            account(&service, &email, &password).await;
            stormers.push(json!({ "email": email, "password": password }));
        }

        let get = service.url(&format!("/api/v1/entries/{id}"));
        // A few concurrent readers, each on its own connection: the p99 of a thousand requests
        // is a property of the service, the p99 of a couple hundred sequential ones is noise.
        let measure = || {
            let readers: Vec<JoinHandle<Vec<Duration>>> = (0..READERS)
                .map(|_| {
                    let (client, get, reader) = (
                        load_client(Duration::from_secs(5)),
                        get.clone(),
                        reader.clone(),
                    );
                    tokio::spawn(async move {
                        let mut samples = Vec::with_capacity(SAMPLES);
                        for _ in 0..SAMPLES {
                            let started = Instant::now();
                            let response = client
                                .get(&get)
                                .bearer_auth(&reader)
                                .send()
                                .await
                                .expect("get-by-id");
                            assert_eq!(response.status(), StatusCode::OK);
                            response.bytes().await.expect("the entry");
                            samples.push(started.elapsed());
                        }
                        samples
                    })
                })
                .collect();
            async move {
                let mut samples = Vec::with_capacity(READERS * SAMPLES);
                for reader in readers {
                    samples.extend(reader.await.expect("a reader task"));
                }
                samples
            }
        };
        // Warm the connection and the pool first.
        measure().await;
        let mut quiet_samples = measure().await;
        let quiet = percentile(&mut quiet_samples, 0.99);
        let quiet_median = percentile(&mut quiet_samples, 0.5);

        let stop = Arc::new(AtomicBool::new(false));
        let storm: Vec<JoinHandle<Vec<Outcome>>> = (0..8)
            .map(|task| {
                let client = load_client(Duration::from_secs(30));
                let login = service.url("/api/v1/auth/login");
                let body = stormers[task % stormers.len()].clone();
                let stop = Arc::clone(&stop);
                tokio::spawn(async move {
                    let mut outcomes = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        outcomes.push(record("login", client.post(&login).json(&body)).await);
                    }
                    outcomes
                })
            })
            .collect();
        // Let every storm task get a login in flight before measuring.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut storm_samples = measure().await;
        let during = percentile(&mut storm_samples, 0.99);
        let storm_median = percentile(&mut storm_samples, 0.5);
        stop.store(true, Ordering::Relaxed);
        let mut logins = Vec::new();
        for task in storm {
            logins.extend(task.await.expect("a storm task"));
        }
        let ok = logins.iter().filter(|o| o.ok()).count();
        eprintln!(
            "login storm drill: get-by-id p99 {quiet:?} quiet, {during:?} during the storm \
             (p50 {quiet_median:?}, {storm_median:?}); \
             {} logins ({ok} answered 200, others: {:?})",
            logins.len(),
            logins
                .iter()
                .filter(|o| !o.ok())
                .map(|o| (o.what, &o.result))
                .take(3)
                .collect::<Vec<_>>()
        );
        assert!(ok >= 8, "the storm logged in only {ok} times");
        // 3x the quiet p99, with a 15 ms floor: quiet p99 on loopback can be well under a
        // millisecond, where 3x is scheduler noise rather than starvation.
        let bound = (quiet * 3).max(Duration::from_millis(15));
        assert!(
            during <= bound,
            "get-by-id p99 {during:?} during the login storm, quiet {quiet:?}, bound {bound:?}"
        );
        service.stop().await;
    })
    .await;
}
