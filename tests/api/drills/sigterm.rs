//! SIGTERM under load: no request accepted before the signal fails.

use super::*;

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
