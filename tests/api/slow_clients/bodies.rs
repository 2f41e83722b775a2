//! Request bodies: sent slowly past the request deadline, or over the size limit.

use super::*;

#[tokio::test]
async fn a_body_sent_slowly_answers_503_at_the_request_deadline_and_loses_its_connection() {
    within(Duration::from_secs(60), async {
        let service = service(HEADER_READ_TIMEOUT).await;
        let json = br#"{"email": "slow@example.com", "password": "a slow password"}"#;
        let head = |framing: &str| {
            format!(
                "POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\n\
                 Content-Type: application/json\r\n{framing}\r\n\r\n"
            )
        };
        let mut chunked = Vec::new();
        for byte in json {
            chunked.extend_from_slice(b"1\r\n");
            chunked.push(*byte);
            chunked.extend_from_slice(b"\r\n");
        }
        let clients = [
            (
                "Content-Length",
                head(&format!("Content-Length: {}", json.len())),
                json.to_vec(),
            ),
            ("chunked", head("Transfer-Encoding: chunked"), chunked),
        ];
        let mut runs = Vec::new();
        for (what, head, body) in clients {
            let stream = connect(&service).await;
            // A few bytes a second: the whole body would take over ten seconds.
            runs.push(tokio::spawn(async move {
                let sent =
                    send_until_closed(stream, head.as_bytes(), &body, Duration::from_millis(200));
                (what, sent.await)
            }));
        }
        for run in runs {
            let (what, (received, elapsed)) = run.await.expect("a client task");
            let text = String::from_utf8_lossy(&received).into_owned();
            assert_eq!(status(&received), Some(503), "{what}: {text}");
            assert_eq!(
                header(&received, "content-type").as_deref(),
                Some("application/problem+json"),
                "{what}: {text}"
            );
            assert_eq!(json_body(&received)["status"], 503, "{what}");
            // The answer and the close both come at the deadline: the client cannot hold on.
            assert_closed_at_about(elapsed, REQUEST_TIMEOUT, what);
        }
        service.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_oversized_body_answers_413_problem_with_or_without_content_length() {
    within(Duration::from_secs(60), async {
        let service = service(HEADER_READ_TIMEOUT).await;
        let json = format!(
            r#"{{"email": "big@example.com", "password": "{}"}}"#,
            "p".repeat(16 * 1024)
        );
        // `Connection: close`, so the close marks the end of the answer and the test does not
        // wait for the idle keep-alive timeout.
        let head = |framing: &str| {
            format!(
                "POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                 Content-Type: application/json\r\n{framing}\r\n\r\n"
            )
        };
        let with_length = format!("{}{json}", head(&format!("Content-Length: {}", json.len())));
        // 1 KiB chunks: no chunk is over the limit, only their sum.
        let mut chunked = head("Transfer-Encoding: chunked");
        for chunk in json.as_bytes().chunks(1024) {
            chunked.push_str(&format!("{:x}\r\n", chunk.len()));
            chunked.push_str(std::str::from_utf8(chunk).expect("ASCII"));
            chunked.push_str("\r\n");
        }
        chunked.push_str("0\r\n\r\n");
        for (what, request) in [("Content-Length", with_length), ("chunked", chunked)] {
            let stream = connect(&service).await;
            let (received, elapsed) =
                send_until_closed(stream, request.as_bytes(), b"", Duration::ZERO).await;
            let text = String::from_utf8_lossy(&received).into_owned();
            assert_eq!(status(&received), Some(413), "{what}: {text}");
            assert_eq!(
                header(&received, "content-type").as_deref(),
                Some("application/problem+json"),
                "{what}: {text}"
            );
            assert_eq!(json_body(&received)["status"], 413, "{what}");
            assert!(elapsed < MARGIN, "{what}: took {elapsed:?}");
        }
        service.stop().await;
    })
    .await;
}
