//! One list page, written as JSON while its rows arrive and cut at a byte budget, so what a list
//! request holds is bounded by [`PAGE_BYTES_BUDGET`], not by `limit` x the largest entry.
//!
//! An entry's content may be 20,000 control characters, each written `\u0001` in JSON: a
//! 100-entry page of them would be 12 MB, and a few at once take a pod past its memory limit.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt as _;
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use super::cursor::Cursor;
use super::list::{self, ListFilter};
use super::model::Entry;
use crate::db::QueryClock;

/// The most JSON the entries of one page take; a page stops before the entry that would pass it.
/// At least one entry is always served, and the largest possible one (a 20,000-character content
/// of 6-byte escapes, a 200-character title, 10 tags) is far below this.
pub(crate) const PAGE_BYTES_BUDGET: usize = 1024 * 1024;

const ITEMS_START: &[u8] = br#"{"items":["#;
const ITEMS_END: &[u8] = br#"],"next_cursor":"#;
/// Room for everything around the items: the keys, and a cursor (a date and a UUID in base64).
const ENVELOPE_BYTES: usize = 128;
/// What a small page starts with (twenty short entries fit); it grows, by doubling, up to what a
/// full page needs and never past it.
const INITIAL_CAPACITY: usize = 16 * 1024;

/// The page's JSON, as [`axum::Json`] would answer it, which it matches byte for byte.
pub(crate) struct PageJson {
    json: Vec<u8>,
    /// No entry at all: the caller may have none, or no longer exist.
    pub(crate) empty: bool,
}

impl IntoResponse for PageJson {
    fn into_response(self) -> Response {
        let content_type = HeaderValue::from_static("application/json");
        ([(header::CONTENT_TYPE, content_type)], self.json).into_response()
    }
}

/// Reads the page `filter` selects: at most `limit` entries, and fewer when their JSON would pass
/// [`PAGE_BYTES_BUDGET`]. `filter.limit` must be `limit + 1`: the extra row, when it comes, says
/// another page exists without a count query.
///
/// On `Ok` the connection is ready for the next query, as [`crate::db::Db::run`] requires.
pub(crate) async fn read(
    conn: &mut PgConnection,
    user: Uuid,
    filter: &ListFilter<'_>,
    limit: usize,
) -> Result<PageJson, sqlx::Error> {
    let (page, more) = fill(conn, user, filter, limit).await?;
    let empty = page.len() == 0;
    Ok(PageJson {
        json: page.finish(more),
        empty,
    })
}

/// The entries of a page without the envelope (`{...},{...}`) and, when more follow, the cursor
/// after the last one: what the account export strings together.
pub(crate) async fn read_items(
    conn: &mut PgConnection,
    user: Uuid,
    filter: &ListFilter<'_>,
    limit: usize,
) -> Result<(Vec<u8>, Option<Cursor>), sqlx::Error> {
    let (page, more) = fill(conn, user, filter, limit).await?;
    let next = page.last.filter(|_| more);
    let mut json = page.json;
    json.drain(..ITEMS_START.len());
    Ok((json, next))
}

/// Reads up to `limit` entries into a page, and whether more follow.
async fn fill(
    conn: &mut PgConnection,
    user: Uuid,
    filter: &ListFilter<'_>,
    limit: usize,
) -> Result<(PageWriter, bool), sqlx::Error> {
    let mut clock = QueryClock::new("entries_list");
    let mut page = PageWriter::new();
    let mut rows = list::list(&mut *conn, user, filter);
    // Why the page ended, when it ended before the result did.
    enum Cut {
        /// `limit` entries are in: only the extra row (and the end of the result) is left.
        Full,
        /// The budget is spent: up to `limit` rows may still be on their way.
        Budget,
    }
    let cut = loop {
        let Some(entry) = clock.wait(rows.try_next()).await? else {
            break None;
        };
        if page.len() == limit {
            break Some(Cut::Full);
        }
        // Serialising an `Entry` cannot fail (no maps, no custom serialisers); should it ever,
        // it is a failure to turn a row into its answer.
        let added = page
            .push(&entry)
            .map_err(|e| sqlx::Error::Decode(e.into()))?;
        if !added {
            break Some(Cut::Budget);
        }
    };
    // The connection must be in a known state before it is parked for the next request.
    match cut {
        None => drop(rows),
        // The end of the result is read like any row: no round trip of its own (a ping here
        // cost the list route a fifth of its throughput).
        Some(Cut::Full) => {
            while clock.wait(rows.try_next()).await?.is_some() {}
            drop(rows);
        }
        // Rows of up to 20,000 characters each may be left: a ping reads them off the socket
        // one message at a time without decoding any, then waits for its own reply. Decoding
        // them instead took sixteen such pages at once past the memory budget.
        Some(Cut::Budget) => {
            drop(rows);
            clock.wait(conn.ping()).await?;
        }
    }
    Ok((page, cut.is_some()))
}

/// The page's JSON under construction: `{"items":[` and the entries that fit so far.
struct PageWriter {
    json: Vec<u8>,
    /// The entry being weighed, kept between entries so its buffer is allocated once.
    scratch: Vec<u8>,
    items: usize,
    last: Option<Cursor>,
}

