//! The entry shapes clients send and receive, and the contract's limits on them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::{Validate, ValidationError};

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
    pub(crate) title: Option<String>,
    pub(crate) content: String,
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
    #[validate(length(min = 1, max = 20000, message = "must be 1 to 20000 characters"))]
    #[schema(min_length = 1, max_length = 20000)]
    pub(crate) content: String,
    #[validate(length(max = 200, message = "must be at most 200 characters"))]
    #[schema(max_length = 200)]
    pub(crate) title: Option<String>,
    pub(crate) mood: Option<Mood>,
    #[validate(custom(function = "valid_tags"))]
    #[schema(max_items = 10, value_type = Option<Vec<String>>)]
    pub(crate) tags: Option<Vec<String>>,
    /// Defaults to today (UTC).
    pub(crate) entry_date: Option<NaiveDate>,
}

/// Body of `PATCH /api/v1/entries/{id}`: only the fields present change. `null` clears `title` and
/// `mood`; the other fields cannot be empty, so `null` there is a 422 naming the field.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntryPatch {
    #[validate(length(min = 1, max = 20000, message = "must be 1 to 20000 characters"))]
    #[serde(default, deserialize_with = "non_null")]
    #[schema(min_length = 1, max_length = 20000)]
    pub(crate) content: Option<String>,
    #[validate(length(max = 200, message = "must be at most 200 characters"))]
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub(crate) title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Mood>)]
    pub(crate) mood: Option<Option<Mood>>,
    #[validate(custom(function = "valid_tags"))]
    #[serde(default, deserialize_with = "non_null")]
    #[schema(max_items = 10)]
    pub(crate) tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "non_null")]
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

/// For fields that may be left out but never be `null`: `null` fails as a type error.
fn non_null<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Tells "absent" (outer `None`) from "explicitly null" (`Some(None)`).
fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
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
    let mut seen = std::collections::HashSet::new();
    if !tags.iter().all(|t| seen.insert(t)) {
        return Err(error("tags_distinct", "tags must be distinct"));
    }
    Ok(())
}

/// Query of `GET /api/v1/entries`.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Page size, 1..=100 (default 20).
    #[validate(range(min = 1, max = 100, message = "must be between 1 and 100"))]
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub(crate) limit: Option<i64>,
    /// Opaque position from the previous page's `next_cursor`.
    pub(crate) cursor: Option<String>,
    /// Earliest `entry_date` (inclusive).
    pub(crate) from: Option<NaiveDate>,
    /// Latest `entry_date` (inclusive).
    pub(crate) to: Option<NaiveDate>,
    pub(crate) mood: Option<Mood>,
    /// Only entries carrying this tag.
    #[validate(length(min = 1, max = 32, message = "must be 1 to 32 characters"))]
    #[param(min_length = 1, max_length = 32)]
    pub(crate) tag: Option<String>,
    /// Full-text search over title and content (web-search syntax: words, "phrases", -exclusions).
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    #[param(min_length = 1, max_length = 200)]
    pub(crate) q: Option<String>,
}

/// One page of entries, newest `entry_date` first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntryPage {
    pub(crate) items: Vec<Entry>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub(crate) next_cursor: Option<String>,
}
