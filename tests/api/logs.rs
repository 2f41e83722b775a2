//! What `echodiary serve` logs: JSON lines with the request id and route template, and never a
//! secret, a credential, an entry's content or its id, at `debug` as at `info`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::process::{PRODUCTION_SECRET, Service, account};
use crate::support::sensitive;
use crate::support::wait::within;
use crate::support::{admin_url, fresh_database};

#[tokio::test]
async fn logs_are_json_lines_with_request_id_and_route_and_never_carry_secrets_or_content() {
    within(Duration::from_secs(120), async {
        for level in ["debug", "info"] {
            let tag = uuid::Uuid::new_v4().simple().to_string();
            let db_password = format!("db-password-{tag}");
            let email = format!("person-{tag}@example.com");
            let password = format!("user-password-{tag}");
            let wrong_password = format!("wrong-password-{tag}");
            let content = format!("dear diary, secret-content-{tag}");
            let title = format!("secret-title-{tag}");
            let bad_content = format!("broken-json-content-{tag}");
            let request_id = format!("req-{tag}");
            // The helpers record what they send; these the test sends by hand.
            for value in [&wrong_password, &content, &title, &bad_content] {
                sensitive::record(value);
            }

            let plain = fresh_database(&admin_url()).await;
            let mut with_password = url::Url::parse(&plain).expect("a URL");
            with_password
                .set_password(Some(&db_password))
                .expect("a URL that takes a password");
            let service = Service::start_on(
                with_password.as_str(),
                &[
                    ("RUST_LOG", level),
                    ("ECHODIARY__SERVER__SHUTDOWN_GRACE_MS", "0"),
                ],
            )
            .await;

            let token = account(&service, &email, &password).await;
            let created = service
                .client
                .post(service.url("/api/v1/entries"))
                .bearer_auth(&token)
                .header("x-request-id", &request_id)
                .json(&json!({"content": content, "title": title, "tags": ["private"]}))
                .send()
                .await
                .expect("create");
            assert_eq!(created.status(), StatusCode::CREATED);
            assert_eq!(
                created
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok()),
                Some(request_id.as_str())
            );
            let entry: Value = created.json().await.expect("entry");
            let id = entry["id"].as_str().expect("id").to_owned();
            let fetched = service
                .client
                .get(service.url(&format!("/api/v1/entries/{id}")))
                .bearer_auth(&token)
                .send()
                .await
                .expect("get");
            assert_eq!(fetched.status(), StatusCode::OK);
            let failed = service
                .client
                .post(service.url("/api/v1/auth/login"))
                .json(&json!({"email": email, "password": wrong_password}))
                .send()
                .await
                .expect("failed login");
            assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
            let malformed = service
                .client
                .post(service.url("/api/v1/entries"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(format!("{{\"content\": \"{bad_content}\""))
                .send()
                .await
                .expect("malformed");
            assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
            let invalid = service
                .client
                .post(service.url("/api/v1/entries"))
                .bearer_auth(&token)
                .json(&json!({"content": bad_content, "mood": "ecstatic"}))
                .send()
                .await
                .expect("invalid");
            assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);

            let service_streams = service.stop().await;
            let output = format!("{}{}", service_streams.0, service_streams.1);
            let never = [
                PRODUCTION_SECRET.as_str(),
                db_password.as_str(),
                email.as_str(),
                password.as_str(),
                wrong_password.as_str(),
                token.as_str(),
                content.as_str(),
                title.as_str(),
                bad_content.as_str(),
                id.as_str(),
            ];
            for secret in never {
                assert!(
                    !output.contains(secret),
                    "RUST_LOG={level}: the logs carry {secret:?}\n{output}"
                );
            }
            let (stdout, stderr) = service_streams;
            let events: Vec<Value> = stdout
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    serde_json::from_str(l)
                        .unwrap_or_else(|_| panic!("RUST_LOG={level}: not a JSON line: {l}"))
                })
                .collect();
            assert!(stderr.trim().is_empty(), "stderr: {stderr}");
            let requests: Vec<&Value> = events
                .iter()
                .filter(|e| e["message"] == "request finished")
                .collect();
            assert!(requests.len() >= 6, "{level}: {requests:#?}");
            for event in &requests {
                assert!(
                    event["request_id"]
                        .as_str()
                        .is_some_and(|id| !id.is_empty()),
                    "{event}"
                );
                assert!(event["route"].as_str().is_some(), "{event}");
                assert!(event["status"].as_u64().is_some(), "{event}");
            }
            assert!(
                requests
                    .iter()
                    .any(|e| e["route"] == "/api/v1/entries/{id}" && e["method"] == "GET"),
                "{level}: the route template is logged"
            );
            assert!(
                requests
                    .iter()
                    .any(|e| e["request_id"] == request_id.as_str()),
                "{level}: the caller's request id is logged"
            );
        }
    })
    .await;
}
