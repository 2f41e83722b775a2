//! The diary as the account export writes it: every entry of one account, a page at a time.
//!
//! Each page is one query on a connection that goes back to the pool before the page is sent,
//! so a slow download holds no connection, and memory holds one page (at most 100 entries and
//! about 1 MiB of JSON), whatever the number of entries.

use uuid::Uuid;

use super::cursor::Cursor;
use super::list::ListFilter;
use super::page;
use crate::db::Db;
use crate::error::ApiError;

/// Entries per export page.
const EXPORT_PAGE: usize = 100;

/// Where the next export page starts: after the last entry written.
#[derive(Clone, Copy)]
pub(crate) struct ExportPosition(Option<Cursor>);

impl ExportPosition {
    pub(crate) fn start() -> Self {
        Self(None)
    }
}

/// The next page of `user`'s entries after `position` as JSON objects separated by commas
/// (with a leading comma unless it is the first page), and the position after it, or `None`
/// when this was the last page.
pub(crate) async fn export_page(
    db: &Db,
    user: Uuid,
    position: ExportPosition,
) -> Result<(Vec<u8>, Option<ExportPosition>), ApiError> {
    let filter = ListFilter {
        after: position.0,
        from: None,
        to: None,
        mood: None,
        tag: None,
        q: None,
        limit: EXPORT_PAGE as i64 + 1,
    };
    let (mut json, next) = db
        .run(async |conn| page::read_items(conn, user, &filter, EXPORT_PAGE).await)
        .await?;
    if position.0.is_some() && !json.is_empty() {
        json.insert(0, b',');
    }
    Ok((json, next.map(|cursor| ExportPosition(Some(cursor)))))
}
