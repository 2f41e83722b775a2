//! The one access log line per request, and the request's identity for any other line it causes.
//!
//! A tracing span per request (what `tower_http::trace` does) costs a span allocation, its fields
//! formatted up front, an enter and exit on every poll, and every event re-reading the span's
//! fields: a large share of a get-by-id request (measured in bench/README.md, "Where the time goes"). Instead the request's
//! id and route live in a task-local for the request's duration, the access line is one event
//! with flat fields, and the few lines written while handling a request (errors, panics) add the
//! same fields from [`with_current`].

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ErrorCause;
use crate::monitoring::{self, InFlight};

/// Who a request is, for every log line about it.
#[derive(Debug)]
pub(crate) struct RequestContext {
    pub(crate) method: &'static str,
    /// The matched route template (never the raw path, which holds ids); set once the router has
    /// matched one ([`note_route`]), unset for requests no route took.
    route: OnceLock<MatchedPath>,
    /// From `x-request-id`, set by the outer layer (taken from the caller or generated).
    pub(crate) request_id: String,
}

impl RequestContext {
    fn of(request: &Request) -> Self {
        let route = OnceLock::new();
        if let Some(path) = request.extensions().get::<MatchedPath>() {
            let _ = route.set(path.clone());
        }
        Self {
            method: monitoring::method_label(request.method()),
            route,
            request_id: request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        }
    }

    /// The matched route template, or `unmatched`.
    pub(crate) fn route(&self) -> &str {
        self.route.get().map_or("unmatched", MatchedPath::as_str)
    }
}

/// Inside the router, once a route matched: tells the request's context (made by [`observe`]
/// outside the router, before routing) which route template it is.
pub(crate) fn note_route(request: Request) -> Request {
    if let Some(path) = request.extensions().get::<MatchedPath>() {
        let _ = REQUEST.try_with(|context| context.route.set(path.clone()));
    }
    request
}

tokio::task_local! {
    static REQUEST: Arc<RequestContext>;
}

/// The request id and route of the request the current task is handling (empty outside one), for
/// a log line written on the way, e.g. `with_current(|id, route| tracing::error!(request_id = id,
/// route, "..."))`.
pub(crate) fn with_current<T>(log: impl FnOnce(&str, &str) -> T) -> T {
    let request = REQUEST.try_with(Arc::clone).ok();
    match request.as_deref() {
        Some(r) => log(&r.request_id, r.route()),
        None => log("", ""),
    }
}

/// Which listener a request came in on.
#[derive(Clone, Copy)]
pub(crate) enum Listener {
    /// Metrics and the access log line for every request.
    Public,
    /// Probes and scrapes every few seconds, which would drown the log: only the cause of a 5xx
    /// answer is written.
    Ops,
}

/// Runs the request with its context in scope (every line it causes names it), then writes what
/// `listener` asks for.
pub(crate) async fn observe(
    State(listener): State<Listener>,
    request: Request,
    next: Next,
) -> Response {
    let context = Arc::new(RequestContext::of(&request));
    let public = matches!(listener, Listener::Public);
    let in_flight = public.then(|| InFlight::start(context.method));
    let started = Instant::now();
    let mut response = REQUEST.scope(Arc::clone(&context), next.run(request)).await;
    drop(in_flight);
    log_cause(&mut response, &context.request_id, context.route());
    if !public {
        return response;
    }
    let latency = started.elapsed();
    monitoring::record_request(context.method, context.route(), response.status(), latency);
    tracing::info!(
        method = context.method,
        route = context.route(),
        request_id = context.request_id,
        status = response.status().as_u16(),
        latency_ms = (latency.as_secs_f64() * 1e6).round() / 1e3,
        "request finished"
    );
    response
}

/// Writes the cause a 5xx answer carries ([`ErrorCause`], put there by the error's rendering), and
/// takes it out of the response: it never reaches the client.
fn log_cause(response: &mut Response, request_id: &str, route: &str) {
    let Some(cause) = response.extensions_mut().remove::<ErrorCause>() else {
        return;
    };
    if cause.is_failure {
        tracing::error!(request_id, route, error = cause.detail, "{}", cause.message);
    } else {
        tracing::warn!(
            request_id,
            route,
            reason = cause.detail,
            "{}",
            cause.message
        );
    }
}
