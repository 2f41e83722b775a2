//! The entry shapes clients send and receive, and the contract's limits on them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::{Error as _, Unexpected};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::schema::{Array, ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::{Validate, ValidationError};

use crate::extract::{no_nul, non_null, present};

/// How the day felt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub(crate) enum Mood {
    Great,
    Good,
    Okay,
    Bad,
    Awful,
}

/// A diary entry.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Entry {
    pub(crate) id: Uuid,
    #[schema(required = true)]
    pub(crate) title: Option<String>,
    pub(crate) content: String,
    #[schema(required = true)]
    pub(crate) mood: Option<Mood>,
    pub(crate) tags: Vec<String>,
    pub(crate) entry_date: NaiveDate,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    /// Grows by one with every change; also sent as `ETag: "<version>"`.
    pub(crate) version: i32,
}

/// Body of `POST /api/v1/entries`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewEntry {
    #[validate(
        length(min = 1, max = 20000, message = "must be 1 to 20000 characters"),
        custom(function = "no_nul")
    )]
    #[schema(min_length = 1, max_length = 20000, pattern = "^[^\\u0000]*$")]
    pub(crate) content: String,
    #[validate(
        length(max = 200, message = "must be at most 200 characters"),
        custom(function = "no_nul")
    )]
    #[schema(max_length = 200, pattern = "^[^\\u0000]*$")]
    pub(crate) title: Option<String>,
    pub(crate) mood: Option<Mood>,
    #[validate(custom(function = "valid_tags"))]
    #[schema(schema_with = tags_or_null_schema)]
    pub(crate) tags: Option<Vec<String>>,
    /// Defaults to today (UTC).
    #[serde(default, deserialize_with = "optional_date")]
    pub(crate) entry_date: Option<NaiveDate>,
}

/// Body of `PATCH /api/v1/entries/{id}`: only the fields present change. `null` clears `title` and
/// `mood`; the other fields cannot be empty, so `null` there is a 422 naming the field.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub(crate) struct EntryPatch {
    #[validate(
        length(min = 1, max = 20000, message = "must be 1 to 20000 characters"),
        custom(function = "no_nul")
    )]
    #[serde(default, deserialize_with = "non_null")]
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 20000,
        pattern = "^[^\\u0000]*$"
    )]
    pub(crate) content: Option<String>,
    #[validate(
        length(max = 200, message = "must be at most 200 characters"),
        custom(function = "no_nul")
    )]
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = "^[^\\u0000]*$")]
    pub(crate) title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Mood>)]
    pub(crate) mood: Option<Option<Mood>>,
    #[validate(custom(function = "valid_tags"))]
    #[serde(default, deserialize_with = "non_null")]
    #[schema(schema_with = tags_schema)]
    pub(crate) tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "non_null_date")]
    #[schema(nullable = false)]
    pub(crate) entry_date: Option<NaiveDate>,
}

impl EntryPatch {
    pub(crate) fn is_empty(&self) -> bool {
        self.content.is_none()
            && self.title.is_none()
            && self.mood.is_none()
            && self.tags.is_none()
            && self.entry_date.is_none()
    }
}

const DATE_FORMAT: &str = "a date written YYYY-MM-DD";

/// Parses a date written exactly `YYYY-MM-DD`. chrono on its own also takes `2026-2-9`,
/// ` 2026-02-09` and `+2026-02-09`, and years PostgreSQL cannot store (before 4713 BC), which
/// would then fail in the database as a 500 instead of a 422.
pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    shaped
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
}

fn date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_date(&text).ok_or_else(|| D::Error::invalid_value(Unexpected::Str(&text), &DATE_FORMAT))
}

