//! Conditional requests on an entry (RFC 9110 section 13): `If-Match` makes an update apply only
//! to the version the client read, `If-None-Match` lets a client that holds the current version
//! skip the body. An entry's ETag is its version, strong: `"<version>"`.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::error::{ApiError, Result};

pub(super) enum IfMatch {
    Any,
    Version(i32),
    Never,
}

/// Parses `If-Match`: `*`, or a list of entity tags of which the first strong `"<integer>"` counts.
pub(super) fn if_match_version(value: &HeaderValue) -> Result<IfMatch> {
    let malformed = || ApiError::BadRequest("If-Match must be \"<version>\" or *".into());
    let text = value.to_str().map_err(|_| malformed())?.trim();
    if text == "*" {
        return Ok(IfMatch::Any);
    }
    let mut versions = Vec::new();
    for tag in text.split(',').map(str::trim) {
        if tag.starts_with("W/") {
            continue;
        }
        let inner = tag
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .ok_or_else(malformed)?;
        if let Ok(version) = inner.parse::<i32>() {
            versions.push(version);
        }
    }
    Ok(match versions.as_slice() {
        [] => IfMatch::Never,
        [version, ..] => IfMatch::Version(*version),
    })
}

/// False when `If-None-Match` names the current version (weak comparison: `W/"3"` matches `"3"`)
/// or is `*`: the client's copy is current and the answer is 304. A header that is not a list of
/// entity tags is ignored, as RFC 9110 lets a server do, and the entry is sent.
pub(super) fn none_match(headers: &HeaderMap, version: i32) -> bool {
    let Some(text) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return true;
    };
    let current = format!("\"{version}\"");
    !text
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(value).expect("a value"),
        );
        headers
    }

    #[test]
    fn if_none_match_holds_unless_a_tag_names_the_current_version() {
        assert!(none_match(&HeaderMap::new(), 3));
        assert!(none_match(&with("\"2\""), 3));
        assert!(none_match(&with("\"33\", W/\"4\""), 3));
        assert!(!none_match(&with("\"3\""), 3));
        assert!(!none_match(&with("\"1\", W/\"3\""), 3));
        assert!(!none_match(&with("*"), 3));
    }
}
