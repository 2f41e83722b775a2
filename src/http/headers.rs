//! Headers every answer carries for the browser's and the caches' sake, and the request id a
//! caller may choose.

//! Each is a plain tower layer rather than a `from_fn` middleware: every request passes them, and a
//! boxed middleware per request costs get-by-id measurable throughput (bench/README.md, "Where the time goes").

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

const REQUEST_ID: &str = "x-request-id";
/// The longest request id taken from a caller; a longer one gets a fresh id.
const MAX_REQUEST_ID_LEN: usize = 64;

/// For `/docs`: the bundled Swagger UI loads its scripts, styles and `/openapi.json` from this
/// origin and nowhere else, and has no inline script. Two allowances, checked in headless Chromium
/// (no CSP violation with every operation expanded): `data:` images, which its stylesheet draws
/// icons from, and inline styles, for the `<style>` element in its top bar's SVG logo (a hash
/// would break silently on the next Swagger UI release; the page shows only our own document).
/// Its React `style` props go through the CSSOM, which CSP does not restrict.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Every answer: nothing is for a browser to sniff into another type.
pub(super) fn nosniff() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    )
}

/// The API's and health's answers: account data and diary text, the login's tokens, errors that
/// name an account's state. None is for a cache to keep.
pub(super) fn no_store() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

/// The docs page and its files.
pub(super) fn docs_csp() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    )
}

/// A caller's `x-request-id` is echoed on the answer and written into every log line of the
/// request, so only a short plain token is taken: 1 to 64 of `[A-Za-z0-9._-]`. Anything else is
/// dropped here, and the next layer makes a fresh id in its place.
pub(super) fn drop_unusable_request_id(mut request: Request) -> Request {
    let usable = request.headers().get(REQUEST_ID).is_none_or(|id| {
        let id = id.as_bytes();
        (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
            && id
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    });
    if !usable {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}
