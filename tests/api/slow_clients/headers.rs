//! Request heads: sent slowly, never finished, oversized, and fifty slowloris clients at once.

use super::*;

#[tokio::test]
async fn headers_sent_slowly_or_never_finished_are_cut_at_the_header_read_timeout() {
    within(Duration::from_secs(60), async {
        let service = service(HEADER_READ_TIMEOUT).await;
        let tick = Duration::from_millis(100);
        let endless = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ".repeat(10);
        let clients: [(&str, &[u8], Vec<u8>); 3] = [
            ("a client that sends nothing", b"", Vec::new()),
            (
                "a head that stops halfway",
                b"GET /health/live HTTP/1.1\r\nHost: x\r\n",
                Vec::new(),
            ),
            // A byte every 100 ms, for longer than the timeout: activity must not extend it.
            ("a head trickled byte by byte", b"", endless),
        ];
        let mut runs = Vec::new();
        for (what, head, slow) in clients {
            let stream = connect(&service).await;
            runs.push(tokio::spawn(async move {
                (what, send_until_closed(stream, head, &slow, tick).await)
            }));
        }
        for run in runs {
            let (what, (received, elapsed)) = run.await.expect("a client task");
            assert_closed_at_about(elapsed, HEADER_READ_TIMEOUT, what);
            // hyper closes without an answer; a 408 would be as good, anything else is not.
            assert!(
                received.is_empty() || status(&received) == Some(408),
                "{what}: {}",
                String::from_utf8_lossy(&received)
            );
        }

        // A kept-alive connection idling after its response is closed by the same timeout.
        let stream = connect(&service).await;
        let (received, elapsed) = send_until_closed(
            stream,
            b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n",
            b"",
            tick,
        )
        .await;
        assert_eq!(status(&received), Some(200));
        assert_closed_at_about(
            elapsed,
            HEADER_READ_TIMEOUT,
            "an idle kept-alive connection",
        );
        // The three slow heads at least; idle kept-alive connections count too.
        let cut = connections_cut(&service, "header_timeout").await;
        assert!(cut >= 3.0, "header timeouts counted: {cut}");
        assert_eq!(connections_cut(&service, "write_stall").await, 0.0);

        let live = service.client.get(service.url("/health/live")).send().await;
        assert_eq!(live.expect("live").status(), StatusCode::OK);
        service.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_oversized_header_block_answers_431_at_once_and_others_are_still_served() {
    within(Duration::from_secs(60), async {
        let service = service(HEADER_READ_TIMEOUT).await;
        let big_header = format!(
            "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(20 * 1024)
        );
        let many_headers = format!(
            "GET /health/live HTTP/1.1\r\nHost: x\r\n{}\r\n",
            (0..150)
                .map(|n| format!("X-H{n}: v\r\n"))
                .collect::<String>()
        );
        for (what, request) in [
            ("a 20 KiB header", big_header),
            ("150 header fields", many_headers),
        ] {
            let stream = connect(&service).await;
            let (received, elapsed) =
                send_until_closed(stream, request.as_bytes(), b"", Duration::ZERO).await;
            assert_eq!(
                status(&received),
                Some(431),
                "{what}: {}",
                String::from_utf8_lossy(&received)
            );
            assert!(elapsed < MARGIN, "{what}: answered after {elapsed:?}");
            let live = service.client.get(service.url("/health/live")).send().await;
            assert_eq!(live.expect("live").status(), StatusCode::OK, "after {what}");
        }
        service.stop().await;
    })
    .await;
}

#[tokio::test]
async fn normal_requests_answer_promptly_while_fifty_slowloris_clients_hold_connections() {
    const SLOW_CLIENTS: usize = 50;
    // Long enough that the slow clients are all still connected while the others are measured.
    const HOLD: Duration = Duration::from_millis(5000);
    within(Duration::from_secs(90), async {
        let service = service(HOLD).await;
        let token = account(&service, "busy@example.com", "busy password").await;
        service
            .create_entry(&token, "read past the slowloris")
            .await;

        let endless = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ".repeat(100);
        let opened = Instant::now();
        let mut slow = Vec::new();
        for _ in 0..SLOW_CLIENTS {
            let stream = connect(&service).await;
            let endless = endless.clone();
            slow.push(tokio::spawn(async move {
                send_until_closed(stream, b"", &endless, Duration::from_millis(250)).await
            }));
        }

        let mut slowest = Duration::ZERO;
        let mut answered = 0;
        while opened.elapsed() < HOLD - Duration::from_millis(1500) {
            for path in ["/health/live", "/api/v1/entries"] {
                let started = Instant::now();
                let response = service
                    .client
                    .get(service.url(path))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("GET {path}: {e}"));
                assert_eq!(response.status(), StatusCode::OK, "{path}");
                response.bytes().await.expect("the body");
                slowest = slowest.max(started.elapsed());
                answered += 1;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            slow.iter().all(|client| !client.is_finished()),
            "the slow clients were still connected while the others were measured"
        );
        eprintln!(
            "slowloris drill: {answered} requests beside {SLOW_CLIENTS} slow clients, \
             slowest {slowest:?}"
        );
        assert!(answered >= 10, "only {answered} requests answered");
        assert!(
            slowest < Duration::from_secs(2),
            "a request took {slowest:?} beside {SLOW_CLIENTS} slow clients"
        );
        for client in slow {
            let (received, elapsed) = client.await.expect("a slow client");
            assert!(
                received.is_empty(),
                "{}",
                String::from_utf8_lossy(&received)
            );
            assert_closed_at_about(elapsed, HOLD, "a slowloris client among many");
        }
        service.stop().await;
    })
    .await;
}
