//! Request ids a caller may choose: a short plain token is echoed and logged as given; anything
//! else (huge, spaced, non-ASCII, too long) is replaced by a fresh UUID, on the answer and in the
//! access log line alike.

use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::{Method, Response};
use serde_json::Value;

use crate::support::TestApp;
use crate::support::process::Service;
use crate::support::wait::within;

fn echoed_id(response: &Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("every answer carries an x-request-id")
        .to_owned()
}

/// Ids no log line or answer should carry: the 8,000-byte one, one with spaces, one with
/// non-ASCII bytes, one a character too long, an empty one and one with markup.
fn unusable_ids() -> Vec<HeaderValue> {
    let mut ids: Vec<HeaderValue> = [
        "x".repeat(8000),
        "two words".to_owned(),
        "a".repeat(65),
        String::new(),
        "<script>".to_owned(),
    ]
    .iter()
    .map(|id| HeaderValue::from_str(id).expect("a header value"))
    .collect();
    ids.push(HeaderValue::from_bytes("café-Ω".as_bytes()).expect("obs-text is a header value"));
    ids
}

fn is_fresh_uuid(id: &str, given: &HeaderValue) -> bool {
    id.as_bytes() != given.as_bytes() && uuid::Uuid::parse_str(id).is_ok()
}

#[tokio::test]
async fn a_caller_request_id_is_echoed_only_when_it_is_1_to_64_plain_characters() {
    let app = TestApp::spawn().await;
    for base in [&app.base, &app.ops] {
        let send = |id: HeaderValue| {
            app.client
                .request(Method::GET, format!("{base}/health/live"))
                .header("x-request-id", id)
                .send()
        };
        for fine in ["abc.DEF_123-xyz", "7", &"a".repeat(64)] {
            let response = send(HeaderValue::from_str(fine).expect("valid")).await;
            assert_eq!(echoed_id(&response.expect("live")), fine, "{base}");
        }
        for unusable in unusable_ids() {
            let response = send(unusable.clone()).await.expect("live");
            let given = echoed_id(&response);
            assert!(is_fresh_uuid(&given, &unusable), "{base}: {given}");
        }
    }
}

#[tokio::test]
async fn the_access_log_line_carries_the_fresh_id_and_never_the_rejected_one() {
    within(Duration::from_secs(60), async {
        let service = Service::start(&[]).await;
        let kept = "client-chosen.id_1";
        let mut fresh = Vec::new();
        for (path, id) in unusable_ids()
            .into_iter()
            .map(|id| ("/api/v1/users/me", id))
            .chain([("/health/live", HeaderValue::from_static(kept))])
        {
            let response = service
                .client
                .get(service.url(path))
                .header("x-request-id", id.clone())
                .send()
                .await
                .expect("a request");
            let given = echoed_id(&response);
            if given != kept {
                assert!(is_fresh_uuid(&given, &id), "{given}");
                fresh.push(given);
            }
        }
        assert_eq!(fresh.len(), unusable_ids().len());

        let (stdout, _) = service.stop().await;
        let logged: Vec<String> = stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|event| event["message"] == "request finished")
            .filter_map(|event| event["request_id"].as_str().map(str::to_owned))
            .collect();
        for id in fresh.iter().map(String::as_str).chain([kept]) {
            assert!(
                logged.iter().any(|l| l == id),
                "{id} not logged: {logged:?}"
            );
        }
        for rejected in ["xxxxxxxxxxxxxxxx", "two words", "café", "<script>"] {
            assert!(!stdout.contains(rejected), "{rejected:?} reached the logs");
        }
    })
    .await;
}
