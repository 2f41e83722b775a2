//! Request extractors that turn every kind of bad input into an [`ApiError`] with per-field detail.
//!
//! axum's own `Json`, `Query` and `Path` rejections are plain text with framework wording; these
//! wrappers keep the one problem+json shape and name the offending field, and run `validator`
//! rules so a handler only ever sees input that satisfies the contract.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::error::{ApiError, FieldError};

mod auth_user;
mod client_addr;
mod phrasing;

pub(crate) use auth_user::AuthUser;
pub(crate) use client_addr::ClientAddr;

/// A JSON body that parsed and passed its validation rules.
pub(crate) struct ValidJson<T>(pub(crate) T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(&req) {
            return Err(ApiError::UnsupportedMediaType(
                "expected Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("the request body could not be read".into())
            }
        })?;
        let value: T = parse_object(&bytes)?;
        value.validate().map_err(validation_error)?;
        Ok(Self(value))
    }
}

/// Parses a request body, which in this API is always one JSON object.
fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde's derived structs also take a positional array (`["text"]` would be an entry),
    // which no client means and which would report errors at paths like `[0]`.
    if bytes.trim_ascii_start().first() == Some(&b'[') {
        well_formed(bytes)?;
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|err| json_error(err, bytes))?;
    // serde_json only rejects bytes after the value (`{...} junk`) when asked to.
    deserializer.end().map_err(|err| syntax_error(&err))?;
    Ok(value)
}

/// `Ok` when the body is well-formed JSON of any shape; otherwise the 400 to answer.
fn well_formed(bytes: &[u8]) -> Result<(), ApiError> {
    // Skipping a value does not decode its strings, so UTF-8 is checked on its own.
    if std::str::from_utf8(bytes).is_err() {
        return Err(ApiError::BadRequest("the body is not valid UTF-8".into()));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map(drop)
        .map_err(|err| syntax_error(&err))
}

fn syntax_error(err: &serde_json::Error) -> ApiError {
    ApiError::BadRequest(phrasing::syntax_message(err))
}

fn has_json_content_type(req: &Request) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.len() > 5
            && essence.to_ascii_lowercase().starts_with("application/")
            && essence.to_ascii_lowercase().ends_with("+json"))
}

/// Syntax errors are 400 (the body is not JSON at all); JSON of the wrong shape is 422 for one field.
fn json_error(err: serde_path_to_error::Error<serde_json::Error>, body: &[u8]) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    use serde_json::error::Category;
    match inner.classify() {
        // serde_json reports some bad values in well-formed JSON as syntax errors (a number
        // where an enum such as `mood` belongs is "expected value"; a lone UTF-16 surrogate
        // escape, which RFC 8259 allows, is "lone leading surrogate"), so only a body that is
        // not JSON at all is a 400; the rest is the fault of the field at `path`.
        Category::Syntax | Category::Eof | Category::Io => match well_formed(body) {
            Ok(()) => {
                let message = "has an invalid type or value".to_owned();
                ApiError::Validation(vec![FieldError::new(field_of(&path, &message), message)])
            }
            Err(malformed) => malformed,
        },
        Category::Data => {
            let message = strip_location(&inner);
            let field = field_of(&path, &message);
            ApiError::Validation(vec![FieldError::new(
                field,
                phrasing::field_message(&message),
            )])
        }
    }
}

/// The field a client needs to fix. A struct-level serde error ("missing field `x`", "unknown
/// field `y`", "duplicate field `z`") names it in the message; the path is then the parent, or
/// already ends at the offending key (JSON's unknown and repeated keys), which is not doubled.
fn field_of(path: &str, message: &str) -> String {
    let named = ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let path = if path == "." { "" } else { path };
    match named {
        Some(name) if path == name || path.ends_with(&format!(".{name}")) => path.to_owned(),
        Some(name) if path.is_empty() => name.to_owned(),
        Some(name) => format!("{path}.{name}"),
        None if path.is_empty() => "body".to_owned(),
        None => path.to_owned(),
    }
}

fn strip_location(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rsplit_once(" at line ") {
        Some((message, _)) => message.to_owned(),
        None => text,
    }
}

