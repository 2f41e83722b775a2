//! The middleware every public request passes through, in one place so its order is visible.
//!
//! Outermost first: an unusable caller's request id dropped -> `nosniff` on the answer -> request
//! id (taken or made) -> id echoed on the response -> RED metrics and the access log line (`access_log`) -> CORS (inside the log, so preflights are
//! counted; outside the rest, so error answers carry CORS headers too) -> bare framework errors
//! rewritten as problems -> panic -> 500 -> deadline -> body size limit -> the route, where the API
//! and health routes add `no-store` ([`private`]) and the docs their CSP ([`docs`]). The ops
//! listener has the same stack without CORS, and writes no access line.

mod cors;
mod headers;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::Response;
use axum::{BoxError, Router};
use tower::ServiceBuilder;
use tower::util::{MapRequestLayer, MapResponseLayer, option_layer};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::CorsLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

use crate::access_log::{Listener, note_route, observe};
use crate::config::ServerSettings;
use crate::error::{ApiError, PROBLEM_JSON, problem_response};

/// Wraps the public routes in the full stack, outermost first.
pub(crate) fn public_layers(router: Router, settings: &ServerSettings) -> Router {
    let cors = cors::layer(&settings.cors_allowed_origins);
    layers(router, settings, Listener::Public, cors)
}

/// The ops listener is scraped and probed every few seconds: the same stack without CORS, and
/// [`Listener::Ops`] keeps it out of the access log and the request metrics.
pub(crate) fn ops_layers(router: Router, settings: &ServerSettings) -> Router {
    layers(router, settings, Listener::Ops, None)
}

/// Routes whose answers carry account data or diary text: never stored by a browser or proxy.
pub(crate) fn private(routes: Router) -> Router {
    routes.layer(headers::no_store())
}

/// The docs page: only its own bundled files may run or load.
pub(crate) fn docs(routes: Router) -> Router {
    routes.layer(headers::docs_csp())
}

/// The stack of both listeners, around the router as one service instead of each route
/// (`Router::layer`): axum boxes every layer it applies to a route, and a boxed route clones its
/// whole inner chain on every call, so a dozen such layers cost each request dozens of
/// allocations and copies (~5% of get-by-id's service CPU; bench/README.md, "Where the time
/// goes"). Here the layers are one concrete service, cloned per request for a few reference
/// counts. Only the route template has to be learned inside the router, after routing:
/// [`crate::access_log::note_route`] does that.
fn layers(
    router: Router,
    settings: &ServerSettings,
    listener: Listener,
    cors: Option<CorsLayer>,
) -> Router {
    let cors_only_for_allowed = cors
        .is_some()
        .then(|| MapResponseLayer::new(cors::only_for_allowed_origins));
    let stack = ServiceBuilder::new()
        .layer(MapRequestLayer::new(headers::drop_unusable_request_id))
        .layer(headers::nosniff())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(middleware::from_fn_with_state(listener, observe))
        .layer(option_layer(cors_only_for_allowed))
        .layer(option_layer(cors))
        .layer(MapResponseLayer::new(problem_for_bare_errors))
        .layer(CatchPanicLayer::custom(panic_problem))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout(),
        ))
        .layer(DefaultBodyLimit::max(settings.body_limit_bytes))
        .service(
            router
                .fallback(not_found)
                .layer(MapRequestLayer::new(note_route)),
        );
    Router::new().fallback_service(stack)
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

fn panic_problem(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    // The payload may quote request data, so only the fact is logged.
    tracing::error!("request handler panicked");
    problem_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error".into(),
        Vec::new(),
    )
}

/// Framework-made errors (unknown route, wrong method, deadline, body limit) arrive with a plain
/// or empty body; clients get the same problem+json as from the handlers. JSON bodies pass
/// through: the health routes answer 503 with their own report.
fn problem_for_bare_errors<B>(response: Response<B>) -> Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let response = response.map(Body::new);
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with(PROBLEM_JSON) || content_type.starts_with("application/json") {
        return response;
    }
    let (kind, detail) = match status {
        StatusCode::NOT_FOUND => ("not-found", "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method-not-allowed", "this route does not take that method")
        }
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload-too-large",
            "the request body is larger than this service accepts",
        ),
        StatusCode::SERVICE_UNAVAILABLE => {
            ("unavailable", "the request took too long; retry shortly")
        }
        s if s.is_server_error() => ("internal", "internal error"),
        _ => ("bad-request", "the request could not be processed"),
    };
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut problem = problem_response(status, kind, detail.into(), Vec::new());
    if let Some(allow) = allow {
        problem.headers_mut().insert(header::ALLOW, allow);
    }
    problem
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use axum::extract::Request;
    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;

    fn settings() -> ServerSettings {
        ServerSettings {
            request_timeout_ms: 100,
            ..ServerSettings::default()
        }
    }

    async fn call(router: Router, path: &str) -> (StatusCode, String, String) {
        let request = Request::builder()
            .uri(path)
            .body(Body::empty())
            .expect("a request");
        let response = router.oneshot(request).await.expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_an_opaque_500_problem() {
        async fn boom() -> &'static str {
            panic!("secret detail that must not reach the client")
        }
        let router = public_layers(Router::new().route("/boom", get(boom)), &settings());
        let (status, content_type, body) = call(router, "/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(content_type, PROBLEM_JSON);
        assert!(!body.contains("secret detail"), "{body}");
    }

    #[tokio::test]
    async fn a_request_past_its_deadline_answers_503_problem() {
        async fn slow() -> &'static str {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "too late"
        }
        let router = public_layers(Router::new().route("/slow", get(slow)), &settings());
        let started = std::time::Instant::now();
        let (status, content_type, _) = call(router, "/slow").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(content_type, PROBLEM_JSON);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn json_error_bodies_from_handlers_pass_through_untouched() {
        async fn not_ready() -> (StatusCode, axum::Json<serde_json::Value>) {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "unreachable"})),
            )
        }
        let router = ops_layers(Router::new().route("/ready", get(not_ready)), &settings());
        let (status, content_type, body) = call(router, "/ready").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(content_type, "application/json");
        assert_eq!(body, r#"{"status":"unreachable"}"#);
    }
}
