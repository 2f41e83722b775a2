//! The table-driven sweep: broken bodies, queries, paths and `If-Match` values in every
//! combination get a 4xx problem, never a 5xx, and leave the entry unchanged.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::{an_entry, send_raw};
use crate::support::{TestApp, content_type};

/// Sweeps many kinds of broken input: whatever the exact status, it is a 4xx with a problem body.
#[tokio::test]
async fn no_malformed_request_ever_gets_a_5xx() {
    let app = TestApp::spawn_with(&[("ECHODIARY__SERVER__BODY_LIMIT_BYTES", "65536")]).await;
    let user = app.user().await;
    let id = an_entry(&app, &user).await;
    let entry = format!("/api/v1/entries/{id}");
    let deep = format!("{}{}", "[".repeat(2000), "]".repeat(2000));
    let deep_field = format!("{{\"content\": \"x\", \"tags\": {deep}}}");
    let mut bodies: Vec<String> = vec![
        String::new(),
        " ".into(),
        "\u{feff}{\"content\": \"x\"}".into(),
        "{\"content\": \"\\u0000\"}".into(),
        "{\"content\": \"x\", \"title\": \"a\\u0000\"}".into(),
        "{\"content\": \"x\", \"tags\": [\"\\u0000\"]}".into(),
        "{\"content\": \"x\", \"entry_date\": \"-5000-01-01\"}".into(),
        "{\"content\": \"x\", \"entry_date\": \"+262142-12-31\"}".into(),
        "{\"content\": \"x\", \"entry_date\": \"99999-01-01\"}".into(),
        "{\"content\": \"x\", \"entry_date\": \"0000-00-00\"}".into(),
        "{\"content\": \"x\", \"mood\": 1e400}".into(),
        "{\"content\": 1e400}".into(),
        "{\"content\": 18446744073709551616}".into(),
        "{\"content\": \"x\", \"tags\": [[[[[]]]]]}".into(),
        deep.clone(),
        deep_field,
        "{\"content\": \"\\udc00\"}".into(),
        "{\"\\u0000\": 1}".into(),
        format!("{{\"content\": \"{}\"}}", "x".repeat(60_000)),
        format!(
            "{{\"content\": \"x\", \"tags\": [{}]}}",
            vec!["\"t\""; 5000].join(",")
        ),
    ];
    bodies.extend(["null", "[]", "{}", "1", "\"s\"", "{\"content\": {}}"].map(str::to_owned));

    let mut checked = 0;
    let mut check = async |response: Response, case: &str| {
        let status = response.status();
        assert!(status.is_client_error(), "{case}: {status}");
        let content_type = content_type(&response);
        assert_eq!(content_type, "application/problem+json", "{case}: {status}");
        let problem: Value = response.json().await.expect("problem JSON");
        assert_eq!(problem["status"], status.as_u16(), "{case}");
        checked += 1;
    };
    for body in &bodies {
        let short: String = body.chars().take(60).collect();
        for (method, path) in [
            (Method::POST, "/api/v1/entries"),
            (Method::PATCH, entry.as_str()),
        ] {
            for content_type in [Some("application/json"), Some("text/plain"), None] {
                let response = send_raw(
                    &app,
                    Some(&user),
                    method.clone(),
                    path,
                    content_type,
                    body.clone(),
                )
                .await;
                check(
                    response,
                    &format!("{method} {path} {content_type:?} {short:?}"),
                )
                .await;
            }
        }
    }

    use base64::Engine as _;
    let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let long = "x".repeat(5000);
    let queries = [
        "limit=0".to_owned(),
        "limit=-9223372036854775808".into(),
        "limit=9223372036854775807".into(),
        "limit=%00".into(),
        "cursor=%00".into(),
        "cursor=%FF%FE".into(),
        format!("cursor={long}"),
        format!("cursor={}", b64(&format!("-5000-01-01|{id}"))),
        format!("cursor={}", b64(&format!("+262142-12-31|{id}"))),
        format!("cursor={}", b64(&format!("2026-01-01|{id}\u{0}"))),
        "from=-5000-01-01".into(),
        "from=+262142-12-31".into(),
        "to=0000-00-00".into(),
        "from=2026-01-01&to=2025-01-01".into(),
        "mood=%00".into(),
        "q=%00".into(),
        "tag=%00".into(),
        format!("q={long}"),
        format!("tag={long}"),
        "q".into(),
        "limit".into(),
        "=&=&&".into(),
        "limit[]=1".into(),
        "mood[]=good".into(),
        "%FF=1".into(),
    ];
    for query in &queries {
        let response = app.list_entries(&user, &format!("?{query}")).await;
        let short: String = query.chars().take(60).collect();
        check(response, &format!("GET ?{short}")).await;
    }

    for path in [
        "/api/v1/entries/%00",
        "/api/v1/entries/%FF",
        "/api/v1/entries/00000000-0000-0000-0000-000000000000x",
        "/api/v1/entries/%7B00000000-0000-0000-0000-000000000000",
    ] {
        for method in [Method::GET, Method::DELETE, Method::PUT] {
            let response = app
                .as_user(&user, method.clone(), path)
                .send()
                .await
                .expect("send");
            check(response, &format!("{method} {path}")).await;
        }
    }

    for if_match in [
        "garbage",
        "\"",
        "W/",
        "\"99999999999999999999\"",
        "\"-1\"",
        "\"1\"\"2\"",
    ] {
        let response = app
            .as_user(&user, Method::PATCH, &entry)
            .header("if-match", if_match)
            .json(&json!({"content": "y"}))
            .send()
            .await
            .expect("patch");
        check(response, &format!("If-Match {if_match:?}")).await;
    }
    let expected = bodies.len() * 2 * 3 + queries.len() + 4 * 3 + 6;
    assert_eq!(checked, expected, "not every case was checked");

    // The entry survived all of it unchanged.
    let response = app
        .as_user(&user, Method::GET, &entry)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::OK);
    let after: Value = response.json().await.expect("JSON");
    assert_eq!(
        (after["content"].as_str(), after["version"].as_i64()),
        (Some("x"), Some(1))
    );
}
