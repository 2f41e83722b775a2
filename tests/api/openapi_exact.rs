//! The OpenAPI document is as exact as the API: what is always sent is `required`, every header
//! the service sends is declared where it is sent, and the server is relative, so clients
//! generated from it need no casts and no edits (tests/api/generated_client.rs builds one).

use serde_json::Value;

use crate::support::in_process::InProcess;

async fn document() -> Value {
    let app = InProcess::new(&[]);
    let doc: Value = app.get("/openapi.json").await.json().await.expect("JSON");
    if let Ok(path) = std::env::var("ECHODIARY_DUMP_OPENAPI") {
        std::fs::write(path, serde_json::to_string_pretty(&doc).expect("JSON")).expect("dump");
    }
    doc
}

/// Every (path, method, status, response) of the document.
fn responses(doc: &Value) -> Vec<(String, String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                out.push((path.clone(), method.clone(), status.clone(), response));
            }
        }
    }
    out
}

fn required(doc: &Value, schema: &str) -> Vec<String> {
    doc["components"]["schemas"][schema]["required"]
        .as_array()
        .unwrap_or_else(|| panic!("{schema} has a required list"))
        .iter()
        .map(|name| name.as_str().expect("a name").to_owned())
        .collect()
}

#[tokio::test]
async fn fields_that_are_always_sent_are_required_even_when_null() {
    let doc = document().await;
    for (schema, fields) in [
        (
            "Entry",
            &["title", "mood", "content", "tags", "version"][..],
        ),
        ("EntryPage", &["items", "next_cursor"]),
        ("User", &["display_name"]),
        ("SessionView", &["user_agent"]),
    ] {
        let listed = required(&doc, schema);
        for field in fields {
            assert!(
                listed.iter().any(|l| l == field),
                "{schema}.{field}: {listed:?}"
            );
        }
    }
}

#[tokio::test]
async fn every_answer_declares_the_headers_it_carries() {
    let doc = document().await;
    let found = responses(&doc);
    assert!(found.len() > 40, "{} responses", found.len());
    for (path, method, status, response) in found {
        let headers = &response["headers"];
        let at = format!("{method} {path} {status}");
        assert!(
            headers["x-request-id"]["schema"]["pattern"].is_string(),
            "{at}"
        );
        match status.as_str() {
            "401" => assert_eq!(
                headers["WWW-Authenticate"]["schema"]["enum"][0], "Bearer",
                "{at}"
            ),
            "429" | "503" => assert!(headers["Retry-After"].is_object(), "{at}"),
            _ => {}
        }
        if let Some(etag) = headers.get("ETag") {
            assert_eq!(etag["schema"]["pattern"], r#"^"[0-9]+"$"#, "{at}");
        }
    }
    let get_entry = &doc["paths"]["/api/v1/entries/{id}"]["get"];
    assert!(get_entry["responses"]["304"]["headers"]["ETag"].is_object());
    let patch_entry = &doc["paths"]["/api/v1/entries/{id}"]["patch"];
    assert!(patch_entry["responses"]["412"]["headers"]["ETag"].is_object());
    let conditional: Vec<&str> = [get_entry, patch_entry]
        .iter()
        .flat_map(|op| op["parameters"].as_array().into_iter().flatten())
        .filter_map(|p| p["name"].as_str())
        .filter(|name| name.starts_with("If-"))
        .collect();
    assert_eq!(conditional, ["If-None-Match", "If-Match"]);
}

#[tokio::test]
async fn the_server_is_relative_so_clients_work_behind_any_host() {
    let doc = document().await;
    assert_eq!(doc["servers"][0]["url"], "/");
    assert_eq!(doc["servers"].as_array().map(Vec::len), Some(1));
}
