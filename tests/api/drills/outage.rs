//! PostgreSQL stopped under load: bounded 503s, and no acknowledged write lost.

use super::*;

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
