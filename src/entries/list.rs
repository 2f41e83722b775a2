//! The list route's SQL: one static statement per filter shape.
//!
//! Every statement is prepared once per pooled connection and planned generically (`src/db.rs`),
//! so each is written for the one plan it gets, and its cost never depends on which connection
//! serves it nor on other people's data (tests/api/entries/plans/ pins every plan). One statement
//! per shape rather than one for all: PostgreSQL sets up every node of a plan on each execution,
//! including the parts a one-time filter then skips: a first page took 0.14 ms through the
//! catch-all statement this replaces and takes 0.06 ms through its own (bench/README.md).

use chrono::NaiveDate;
use futures_util::stream::BoxStream;
use sqlx::PgConnection;
use uuid::Uuid;

use super::cursor::Cursor;
use super::model::{Entry, Mood};

pub(crate) struct ListFilter<'a> {
    pub(crate) after: Option<Cursor>,
    pub(crate) from: Option<NaiveDate>,
    pub(crate) to: Option<NaiveDate>,
    pub(crate) mood: Option<Mood>,
    pub(crate) tag: Option<&'a str>,
    pub(crate) q: Option<&'a str>,
    pub(crate) limit: i64,
}

/// How many of the caller's entries after the cursor a search reads in date order before it
/// decides how to go on: a search most entries pass fills its page within them, one few pass is
/// answered from the caller's own GIN postings. A rare word pays the window on every page, so it
/// is about what a word in one entry in five needs for a page of 21 (on 2M entries, `q rare`
/// read 234 buffers a page with a window of 200, 133 with 100: bench/README.md).
pub(crate) const FILTER_WINDOW_ROWS: i64 = 100;

/// How many matches a short window must hold for the search to read on in date order rather
/// than turn to the index: the index fetches every match the diary holds past the window to sort
/// them (a word in 20 of 200 entries: ~750 rows in a 5,000-entry diary, ~7,500 in a 50,000-entry
/// one), while a word in one entry in twenty or more finds the 16 or fewer still missing within
/// about [`FURTHER_WINDOW_ROWS`]. A rarer word has few matches past the window: the index is cheaper.
const DENSE_WINDOW_MATCHES: i64 = 5;

/// How far past the window a dense search reads on in date order before it turns to the index
/// for what is left: the walk stops as soon as the page is full, so this only bounds a word whose
/// matches thin out past the window.
const FURTHER_WINDOW_ROWS: i64 = 300;

/// Up to `limit` entries after the cursor, newest `entry_date` first, `id` breaking ties, one at
/// a time as they arrive: the page stops reading when it is full (`super::page`), so a page of
/// large entries never holds them all at once. Timed by the caller, which owns the reading.
///
/// The cursor and the date range are bounds that are always there (an absent one is the widest),
/// so every walk in date order starts at the cursor: a page deep in a long diary costs what the
/// first one does. The parameters keep one order across the statements, each taking a prefix:
/// owner, cursor date and id, from, to, limit, mood, tag, q, window, dense window matches, further
/// window.
pub(crate) fn list<'c>(
    conn: &'c mut PgConnection,
    user: Uuid,
    filter: &ListFilter<'_>,
) -> BoxStream<'c, Result<Entry, sqlx::Error>> {
    let (after_date, after_id) = (
        filter.after.map(|c| c.entry_date),
        filter.after.map(|c| c.id),
    );
    let (from, to, limit) = (filter.from, filter.to, filter.limit);
    match (filter.q, filter.tag, filter.mood) {
        // The caller's entries in date order from `entries_user_date_id_idx`.
        (None, None, None) => sqlx::query_file_as!(
            Entry,
            "src/entries/sql/list_recent.sql",
            user,
            after_date,
            after_id,
            from,
            to,
            limit
        )
        .fetch(conn),
        // A mood's own index, `entries_owner_mood_date_id_idx`: a page costs one page however
        // rare the mood is in that diary.
        (None, None, Some(mood)) => sqlx::query_file_as!(
            Entry,
            "src/entries/sql/list_mood.sql",
            user,
            after_date,
            after_id,
            from,
            to,
            limit,
            mood as Mood
        )
        .fetch(conn),
        // A tag's own rows in `entry_tags`, the mood filtered in that index.
        (None, Some(tag), mood) => sqlx::query_file_as!(
            Entry,
            "src/entries/sql/list_tag.sql",
            user,
            after_date,
            after_id,
            from,
            to,
            limit,
            mood as Option<Mood>,
            tag
        )
        .fetch(conn),
        (Some(q), tag, mood) => sqlx::query_file_as!(
            Entry,
            "src/entries/sql/list_search.sql",
            user,
            after_date,
            after_id,
            from,
            to,
            limit,
            mood as Option<Mood>,
            tag,
            q,
            FILTER_WINDOW_ROWS,
            DENSE_WINDOW_MATCHES,
            FURTHER_WINDOW_ROWS
        )
        .fetch(conn),
    }
}
