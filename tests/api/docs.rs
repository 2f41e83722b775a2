//! The generated OpenAPI document and the interactive docs page.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::content_type;
use crate::support::in_process::InProcess;

#[tokio::test]
async fn openapi_json_is_openapi_3_1_and_documents_every_contract_route() {
    let app = InProcess::new(&[]);
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
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/auth/password-reset", "post"),
        ("/api/v1/auth/password-reset/confirm", "post"),
        ("/api/v1/users/me", "get"),
        ("/api/v1/users/me", "patch"),
        ("/api/v1/users/me", "delete"),
        ("/api/v1/users/me/password", "post"),
        ("/api/v1/users/me/export", "get"),
        ("/api/v1/users/me/sessions", "get"),
        ("/api/v1/users/me/sessions/{id}", "delete"),
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
    let app = InProcess::new(&[]);
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

/// The policy `/docs` is served with. Pinned: loosening it is a deliberate change, and tightening
/// it needs a look in a real browser first (the README says how).
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The insides of every `<name ...>` tag of `html`.
fn tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    html.split(&format!("<{name}"))
        .skip(1)
        .filter_map(|rest| rest.split_once('>').map(|(tag, _)| tag))
        .collect()
}

/// The value of `name="..."` in a tag.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    tag.split(&format!(" {name}=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
}

/// A path on this origin, as the docs page refers to its own files (`./x.js`, `x.css`).
fn same_origin_file(reference: &str) -> Option<String> {
    let local = !reference.contains(':') && !reference.starts_with("//");
    local.then(|| format!("/docs/{}", reference.trim_start_matches("./")))
}

#[tokio::test]
async fn the_docs_page_needs_nothing_its_content_security_policy_forbids() {
    let app = InProcess::new(&[]);
    let page = app.get("/docs/").await;
    assert_eq!(page.status(), StatusCode::OK);
    let header = |name: &str| {
        page.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("content-security-policy").as_deref(), Some(DOCS_CSP));
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    let html = page.text().await.expect("the page");

    // script-src 'self' without hashes: only script files of this origin, no inline code.
    let scripts = tags(&html, "script");
    assert!(!scripts.is_empty(), "{html}");
    for (tag, after) in scripts.iter().zip(html.split("<script").skip(1)) {
        let src = attribute(tag, "src").unwrap_or_else(|| panic!("inline script: {tag}"));
        let body = after.split_once('>').map_or("", |(_, b)| b);
        assert!(
            body.split("</script>")
                .next()
                .is_some_and(|b| b.trim().is_empty())
        );
        let path = same_origin_file(src).unwrap_or_else(|| panic!("script from elsewhere: {src}"));
        let file = app.get(&path).await;
        assert_eq!(file.status(), StatusCode::OK, "{src}");
        assert!(content_type(&file).contains("javascript"), "{src}");
    }
    let lowered = html.to_ascii_lowercase();
    for forbidden in [
        " onload=",
        " onclick=",
        " onerror=",
        "javascript:",
        "<iframe",
        "<object",
    ] {
        assert!(!lowered.contains(forbidden), "{forbidden} in {html}");
    }

    // style-src 'self' and img-src 'self' data: for stylesheets and icons, font-src not at all.
    let mut stylesheets = Vec::new();
    for tag in tags(&html, "link") {
        let href = attribute(tag, "href").unwrap_or_else(|| panic!("no href: {tag}"));
        let path = same_origin_file(href).unwrap_or_else(|| panic!("link to elsewhere: {href}"));
        let file = app.get(&path).await;
        assert_eq!(file.status(), StatusCode::OK, "{href}");
        if attribute(tag, "rel") == Some("stylesheet") {
            stylesheets.push(file.text().await.expect("CSS"));
        }
    }
    assert!(!stylesheets.is_empty(), "{html}");
    for css in &stylesheets {
        assert!(!css.contains("@import") && !css.contains("@font-face"));
        for reference in css.split("url(").skip(1) {
            let reference = reference.trim_start_matches(['"', '\'']);
            assert!(
                reference.starts_with("data:image/") || same_origin_file(reference).is_some(),
                "a stylesheet loads {}",
                &reference[..reference.len().min(60)]
            );
        }
    }

    // connect-src 'self': the document comes from this origin; and no online-validator badge,
    // which would load an image from validator.swagger.io on any host but localhost.
    let initializer = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .expect("JS");
    assert!(
        initializer.contains(r#""url": "/openapi.json""#),
        "{initializer}"
    );
    assert!(
        initializer.contains(r#""validatorUrl": "none""#),
        "{initializer}"
    );
}