/// Flattens validator's nested report into `field`/`message` pairs, paths dotted like serde's.
pub(crate) fn validation_error(errors: ValidationErrors) -> ApiError {
    let mut out = Vec::new();
    flatten(&errors, "", &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    ApiError::Validation(out)
}

fn flatten(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for error in list {
                    let message = error
                        .message
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_else(|| format!("is invalid ({})", error.code));
                    out.push(FieldError::new(path.clone(), message));
                }
            }
            ValidationErrorsKind::Struct(inner) => flatten(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    flatten(inner, &format!("{path}[{index}]"), out);
                }
            }
        }
    }
}

/// Query parameters that parsed and passed their validation rules; unknown values are 422.
pub(crate) struct ValidQuery<T>(pub(crate) T);

/// What each query parameter must be, in one phrase, for a value that does not even parse
/// ("limit must be a whole number between 1 and 100" rather than the parser's words).
pub(crate) trait QueryHints {
    fn hint(parameter: &str) -> Option<&'static str>;
}

impl<S, T> FromRequestParts<S> for ValidQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate + QueryHints,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        let value: T = serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let path = err.path().to_string();
            let raw = err.into_inner().to_string();
            let field = field_of(&path, &raw);
            let structural = raw.starts_with("unknown field") || raw.starts_with("duplicate field");
            let message = T::hint(&field)
                .filter(|_| !structural)
                .map_or_else(|| phrasing::field_message(&raw), str::to_owned);
            ApiError::Validation(vec![FieldError::new(field, message)])
        })?;
        value.validate().map_err(validation_error)?;
        Ok(Self(value))
    }
}

/// The `{id}` path segment as a UUID; anything else is a 422 naming `id`.
pub(crate) struct PathId(pub(crate) uuid::Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::field("id", "must be a UUID"))?;
        uuid::Uuid::try_parse(&raw)
            .map(Self)
            .map_err(|_| ApiError::field("id", "must be a UUID"))
    }
}

/// For fields that may be left out but never be `null`: `null` fails as a type error.
pub(crate) fn non_null<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Tells "absent" (outer `None`) from "explicitly null" (`Some(None)`).
pub(crate) fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// PostgreSQL text cannot hold U+0000; caught as a validation rule it is a 422 naming the field,
/// not a database error.
pub(crate) fn no_nul(text: &str) -> Result<(), validator::ValidationError> {
    if text.contains('\0') {
        return Err(validator::ValidationError::new("nul")
            .with_message("must not contain NUL characters".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        name: String,
        kind: Option<Kind>,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Plain,
    }

    /// `Ok(fields)` for a 422 naming them, `Err(())` for a 400; panics on anything else.
    fn rejection(body: &str) -> Result<Vec<String>, ()> {
        match parse_object::<Body>(body.as_bytes()) {
            Err(ApiError::Validation(errors)) => Ok(errors.into_iter().map(|e| e.field).collect()),
            Err(ApiError::BadRequest(_)) => Err(()),
            other => panic!("{body}: unexpected {other:?}"),
        }
    }

    #[test]
    fn a_well_formed_object_parses() {
        let body: Body =
            parse_object(br#" {"name": "n", "kind": "plain"} "#).expect("a valid body");
        assert_eq!((body.name.as_str(), body.kind), ("n", Some(Kind::Plain)));
    }

    #[test]
    fn malformed_json_is_a_400() {
        for body in [
            "",
            "{",
            "{\"name\": \"n\"} junk",
            "{\"name\": \"n\"}{}",
            "[1,",
            "\u{feff}{}",
        ] {
            assert_eq!(rejection(body), Err(()), "{body:?}");
        }
        assert!(matches!(
            parse_object::<Body>(b"{\"name\": \"\xff\"}"),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn well_formed_json_of_the_wrong_shape_is_a_422_naming_the_field() {
        for (body, field) in [
            (r#"{"name": 1}"#, "name"),
            (r#"{"name": "n", "kind": 3}"#, "kind"),
            (r#"{"name": "n", "kind": "fancy"}"#, "kind"),
            (r#"{"name": "\ud800"}"#, "name"),
            (r#"{}"#, "name"),
            (r#"{"name": "n", "extra": 1}"#, "extra"),
            (r#"{"name": "n", "name": "m"}"#, "name"),
            (r#"["n"]"#, "body"),
            (r#"[{"name": "n"}]"#, "body"),
            ("null", "body"),
            ("7", "body"),
        ] {
            assert_eq!(rejection(body), Ok(vec![field.to_owned()]), "{body}");
        }
    }
}
