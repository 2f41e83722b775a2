//! The OpenAPI document, assembled from the handlers' own annotations, and the `/docs` page.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
