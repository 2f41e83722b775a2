//! Fault drill, slow or oversized clients: the real binary, raw TCP clients that misbehave on
//! purpose. The header read timeout, the header and body limits and the request deadline must
//! each hold, and none of these clients may keep a connection past its limit or slow anyone else.
//!
//! The limits are set small (about a second) so the drill is quick; the margins allow for the
//! suite's other tests sharing two cores.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::support::exposition::Exposition;
use crate::support::process::{Service, account};
use crate::support::wait::within;

const HEADER_READ_TIMEOUT: Duration = Duration::from_millis(1000);
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1500);
/// How late past its limit a connection may close, or an answer come.
const MARGIN: Duration = Duration::from_millis(2000);

/// The service with small limits: header timeout and request deadline about a second, 4 KiB
/// bodies, 8 KiB heads. `header_read_timeout_ms` is passed separately for the drill that needs
/// slow clients to stay connected for a while.
async fn service(header_read_timeout: Duration) -> Service {
    Service::start(&[
        (
            "ECHODIARY__SERVER__HEADER_READ_TIMEOUT_MS",
            &header_read_timeout.as_millis().to_string(),
        ),
        (
            "ECHODIARY__SERVER__REQUEST_TIMEOUT_MS",
            &REQUEST_TIMEOUT.as_millis().to_string(),
        ),
        ("ECHODIARY__SERVER__BODY_LIMIT_BYTES", "4096"),
        ("ECHODIARY__SERVER__MAX_HEADER_BYTES", "8192"),
    ])
    .await
}

async fn connect(service: &Service) -> TcpStream {
    let addr = service.public.trim_start_matches("http://");
    TcpStream::connect(addr)
        .await
        .expect("connect to the public port")
}

/// Writes `bytes` one at a time, `every` apart, until they run out or the server stops taking
/// them; then waits forever, so callers race it against the reading side.
async fn trickle(writer: &mut OwnedWriteHalf, bytes: &[u8], every: Duration) {
    for byte in bytes {
        if writer.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(every).await;
    }
    std::future::pending::<()>().await;
}

/// Everything the server sends until it closes the connection; a reset counts as a close.
async fn until_closed(reader: &mut OwnedReadHalf) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends `head` at once, then trickles `slow` a byte per `every`; returns what the server sent and
/// how long after the first write it closed the connection.
async fn send_until_closed(
    stream: TcpStream,
    head: &[u8],
    slow: &[u8],
    every: Duration,
) -> (Vec<u8>, Duration) {
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    writer.write_all(head).await.expect("send the head");
    let received = tokio::select! {
        received = until_closed(&mut reader) => received,
        () = trickle(&mut writer, slow, every) => unreachable!("trickle never returns"),
    };
    (received, started.elapsed())
}

/// `http_server_connections_cut_total{reason}` of the service, from its ops port.
async fn connections_cut(service: &Service, reason: &str) -> f64 {
    let text = service
        .client
        .get(format!("{}/metrics", service.ops))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    Exposition::parse(&text)
        .value("http_server_connections_cut_total", &[("reason", reason)])
        .expect("http_server_connections_cut_total is exposed for every reason")
}

/// The status code of a raw HTTP/1.1 response, if it is one.
fn status(response: &[u8]) -> Option<u16> {
    let line = response.split(|b| *b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// A header of a raw response (names compared case-insensitively).
fn header(response: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(response);
    let head = text.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// The JSON body of a raw response with a Content-Length body.
fn json_body(response: &[u8]) -> Value {
    let text = String::from_utf8_lossy(response);
    let (_, body) = text.split_once("\r\n\r\n").expect("a complete head");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("a JSON body ({e}): {text}"))
}

fn assert_closed_at_about(elapsed: Duration, limit: Duration, what: &str) {
    assert!(
        elapsed >= limit.mul_f64(0.9) && elapsed < limit + MARGIN,
        "{what}: closed after {elapsed:?}, limit {limit:?}"
    );
}

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

#[tokio::test]
async fn a_client_that_never_reads_its_answers_loses_its_connection_after_the_request_timeout() {
    const REQUESTS: usize = 4000;
    within(Duration::from_secs(60), async {
        let service = service(HEADER_READ_TIMEOUT).await;
        let one_answer = service
            .client
            .get(service.url("/openapi.json"))
            .send()
            .await
            .expect("openapi.json")
            .bytes()
            .await
            .expect("the document")
            .len();
        // Far more than the kernel buffers on both ends hold (a few MiB), so the server's writes
        // must stall.
        assert!(
            REQUESTS * one_answer > 40 << 20,
            "answers of {one_answer} bytes"
        );

        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let addr = service.public.trim_start_matches("http://");
        let stream = socket
            .connect(addr.parse().expect("an address"))
            .await
            .expect("connect");
        let (mut reader, mut writer) = stream.into_split();
        // Pipelined requests, none of whose answers is read for a while.
        let asking = tokio::spawn(async move {
            let request = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n";
            for _ in 0..REQUESTS {
                if writer.write_all(request).await.is_err() {
                    break;
                }
            }
            writer
        });
        tokio::time::sleep(REQUEST_TIMEOUT + MARGIN).await;

        let read = tokio::time::timeout(Duration::from_secs(20), until_closed(&mut reader)).await;
        let received = read.expect("the server closed the connection").len();
        assert!(
            received < REQUESTS * one_answer / 2,
            "the server kept writing to a client that read nothing for longer than the \
             request timeout: {received} of {} bytes",
            REQUESTS * one_answer
        );
        asking.abort();
        assert_eq!(connections_cut(&service, "write_stall").await, 1.0);
        // The service itself is unaffected.
        let live = service.client.get(service.url("/health/live")).send().await;
        assert_eq!(live.expect("live").status(), StatusCode::OK);
        service.stop().await;
    })
    .await;
}
