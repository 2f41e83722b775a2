//! Diary entries: create, list (keyset-paginated, filtered, searchable), get, patch, delete.

mod cursor;
mod db;
mod export;
mod list;
pub(crate) mod model;
mod page;
mod preconditions;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::db::Db;
use crate::error::{ApiError, Problem, Result, ResultExt};
use crate::extract::AuthUser;
use crate::extract::{PathId, ValidJson, ValidQuery};
use crate::openapi::{BodyProblems, DatabaseBusy, EntryLookup, Unauthenticated};
use crate::state::AppState;
use cursor::Cursor;
use model::{Entry, EntryPage, EntryPatch, ListQuery, NewEntry};
use page::PageJson;
use preconditions::IfMatch;

pub(crate) use export::{ExportPosition, export_page};

const DEFAULT_PAGE_SIZE: i64 = 20;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_entry, list_entries))
        .routes(routes!(get_entry, update_entry, delete_entry))
}

/// Entry responses carry the version as a strong ETag for `If-Match`.
fn with_etag(status: StatusCode, entry: Entry, location: bool) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{}\"", entry.version));
    let location =
        location.then(|| HeaderValue::from_str(&format!("/api/v1/entries/{}", entry.id)));
    let mut response = (status, Json(entry)).into_response();
    let headers = response.headers_mut();
    if let Ok(etag) = etag {
        headers.insert(header::ETAG, etag);
    }
    if let Some(Ok(location)) = location {
        headers.insert(header::LOCATION, location);
    }
    response
}

/// Write a new entry.
#[utoipa::path(
    post,
    path = "/api/v1/entries",
    tag = "entries",
    security(("bearer" = [])),
    request_body = NewEntry,
    responses(
        (status = 201, description = "Created; Location points at it", body = Entry,
         headers(("Location" = String), ("ETag" = String))),
        BodyProblems, Unauthenticated, DatabaseBusy,
    )
)]
async fn create_entry(
    user: AuthUser,
    State(pool): State<Db>,
    ValidJson(new): ValidJson<NewEntry>,
) -> Result<Response> {
    let tags = new.tags.unwrap_or_default();
    let row = db::NewEntryRow {
        title: new.title.as_deref(),
        content: &new.content,
        mood: new.mood,
        tags: &tags,
        entry_date: new
            .entry_date
            .unwrap_or_else(|| chrono::Utc::now().date_naive()),
    };
    // A valid token whose account was deleted since it was issued is as good as no token.
    let entry = pool
        .run(async |conn| db::insert(conn, user.id, row).await)
        .await
        .on_constraint("entries_user_id_fkey", || ApiError::Unauthorized)?;
    metrics::counter!("diary_entries_written_total", "operation" => "create").increment(1);
    Ok(with_etag(StatusCode::CREATED, entry, true))
}