/// An optional `YYYY-MM-DD` date where `null` means "not given".
pub(crate) fn optional_date<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<NaiveDate>, D::Error> {
    #[derive(Deserialize)]
    struct Strict(#[serde(deserialize_with = "date")] NaiveDate);
    Ok(Option::<Strict>::deserialize(deserializer)?.map(|Strict(day)| day))
}

/// A `YYYY-MM-DD` date that may be left out but never be `null` (see [`non_null`]).
fn non_null_date<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<NaiveDate>, D::Error> {
    date(deserializer).map(Some)
}

fn error(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

fn valid_tags(tags: &[String]) -> Result<(), ValidationError> {
    if tags.len() > 10 {
        return Err(error("tags_count", "at most 10 tags"));
    }
    if tags.iter().any(|t| t.is_empty() || t.chars().count() > 32) {
        return Err(error("tag_length", "each tag must be 1 to 32 characters"));
    }
    if tags.iter().any(|t| t.contains('\0')) {
        return Err(error("nul", "tags must not contain NUL characters"));
    }
    let mut seen = std::collections::HashSet::new();
    if !tags.iter().all(|t| seen.insert(t)) {
        return Err(error("tags_distinct", "tags must be distinct"));
    }
    Ok(())
}

/// `tags` as the OpenAPI document states it: utoipa's attributes cannot say "distinct" or put
/// length limits on array items, and schema-driven clients and fuzzers need both.
fn tags_schema() -> Array {
    tags_schema_of(Type::Array.into())
}

/// `tags` where `null` is accepted (it means "no tags" on create).
fn tags_or_null_schema() -> Array {
    tags_schema_of([Type::Array, Type::Null].into_iter().collect())
}

fn tags_schema_of(kind: SchemaType) -> Array {
    let tag = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(32))
        .pattern(Some("^[^\\u0000]*$"));
    ArrayBuilder::new()
        .schema_type(kind)
        .items(tag)
        .max_items(Some(10))
        .unique_items(true)
        .build()
}

/// Query of `GET /api/v1/entries`.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Most entries on a page, 1..=100 (default 20). A page stops early, with a `next_cursor`,
    /// before its entries pass 1 MiB of JSON, so it may hold fewer.
    #[validate(range(
        min = 1,
        max = 100,
        message = "must be a whole number between 1 and 100"
    ))]
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub(crate) limit: Option<i64>,
    /// Opaque position from the previous page's `next_cursor`.
    #[param(min_length = 1, pattern = "^[A-Za-z0-9_-]+$")]
    pub(crate) cursor: Option<String>,
    /// Earliest `entry_date` (inclusive).
    #[serde(default, deserialize_with = "optional_date")]
    pub(crate) from: Option<NaiveDate>,
    /// Latest `entry_date` (inclusive).
    #[serde(default, deserialize_with = "optional_date")]
    pub(crate) to: Option<NaiveDate>,
    pub(crate) mood: Option<Mood>,
    /// Only entries carrying this tag.
    #[validate(
        length(min = 1, max = 32, message = "must be 1 to 32 characters"),
        custom(function = "no_nul")
    )]
    #[param(min_length = 1, max_length = 32, pattern = "^[^\\u0000]*$")]
    pub(crate) tag: Option<String>,
    /// Full-text search over title and content (web-search syntax: words, "phrases", -exclusions).
    #[validate(
        length(min = 1, max = 200, message = "must be 1 to 200 characters"),
        custom(function = "no_nul")
    )]
    #[param(min_length = 1, max_length = 200, pattern = "^[^\\u0000]*$")]
    pub(crate) q: Option<String>,
}

impl crate::extract::QueryHints for ListQuery {
    fn hint(parameter: &str) -> Option<&'static str> {
        match parameter {
            "limit" => Some("must be a whole number between 1 and 100"),
            "from" | "to" => Some("must be a date written YYYY-MM-DD"),
            "mood" => Some("must be one of great, good, okay, bad, awful"),
            _ => None,
        }
    }
}

/// One page of entries, newest `entry_date` first. Written by `page.rs` as its rows arrive; this
/// type is its schema, and what it matches byte for byte.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntryPage {
    /// At most `limit` entries and at most 1 MiB of JSON of them; never empty when
    /// `next_cursor` is set.
    pub(crate) items: Vec<Entry>,
    /// Pass as `cursor` to get the next page; `null` on the last page, and only there: a page cut
    /// short by the 1 MiB cap has fewer than `limit` items and still a `next_cursor`.
    #[schema(required = true)]
    pub(crate) next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_read_only_when_written_yyyy_mm_dd() {
        assert_eq!(
            parse_date("2024-02-29"),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        assert_eq!(parse_date("0001-01-01"), NaiveDate::from_ymd_opt(1, 1, 1));
        for text in [
            "2023-02-29",
            "2026-2-9",
            " 2026-02-09",
            "2026-02-09 ",
            "+2026-02-09",
            "-5000-01-01",
            "12026-02-09",
            "2026-02-09T00:00",
            "2026/02/09",
            "２０２６-02-09",
            "",
        ] {
            assert_eq!(parse_date(text), None, "{text:?}");
        }
    }

    #[test]
    fn nul_characters_are_refused_in_every_text_field() {
        let entry: NewEntry = serde_json::from_str(r#"{"content": "a\u0000"}"#).expect("parses");
        assert!(entry.validate().is_err());
        let patch: EntryPatch = serde_json::from_str(r#"{"title": "\u0000"}"#).expect("parses");
        assert!(patch.validate().is_err());
        assert!(valid_tags(&["ok".into(), "b\0d".into()]).is_err());
    }
}
