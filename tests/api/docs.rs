//! The generated OpenAPI document and the interactive docs page.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::TestApp;

#[tokio::test]
async fn openapi_json_is_openapi_3_1_and_documents_every_contract_route() {
    let app = TestApp::spawn().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.expect("JSON");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let expected = [
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/users/me", "get"),
        ("/api/v1/entries", "post"),
        ("/api/v1/entries", "get"),
        ("/api/v1/entries/{id}", "get"),
        ("/api/v1/entries/{id}", "patch"),
        ("/api/v1/entries/{id}", "delete"),
        ("/health", "get"),
        ("/health/live", "get"),
        ("/health/ready", "get"),
    ];
    for (path, method) in expected {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert!(
            operation["responses"].is_object(),
            "{method} {path} has no responses"
        );
    }
    for schema in [
        "Entry",
        "EntryPage",
        "NewEntry",
        "EntryPatch",
        "User",
        "Problem",
        "TokenResponse",
        "Mood",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Every response status the handlers can produce for an entry is declared.
    let patch = &doc["paths"]["/api/v1/entries/{id}"]["patch"]["responses"];
    for status in ["200", "400", "401", "404", "412", "415", "422"] {
        assert!(patch[status].is_object(), "PATCH lacks {status}");
    }
}

#[tokio::test]
async fn the_docs_page_is_served_without_anything_from_the_internet() {
    let app = TestApp::spawn().await;
    let page = app.get("/docs/").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("HTML");
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "the page loads assets from elsewhere: {html}"
    );
    let initializer = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .expect("JS");
    assert!(initializer.contains("/openapi.json"), "{initializer}");
    let bundle = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status(), StatusCode::OK);
    assert!(
        bundle.bytes().await.expect("bundle").len() > 100_000,
        "the bundle is vendored"
    );
}
