//! The OpenAPI document, assembled from the handlers' own annotations, and the `/docs` page.

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
#[allow(dead_code, reason = "documentation only: never constructed")]
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
#[allow(dead_code, reason = "documentation only: never constructed")]
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
#[allow(dead_code, reason = "documentation only: never constructed")]
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
#[allow(dead_code, reason = "documentation only: never constructed")]
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
#[allow(dead_code, reason = "documentation only: never constructed")]
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
