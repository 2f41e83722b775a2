//! The public application in-process: each request goes through `Router::oneshot`, with no
//! socket and no database behind it. For what the router and its middleware alone decide (the
//! OpenAPI document, the docs page, CORS, headers, answers given before any query); sockets stay
//! for the drills, the timeouts and anything that needs a peer address or a real connection.

use axum::body::Body;
use reqwest::{Method, RequestBuilder, Response};
use tower::ServiceExt as _;

use super::{init_logs, test_settings};

/// Where the in-process app's pool points: a port nothing listens on. A request that reached the
/// database would answer 503, so a test that needs one cannot pass here by accident.
const NO_DATABASE: &str = "postgres://nobody@127.0.0.1:1/none";

pub(crate) struct InProcess {
    router: axum::Router,
    /// Builds requests only; they are never sent over the network.
    client: reqwest::Client,
}

impl InProcess {
    /// The application with extra `ECHODIARY__...` settings.
    pub(crate) fn new(overrides: &[(&str, &str)]) -> Self {
        init_logs();
        let settings = test_settings(NO_DATABASE, overrides);
        let pool = echodiary::db::connect_lazy(NO_DATABASE, &settings.database).expect("a pool");
        let state = echodiary::AppState::new(settings, pool).expect("valid app state");
        Self {
            router: echodiary::router(state),
            client: reqwest::Client::new(),
        }
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("http://in-process.test{path}"))
    }

    pub(crate) async fn get(&self, path: &str) -> Response {
        self.send(self.request(Method::GET, path)).await
    }

    /// Runs the request through the router and hands back the answer as a client would see it.
    pub(crate) async fn send(&self, request: RequestBuilder) -> Response {
        let request: axum::http::Request<reqwest::Body> = request
            .build()
            .expect("a valid request")
            .try_into()
            .expect("an HTTP request");
        let (parts, body) = request.into_parts();
        let bytes = body.as_bytes().map(<[u8]>::to_vec).unwrap_or_default();
        let request = axum::http::Request::from_parts(parts, Body::from(bytes));
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router never fails");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("the whole body");
        Response::from(axum::http::Response::from_parts(parts, bytes))
    }
}
