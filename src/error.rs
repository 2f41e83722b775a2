//! The one error type of the API and its rendering as RFC 9457 problem details.
//!
//! Every failure a handler or extractor can meet becomes an [`ApiError`]; its single
//! `IntoResponse` is the only place that decides status codes, headers and problem bodies.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

pub(crate) type Result<T, E = ApiError> = std::result::Result<T, E>;

pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid input field and what is wrong with it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct FieldError {
    /// Dotted path of the offending field (`content`, `tags[2]`); `body` when the whole body is at fault.
    pub(crate) field: String,
    pub(crate) message: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// RFC 9457 problem details, as every error response carries them.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Problem {
    /// A URN naming the kind of problem; stable, for clients to branch on.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) title: String,
    pub(crate) status: u16,
    pub(crate) detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{}", summary(.0))]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("missing, expired or invalid access token")]
    Unauthorized,
    #[error("email or password is wrong")]
    InvalidCredentials,
    #[error("the refresh token is unknown, expired, spent or revoked; log in again")]
    InvalidRefreshToken,
    #[error("no such resource")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// Carries the version the entry has now, sent as the answer's `ETag`.
    #[error("the entry has changed since the version given in If-Match")]
    PreconditionFailed { current_version: i32 },
    #[error("the request body is larger than this service accepts")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many attempts from here; try again after the time Retry-After gives")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(&'static str),
    /// A feature this deployment has not set up: 503 like [`Self::Unavailable`], but retrying
    /// will not help, so no `Retry-After`.
    #[error("{0}")]
    NotConfigured(&'static str),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// A validation error's `detail`, readable on its own: "limit must be a whole number between 1 and
/// 100", the first few fields in full and a count of the rest; `errors` lists every one.
fn summary(errors: &[FieldError]) -> String {
    const SHOWN: usize = 3;
    let mut text = errors
        .iter()
        .take(SHOWN)
        .map(|e| format!("{} {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    if errors.len() > SHOWN {
        text.push_str(&format!(" (and {} more)", errors.len() - SHOWN));
    }
    if text.is_empty() {
        "the request has invalid fields".into()
    } else {
        text
    }
}

impl ApiError {
    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::InvalidCredentials | Self::InvalidRefreshToken => {
                StatusCode::UNAUTHORIZED
            }
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::NotConfigured(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation",
            Self::BadRequest(_) => "bad-request",
            Self::Unauthorized => "unauthorized",
            Self::InvalidCredentials => "invalid-credentials",
            Self::InvalidRefreshToken => "invalid-refresh-token",
            Self::NotFound => "not-found",
            Self::Conflict(_) => "conflict",
            Self::PreconditionFailed { .. } => "precondition-failed",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::RateLimited { .. } => "rate-limited",
            Self::Unavailable(_) => "unavailable",
            Self::NotConfigured(_) => "not-configured",
            Self::Database(_) | Self::Internal(_) => "internal",
        }
    }
}

/// Maps the violation of a named constraint where the statement runs: the caller knows what its
/// statement's constraints mean, so this module never learns the schema.
pub(crate) trait ResultExt<T> {
    fn on_constraint(self, name: &str, answer: impl FnOnce() -> ApiError) -> Result<T>;
}

impl<T> ResultExt<T> for std::result::Result<T, sqlx::Error> {
    fn on_constraint(self, name: &str, answer: impl FnOnce() -> ApiError) -> Result<T> {
        self.map_err(|err| match &err {
            sqlx::Error::Database(db) if db.constraint() == Some(name) => answer(),
            _ => err.into(),
        })
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &err {
            E::PoolTimedOut => Self::Unavailable("no database connection is free; retry shortly"),
            E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => {
                Self::Unavailable("the database is unreachable; retry shortly")
            }
            E::Database(db) => match (db.constraint(), db.code().as_deref()) {
                // 22021: text PostgreSQL cannot store (a NUL); the validators should have said so.
                (_, Some("22021")) => Self::field("body", "text must not contain NUL characters"),
                // 42P01 undefined_table: the schema is not migrated yet (readiness says so too).
                (_, Some("42P01")) => {
                    Self::Unavailable("the database schema is not ready; retry shortly")
                }
                // 57014 query_canceled (statement timeout), 57P01..57P03 the server is going away.
                (_, Some("57014")) => {
                    Self::Unavailable("the database took too long; retry shortly")
                }
                (_, Some("57P01" | "57P02" | "57P03")) => {
                    Self::Unavailable("the database is restarting; retry shortly")
                }
                _ => Self::Database(err),
            },
            _ => Self::Database(err),
        }
    }
}

/// Renders a problem body; shared with the middleware that turns bare framework errors into problems.
pub(crate) fn problem_response(
    status: StatusCode,
    kind: &str,
    detail: String,
    errors: Vec<FieldError>,
) -> Response {
    let problem = Problem {
        kind: format!("urn:echodiary:problem:{kind}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        errors,
    };
    let mut response = (status, axum::Json(problem)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// Why a 5xx answer was given, for the log and never for the client. It rides in the response's
/// extensions to the access log middleware, which writes it once with the request's id and route:
/// the error itself knows nothing about requests or logging.
#[derive(Clone, Debug)]
pub(crate) struct ErrorCause {
    /// `true` for a failure of ours (logged as an error); `false` for a dependency being
    /// unavailable (a warning: the service answered as designed).
    pub(crate) is_failure: bool,
    pub(crate) message: &'static str,
    pub(crate) detail: String,
}

impl ErrorCause {
    fn of(error: &ApiError) -> Self {
        match error {
            ApiError::Database(err) => Self {
                is_failure: true,
                message: "database error",
                detail: err.to_string(),
            },
            ApiError::Internal(err) => Self {
                is_failure: true,
                message: "internal error",
                detail: format!("{err:#}"),
            },
            other => Self {
                is_failure: false,
                message: "service unavailable",
                detail: other.to_string(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let kind = self.kind();
        let retry_after = match &self {
            Self::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        // Every 401, a refused refresh token included: RFC 9110 asks for the scheme on each.
        let unauthorized = status == StatusCode::UNAUTHORIZED;
        let etag = match &self {
            Self::PreconditionFailed { current_version } => {
                HeaderValue::from_str(&format!("\"{current_version}\"")).ok()
            }
            _ => None,
        };
        let not_configured = matches!(self, Self::NotConfigured(_));
        let cause = status.is_server_error().then(|| ErrorCause::of(&self));
        let detail = self.to_string();
        let errors = match self {
            Self::Validation(errors) => errors,
            _ => Vec::new(),
        };
        let mut response = problem_response(status, kind, detail, errors);
        if let Some(cause) = cause {
            response.extensions_mut().insert(cause);
        }
        let headers = response.headers_mut();
        if unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if not_configured {
            headers.remove(header::RETRY_AFTER);
        }
        if let Some(etag) = etag {
            headers.insert(header::ETAG, etag);
        }
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}
