//! Fault drill, slow or oversized clients: the real binary, raw TCP clients that misbehave on
//! purpose. The header read timeout, the header and body limits and the request deadline must
//! each hold, and none of these clients may keep a connection past its limit or slow anyone else.
//!
//! The limits are set small (about a second) so the drill is quick; the margins allow for the
//! suite's other tests sharing two cores.

mod bodies;
mod headers;

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