/// List the caller's entries, newest `entry_date` first.
///
/// A page holds at most `limit` entries, and fewer when they are large: it stops before the entry
/// that would take its entries past 1 MiB of JSON (it always holds at least one). Only a
/// `next_cursor` of `null` means the end; follow it to get every entry exactly once.
#[utoipa::path(
    get,
    path = "/api/v1/entries",
    tag = "entries",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "One page: at most `limit` entries and at most 1 MiB of them", body = EntryPage),
        (status = 422, description = "Invalid query parameters", body = Problem, content_type = "application/problem+json"),
        Unauthenticated, DatabaseBusy,
    )
)]
async fn list_entries(
    user: AuthUser,
    State(pool): State<Db>,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> Result<PageJson> {
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from > to
    {
        return Err(ApiError::field("from", "must not be after `to`"));
    }
    let after = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    let filter = list::ListFilter {
        after,
        from: query.from,
        to: query.to,
        mood: query.mood,
        tag: query.tag.as_deref(),
        q: query.q.as_deref(),
        // One row more than asked tells whether another page exists without a count query.
        limit: limit + 1,
    };
    // Validated to 1..=100, so the conversion cannot fail; `MAX` would only mean "no limit".
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let page = pool
        .run(async |conn| page::read(conn, user.id, &filter, limit).await)
        .await?;
    if page.empty {
        // Nothing listed: a plain empty diary (the answer stands), or an account that is gone.
        match missing(&pool, &user).await {
            ApiError::NotFound => {}
            other => return Err(other),
        }
    }
    Ok(page)
}

/// Read one entry.
#[utoipa::path(
    get,
    path = "/api/v1/entries/{id}",
    tag = "entries",
    security(("bearer" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "Entry id"),
        ("If-None-Match" = Option<String>, Header, nullable = false, description = "ETags the client holds, e.g. `\"3\"` (or `*`); when one is the entry's version, the answer is 304 with no body. A value that is not a list of entity tags is ignored (RFC 9110), so it is not constrained here"),
    ),
    responses(
        (status = 200, description = "The entry", body = Entry, headers(("ETag" = String))),
        (status = 304, description = "The client's copy (`If-None-Match`) is current", headers(("ETag" = String))),
        EntryLookup, Unauthenticated, DatabaseBusy,
    )
)]
async fn get_entry(
    user: AuthUser,
    State(pool): State<Db>,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response> {
    let entry = pool
        .run(async |conn| db::get(conn, user.id, id).await)
        .await?;
    match entry {
        Some(entry) if preconditions::none_match(&headers, entry.version) => {
            Ok(with_etag(StatusCode::OK, entry, false))
        }
        Some(entry) => Ok(not_modified(entry.version)),
        None => Err(missing(&pool, &user).await),
    }
}

/// 304: the client's copy is current; the answer is its ETag and no body.
fn not_modified(version: i32) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// The answer for an entry that is not there: 404, unless the caller's account itself is gone
/// (deleted after the token was issued), which is as good as no token. Asked only on a miss, so
/// found entries cost no second query.
async fn missing(pool: &Db, user: &AuthUser) -> ApiError {
    match pool
        .run(async |conn| crate::users::db::exists(conn, user.id).await)
        .await
    {
        Ok(true) => ApiError::NotFound,
        Ok(false) => ApiError::Unauthorized,
        Err(e) => e.into(),
    }
}

/// Change some fields of an entry; with `If-Match`, only if nobody changed it since.
#[utoipa::path(
    patch,
    path = "/api/v1/entries/{id}",
    tag = "entries",
    security(("bearer" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "Entry id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "`\"<version>\"` from the ETag (or `*`); the update applies only to that version",
         pattern = r#"^(\*|(W/)?"[^"]*"(\s*,\s*(W/)?"[^"]*")*)$"#),
    ),
    request_body = EntryPatch,
    responses(
        (status = 200, description = "The updated entry", body = Entry, headers(("ETag" = String))),
        (status = 412, description = "The entry changed since that version; `ETag` is its version now", body = Problem, content_type = "application/problem+json", headers(("ETag" = String))),
        BodyProblems, EntryLookup, Unauthenticated, DatabaseBusy,
    )
)]
async fn update_entry(
    user: AuthUser,
    State(pool): State<Db>,
    PathId(id): PathId,
    headers: HeaderMap,
    ValidJson(patch): ValidJson<EntryPatch>,
) -> Result<Response> {
    if patch.is_empty() {
        return Err(ApiError::field("body", "name at least one field to change"));
    }
    let expected = match headers.get(header::IF_MATCH) {
        Some(value) => preconditions::if_match_version(value)?,
        None => IfMatch::Any,
    };
    let expected_version = match expected {
        IfMatch::Any => None,
        IfMatch::Version(v) => Some(v),
        // A weak or foreign tag can never match a strong version tag.
        IfMatch::Never => Some(-1),
    };
    let (updated, current) = pool
        .run(async |conn| {
            let updated = db::update(&mut *conn, user.id, id, &patch, expected_version).await?;
            // Told apart only when it matters: a version mismatch (412, with the version the
            // entry has now, so the client can re-read or retry) or no such entry (404).
            let current = match updated {
                None if expected_version.is_some() => db::get(&mut *conn, user.id, id).await?,
                _ => None,
            };
            Ok((updated, current))
        })
        .await?;
    match updated {
        Some(entry) => {
            metrics::counter!("diary_entries_written_total", "operation" => "update").increment(1);
            Ok(with_etag(StatusCode::OK, entry, false))
        }
        None => match current {
            Some(entry) => Err(ApiError::PreconditionFailed {
                current_version: entry.version,
            }),
            None => Err(missing(&pool, &user).await),
        },
    }
}

/// Delete an entry.
#[utoipa::path(
    delete,
    path = "/api/v1/entries/{id}",
    tag = "entries",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Entry id")),
    responses(
        (status = 204, description = "Deleted"),
        EntryLookup, Unauthenticated, DatabaseBusy,
    )
)]
async fn delete_entry(
    user: AuthUser,
    State(pool): State<Db>,
    PathId(id): PathId,
) -> Result<StatusCode> {
    if pool
        .run(async |conn| db::delete(conn, user.id, id).await)
        .await?
    {
        metrics::counter!("diary_entries_written_total", "operation" => "delete").increment(1);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(missing(&pool, &user).await)
    }
}
