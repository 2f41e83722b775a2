//! EchoDiary: a private diary API on PostgreSQL.
//!
//! The library builds the application; `main.rs` only parses the command line. Data flows one
//! way: router -> handler -> repository (SQL) -> PostgreSQL. Handlers never build SQL and
//! repository functions never see HTTP types.

mod access_log;
mod account;
pub mod config;
pub mod db;
pub mod server;
pub mod telemetry;

mod auth;
mod email;
mod entries;
mod error;
mod extract;
mod health;
mod http;
mod memory;
mod monitoring;
mod openapi;
mod passwords;
mod revocations;
mod state;
mod tokens;
mod users;

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::{self as swagger_ui, SwaggerUi};

pub use server::{Listeners, run, shutdown_signal};
pub use state::{AppState, Lifecycle};

/// Build identity, set at compile time by the image build (`ECHODIARY_VERSION`, `ECHODIARY_GIT_SHA`
/// build arguments); a plain `cargo build` reports the crate version and `unknown`.
pub const VERSION: &str = match option_env!("ECHODIARY_VERSION") {
    Some(version) => version,
    None => env!("CARGO_PKG_VERSION"),
};
pub const GIT_SHA: &str = match option_env!("ECHODIARY_GIT_SHA") {
    Some(sha) => sha,
    None => "unknown",
};

/// The public application: API routes, health, `/openapi.json` and `/docs`, with the full
/// middleware stack. The whole route table is this one expression.
pub fn router(state: AppState) -> Router {
    let (routes, api) = documented_routes().split_for_parts();
    // The document is served as the bytes made here, not kept as utoipa's tree for Swagger UI to
    // serialize on every request: building it leaves megabytes of scratch (returned by the
    // server's start-up), and keeping the tree kept part of it (idle RSS 16 MiB instead of 13;
    // bench/README.md).
    let document = Bytes::from(serde_json::to_vec(&openapi::exact(api)).unwrap_or_default());
    let document =
        get(move || std::future::ready(([(CONTENT_TYPE, "application/json")], document.clone())));
    let settings = state.settings.server.clone();
    // No online-validator badge: on any host but localhost Swagger UI would load an image from
    // validator.swagger.io, telling a third party where the API lives, and the docs CSP blocks it.
    let docs = SwaggerUi::new("/docs")
        .config(swagger_ui::Config::new(["/openapi.json"]).validator_url("none"));
    let docs = Router::from(docs).route("/openapi.json", document);
    let app = http::private(routes.with_state(state)).merge(http::docs(docs));
    http::public_layers(app, &settings)
}

/// The ops application: `/metrics` and the health routes, for the monitoring network only.
pub fn ops_router(state: AppState) -> Router {
    let (health, _) = health::router().split_for_parts();
    let settings = state.settings.server.clone();
    let app = health
        .route("/metrics", get(health::metrics))
        .with_state(state);
    http::ops_layers(app, &settings)
}

/// The OpenAPI document as served at `/openapi.json`.
pub fn openapi_json() -> String {
    openapi::exact(documented_routes().into_openapi())
        .to_pretty_json()
        .unwrap_or_default()
}

/// Every documented route; the OpenAPI document is generated from exactly these handlers.
fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(auth::router())
        .merge(users::router())
        .merge(account::router())
        .merge(entries::router())
        .merge(health::router())
}
