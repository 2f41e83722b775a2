//! The OpenAPI document, assembled from the handlers' own annotations, and the `/docs` page.

use serde_json::json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use crate::error::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "EchoDiary API",
        description = "A private diary: accounts, entries with moods and tags, full-text search. \
                       Errors are RFC 9457 problem details (application/problem+json).",
        license(name = "MIT", identifier = "MIT"),
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration and login"),
        (name = "users", description = "The caller's account"),
        (name = "entries", description = "Diary entries"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub(crate) struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

// Problem responses that many routes share, declared once so each route lists only what is its own.
// Every variant renders the same `Problem` body; the status tells them apart.

/// Answers any route with a JSON body can give for the body itself.
#[derive(IntoResponses)]
#[expect(dead_code, reason = "documentation only: never constructed")]
pub(crate) enum BodyProblems {
    #[response(
        status = 400,
        description = "Malformed JSON (or a malformed header)",
        content_type = "application/problem+json"
    )]
    Malformed(Problem),
    #[response(
        status = 413,
        description = "Body larger than the limit",
        content_type = "application/problem+json"
    )]
    TooLarge(Problem),
    #[response(
        status = 415,
        description = "Body is not JSON",
        content_type = "application/problem+json"
    )]
    NotJson(Problem),
    #[response(
        status = 422,
        description = "Invalid fields; `errors` names each",
        content_type = "application/problem+json"
    )]
    Invalid(Problem),
}

/// Routes that need a bearer token.
#[derive(IntoResponses)]
#[expect(dead_code, reason = "documentation only: never constructed")]
pub(crate) enum Unauthenticated {
    #[response(
        status = 401,
        description = "Missing, expired or invalid token (with `WWW-Authenticate: Bearer`)",
        content_type = "application/problem+json"
    )]
    Unauthorized(Problem),
}

/// Routes that name one entry by id.
#[derive(IntoResponses)]
#[expect(dead_code, reason = "documentation only: never constructed")]
pub(crate) enum EntryLookup {
    #[response(
        status = 404,
        description = "No such entry of the caller's (someone else's looks the same)",
        content_type = "application/problem+json"
    )]
    NotFound(Problem),
    #[response(
        status = 422,
        description = "Invalid input: the id is not a UUID, or invalid fields",
        content_type = "application/problem+json"
    )]
    Invalid(Problem),
}

/// Routes that use the database.
#[derive(IntoResponses)]
#[expect(dead_code, reason = "documentation only: never constructed")]
pub(crate) enum DatabaseBusy {
    #[response(
        status = 503,
        description = "No database connection free in time, the database is unreachable, or (routes that check or hash a password) the hashing queue is full; see `Retry-After`",
        content_type = "application/problem+json"
    )]
    Unavailable(Problem),
}

/// Routes that hash or check a password, which are throttled per client address and account.
#[derive(IntoResponses)]
#[expect(dead_code, reason = "documentation only: never constructed")]
pub(crate) enum Throttled {
    #[response(
        status = 429,
        description = "Too many attempts (failed logins, or registrations from this address); \
                       `Retry-After` says when to try again",
        content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "Seconds until the limit resets"))
    )]
    TooMany(Problem),
}

/// The pattern of a request id the service takes from a caller or makes itself.
const REQUEST_ID_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";
/// An entry's ETag: its version, quoted (strong).
const ETAG_PATTERN: &str = r#"^"[0-9]+"$"#;

/// What the route annotations cannot say, said once for every route so generated clients type
/// the answers exactly: a relative server (a generator keeps working behind any host), the
/// `x-request-id` every answer carries, `Retry-After` on 429 and 503, `WWW-Authenticate` on 401,
/// and the quoted form of `ETag`. Applied to the document after the routes are merged into it.
pub(crate) fn exact(api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let Ok(mut doc) = serde_json::to_value(&api) else {
        return api;
    };
    doc["servers"] = json!([{"url": "/", "description": "The host that serves this document"}]);
    let operations = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter(|operation| operation.get("responses").is_some());
    for operation in operations {
        let Some(responses) = operation["responses"].as_object_mut() else {
            continue;
        };
        for (status, response) in responses.iter_mut() {
            let headers = &mut response["headers"];
            if !headers.is_object() {
                *headers = json!({});
            }
            headers["x-request-id"] = json!({
                "description": "The request's id: the caller's `x-request-id` if usable, else a \
                                new one; every log line of the request carries it",
                "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN},
            });
            match status.as_str() {
                "429" | "503" => {
                    headers["Retry-After"] = json!({
                        "description": "Seconds to wait before retrying (absent on a 503 for a \
                                        feature this deployment has not set up)",
                        "schema": {"type": "integer", "minimum": 1},
                    });
                }
                "401" => {
                    headers["WWW-Authenticate"] = json!({
                        "description": "The scheme to authenticate with",
                        "schema": {"type": "string", "enum": ["Bearer"]},
                    });
                }
                _ => {}
            }
            if headers.get("ETag").is_some() {
                headers["ETag"] = json!({
                    "description": "The entry's version, quoted: send it back in `If-Match` or \
                                    `If-None-Match`",
                    "schema": {"type": "string", "pattern": ETAG_PATTERN},
                });
            }
        }
    }
    serde_json::from_value(doc).unwrap_or(api)
}