impl PageWriter {
    fn new() -> Self {
        let mut json = Vec::with_capacity(INITIAL_CAPACITY);
        json.extend_from_slice(ITEMS_START);
        Self {
            json,
            scratch: Vec::new(),
            items: 0,
            last: None,
        }
    }

    fn len(&self) -> usize {
        self.items
    }

    /// Adds `entry`, unless the page has entries and this one would take them past the budget:
    /// then `false`, and the page is full.
    fn push(&mut self, entry: &Entry) -> Result<bool, serde_json::Error> {
        self.scratch.clear();
        serde_json::to_writer(&mut self.scratch, entry)?;
        let separator = usize::from(self.items > 0);
        let items_bytes = self.json.len() - ITEMS_START.len();
        if self.items > 0 && items_bytes + separator + self.scratch.len() > PAGE_BYTES_BUDGET {
            return Ok(false);
        }
        let needed = self.json.len() + separator + self.scratch.len() + ENVELOPE_BYTES;
        if needed > self.json.capacity() {
            // Doubling, as `Vec` would, but capped at a full page: doubling past it would hold
            // up to twice the budget for one page.
            let full = ITEMS_START.len() + PAGE_BYTES_BUDGET + ENVELOPE_BYTES;
            let target = needed.max((self.json.capacity() * 2).min(full));
            self.json.reserve_exact(target - self.json.len());
        }
        if separator == 1 {
            self.json.push(b',');
        }
        self.json.extend_from_slice(&self.scratch);
        self.items += 1;
        self.last = Some(Cursor {
            entry_date: entry.entry_date,
            id: entry.id,
        });
        Ok(true)
    }

    /// Closes the page; with `more`, `next_cursor` points after its last entry.
    fn finish(mut self, more: bool) -> Vec<u8> {
        self.json.extend_from_slice(ITEMS_END);
        match self.last.filter(|_| more) {
            Some(last) => {
                // Base64url needs no escaping inside a JSON string.
                self.json.push(b'"');
                self.json.extend_from_slice(last.encode().as_bytes());
                self.json.push(b'"');
            }
            None => self.json.extend_from_slice(b"null"),
        }
        self.json.push(b'}');
        self.json
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Utc};

    use super::*;
    use crate::entries::model::EntryPage;

    fn entry(day: u32, content: &str) -> Entry {
        let now = Utc::now();
        Entry {
            id: Uuid::now_v7(),
            title: Some("a \"title\"".into()),
            content: content.into(),
            mood: None,
            tags: vec!["one".into()],
            entry_date: NaiveDate::from_ymd_opt(2026, 1, day).expect("a date"),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    fn written(entries: &[Entry], more: bool) -> (usize, Vec<u8>) {
        let mut page = PageWriter::new();
        let fitted = entries
            .iter()
            .take_while(|e| page.push(e).expect("serialises"))
            .count();
        (fitted, page.finish(more))
    }

    #[test]
    fn a_page_is_byte_for_byte_what_serde_writes_for_an_entry_page() {
        for (count, more) in [(0, false), (1, false), (3, true)] {
            let entries: Vec<Entry> = (1..=count).map(|d| entry(d, "x\u{1}y")).collect();
            let (fitted, json) = written(&entries, more);
            assert_eq!(fitted, entries.len());
            let next_cursor = entries.last().filter(|_| more).map(|e| {
                Cursor {
                    entry_date: e.entry_date,
                    id: e.id,
                }
                .encode()
            });
            let expected = serde_json::to_vec(&EntryPage {
                items: entries,
                next_cursor,
            })
            .expect("serialises");
            assert_eq!(
                String::from_utf8_lossy(&json),
                String::from_utf8_lossy(&expected)
            );
        }
    }

    #[test]
    fn a_page_stops_before_the_entry_that_would_pass_the_budget() {
        let huge = "\u{1}".repeat(20_000);
        let entries: Vec<Entry> = (1..=20).map(|d| entry(d, &huge)).collect();
        let one = serde_json::to_vec(&entries[0]).expect("serialises").len();
        let (fitted, json) = written(&entries, true);
        assert_eq!(fitted, (PAGE_BYTES_BUDGET + 1) / (one + 1));
        assert!(
            json.len() <= PAGE_BYTES_BUDGET + ENVELOPE_BYTES,
            "{}",
            json.len()
        );
        let page: serde_json::Value = serde_json::from_slice(&json).expect("valid JSON");
        assert_eq!(page["items"].as_array().map(Vec::len), Some(fitted));
        assert!(page["next_cursor"].is_string());
    }

    #[test]
    fn the_first_entry_always_fits_and_the_buffer_never_grows_past_a_full_page() {
        let mut page = PageWriter::new();
        let mut big = entry(1, "");
        big.content = "\u{1}".repeat(PAGE_BYTES_BUDGET);
        assert!(page.push(&big).expect("serialises"));
        assert!(!page.push(&entry(2, "small")).expect("serialises"));

        let mut page = PageWriter::new();
        let huge = "\u{1}".repeat(20_000);
        for day in 1..=28 {
            page.push(&entry(day, &huge)).expect("serialises");
        }
        assert!(page.json.capacity() <= ITEMS_START.len() + PAGE_BYTES_BUDGET + ENVELOPE_BYTES);
    }
}
