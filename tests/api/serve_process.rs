//! `echodiary serve` as a process under SIGTERM: readiness drops, the in-flight request drains
//! and the exit is 0; a stuck request is cut at the drain deadline; without migrate-on-start it
//! comes up live but not ready while the database is down; in development Ctrl-C stops it at once.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::process::{Service, account};
use crate::support::wait::{listener_closes, readiness_becomes, within};
use crate::support::{admin_url, fresh_database};

#[tokio::test]
async fn serve_drains_the_in_flight_request_and_exits_0_after_sigterm() {
    within(Duration::from_secs(90), async {
        let service = Service::start(&[
            ("ECHODIARY__SERVER__SHUTDOWN_GRACE_MS", "2500"),
            ("ECHODIARY__SERVER__SHUTDOWN_DRAIN_MS", "20000"),
            ("ECHODIARY__DATABASE__STATEMENT_TIMEOUT_MS", "60000"),
            ("ECHODIARY__SERVER__REQUEST_TIMEOUT_MS", "60000"),
        ])
        .await;
        let mut service = service;
        let token = account(&service, "sigterm@example.com", "sigterm password").await;
        let id = service
            .create_entry(&token, "in flight during a deploy")
            .await;
        let ready = service.get_ops("/health/ready").await;
        assert_eq!(ready.status(), StatusCode::OK);

        let (lock, patch) = service
            .blocked_patch(&token, &id, "survived the deploy")
            .await;

        let signalled = Instant::now();
        service.proc.terminate();
        readiness_becomes(
            &service.client,
            &service.ops,
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(1),
            "readiness 503 after SIGTERM",
        )
        .await;
        let ready: Value = service
            .get_ops("/health/ready")
            .await
            .json()
            .await
            .expect("ready JSON");
        assert_eq!(ready["status"], "shutting_down");
        // During the grace period load balancers are still catching up: requests are served.
        let live = service.client.get(service.url("/health/live")).send().await;
        assert_eq!(live.expect("live during grace").status(), StatusCode::OK);
        let list = service
            .client
            .get(service.url("/api/v1/entries"))
            .bearer_auth(&token)
            .send()
            .await;
        assert_eq!(list.expect("list during grace").status(), StatusCode::OK);
        assert!(
            signalled.elapsed() < Duration::from_millis(2500),
            "the checks above ran inside the grace period"
        );

        listener_closes(
            &service.public,
            Duration::from_secs(5),
            "the public listener closing after the grace period",
        )
        .await;
        assert!(
            signalled.elapsed() >= Duration::from_millis(2400),
            "the listener closed before the grace period ended ({:?})",
            signalled.elapsed()
        );
        assert!(!patch.is_finished(), "the PATCH still waits for the lock");
        assert!(service.proc.exited().is_none(), "the process waits for it");

        lock.release().await;
        let response = patch
            .await
            .expect("the PATCH task")
            .expect("the in-flight request gets its answer");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("entry");
        assert_eq!(body["title"], "survived the deploy");

        let status = service.proc.wait(Duration::from_secs(10)).await;
        assert!(status.success(), "exit {status}\n{}", service.proc.output());
        assert!(
            service.proc.stdout().contains("shutdown complete"),
            "{}",
            service.proc.output()
        );
    })
    .await;
}

#[tokio::test]
async fn serve_exits_by_the_drain_deadline_even_when_a_request_is_stuck() {
    within(Duration::from_secs(90), async {
        let mut service = Service::start(&[
            ("ECHODIARY__SERVER__SHUTDOWN_GRACE_MS", "0"),
            ("ECHODIARY__SERVER__SHUTDOWN_DRAIN_MS", "500"),
            ("ECHODIARY__DATABASE__STATEMENT_TIMEOUT_MS", "60000"),
            ("ECHODIARY__SERVER__REQUEST_TIMEOUT_MS", "60000"),
        ])
        .await;
        let token = account(&service, "stuck@example.com", "stuck password").await;
        let id = service.create_entry(&token, "never finishes").await;
        let (lock, patch) = service.blocked_patch(&token, &id, "cut").await;

        let signalled = Instant::now();
        service.proc.terminate();
        let status = service.proc.wait(Duration::from_secs(15)).await;
        let took = signalled.elapsed();
        lock.release().await;
        assert!(status.success(), "exit {status}\n{}", service.proc.output());
        assert!(
            took < Duration::from_secs(4),
            "exited {took:?} after SIGTERM with a 500 ms drain deadline\n{}",
            service.proc.output()
        );
        assert!(
            service.proc.stdout().contains("drain deadline passed"),
            "{}",
            service.proc.output()
        );
        // The cut request's client sees the connection end instead of waiting forever.
        let cut = patch.await.expect("the PATCH task");
        assert!(cut.is_err(), "{cut:?}");
    })
    .await;
}

#[tokio::test]
async fn serve_without_migrate_on_start_comes_up_live_but_not_ready_while_the_database_is_down() {
    within(Duration::from_secs(60), async {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("bound").port()
        };
        let url = format!("postgres://postgres@127.0.0.1:{port}/down");
        let service = Service::start_on(
            &url,
            &[
                ("ECHODIARY__DATABASE__MIGRATE_ON_START", "false"),
                ("ECHODIARY__DATABASE__ACQUIRE_TIMEOUT_MS", "500"),
            ],
        )
        .await;
        let live = service.client.get(service.url("/health/live")).send().await;
        assert_eq!(live.expect("live").status(), StatusCode::OK);
        let ready = service.get_ops("/health/ready").await;
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        // Alerts read readiness from the scrape: it must say what the probe says.
        let scrape = crate::support::exposition::Exposition::parse(
            &service
                .get_ops("/metrics")
                .await
                .text()
                .await
                .expect("exposition text"),
        );
        assert_eq!(scrape.value("app_ready", &[]), Some(0.0));
        service.stop().await;
    })
    .await;
}

#[tokio::test]
async fn serve_in_development_stops_at_once_on_ctrl_c_without_a_shutdown_grace() {
    within(Duration::from_secs(60), async {
        let database = fresh_database(&admin_url()).await;
        let mut service = Service::start_in_development(&database).await;
        let interrupted = Instant::now();
        service.proc.interrupt();
        let status = service.proc.wait(Duration::from_secs(15)).await;
        let took = interrupted.elapsed();
        assert!(status.success(), "exit {status}\n{}", service.proc.output());
        // Production's default grace alone is 5 s.
        assert!(
            took < Duration::from_millis(2500),
            "exited {took:?} after SIGINT\n{}",
            service.proc.output()
        );
        assert!(
            service.proc.stdout().contains("grace_ms=0"),
            "{}",
            service.proc.output()
        );
    })
    .await;
}
