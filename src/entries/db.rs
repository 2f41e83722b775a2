//! Entry SQL. Every statement is scoped by `user_id`, so another person's entry is simply absent.

use chrono::NaiveDate;
use futures_util::stream::BoxStream;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::cursor::Cursor;
use super::model::{Entry, EntryPatch, Mood};
use crate::db::timed;

pub(crate) struct NewEntryRow<'a> {
    pub(crate) title: Option<&'a str>,
    pub(crate) content: &'a str,
    pub(crate) mood: Option<Mood>,
    pub(crate) tags: &'a [String],
    pub(crate) entry_date: NaiveDate,
}

pub(crate) async fn insert(
    db: impl PgExecutor<'_>,
    user: Uuid,
    new: NewEntryRow<'_>,
) -> Result<Entry, sqlx::Error> {
    timed(
        "entries_create",
        sqlx::query_as!(
            Entry,
            r#"INSERT INTO entries (id, user_id, title, content, mood, tags, entry_date)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               RETURNING id, title, content, mood AS "mood: Mood", tags, entry_date,
                         created_at, updated_at, version"#,
            Uuid::now_v7(),
            user,
            new.title,
            new.content,
            new.mood as Option<Mood>,
            new.tags,
            new.entry_date,
        )
        .fetch_one(db),
    )
    .await
}

pub(crate) async fn get(
    db: impl PgExecutor<'_>,
    user: Uuid,
    id: Uuid,
) -> Result<Option<Entry>, sqlx::Error> {
    timed(
        "entries_get",
        sqlx::query_as!(
            Entry,
            r#"SELECT id, title, content, mood AS "mood: Mood", tags, entry_date,
                      created_at, updated_at, version
               FROM entries WHERE id = $1 AND user_id = $2"#,
            id,
            user,
        )
        .fetch_optional(db),
    )
    .await
}

pub(crate) struct ListFilter<'a> {
    pub(crate) after: Option<Cursor>,
    pub(crate) from: Option<NaiveDate>,
    pub(crate) to: Option<NaiveDate>,
    pub(crate) mood: Option<Mood>,
    pub(crate) tag: Option<&'a str>,
    pub(crate) q: Option<&'a str>,
    pub(crate) limit: i64,
}

/// How many of the caller's entries after the cursor (with the mood, if one is asked for) are read
/// in date order before a search turns to the caller's own GIN index: a filter most entries pass
/// fills its page within them, one few pass is answered from the index. Reading 200 entries costs
/// about a tenth of a millisecond; a filter passed by more than a tenth of them (21 of 200) rarely
/// needs the index. bench/scale.py measures both sides (bench/README.md).
pub(crate) const FILTER_WINDOW_ROWS: i64 = 200;

/// How many of those entries are read first and, when fewer than two of them pass a search, how
/// many of the caller's matches past them the GIN index may return for the search to count as
/// rare: then those matches are the whole answer, found without reading the rest of the window.
pub(crate) const FILTER_HEAD_ROWS: i64 = 40;

/// Up to `limit` entries after the cursor, newest `entry_date` first, `id` breaking ties, one at
/// a time as they arrive: the page stops reading when it is full (`super::page`), so a page of
/// large entries never holds them all at once. Timed by the caller, which owns the reading.
///
/// One static statement whose every plan, custom or generic (a pooled connection switches to a
/// generic plan after five executions), does the same thing, so its cost never depends on which
/// connection serves it nor on other people's data (tests/api/entries/plans/ pins it). `UNION ALL`
/// runs its parts in order and the `LIMIT` stops before the next one starts; each part is gated by
/// one-time filters, so a part that does not apply never runs:
/// - A `tag` without `q` (with or without `mood`) walks the tag's rows in `entry_tags` from the
///   cursor, newest first, the mood filtered in that index, and reads each kept row's entry by its
///   key: a page costs one page however rare the tag is. The entry's own row is checked again (it
///   is the truth; see the migration that builds the table).
/// - Every other shape reads a window of the caller's entries from the cursor, in date order from
///   `entries_user_date_id_idx`, or with a `mood` from `entries_owner_mood_date_id_idx`, filtered
///   by `tag` and `q`: first `head`, [`FILTER_HEAD_ROWS`] of them, then the rest of the
///   [`FILTER_WINDOW_ROWS`]. The cursor and the date range are bounds that are always there (an
///   absent one is the widest), so the scan starts at the cursor: a page deep in a long diary
///   costs what the first one does. Without `q` this is the whole answer.
/// - A search that passes fewer than two entries of a full `head` is probably rare: `probe` takes
///   at most [`FILTER_HEAD_ROWS`] + 1 of the caller's matches past `head` from the GIN index
///   `entries_filter_keys_idx`, and when they are not more than that, they are the rest of the
///   answer (`answered`) and the window is not read further.
/// - Otherwise, when the window is full and still leaves the page short, `beyond` reads the
///   caller's matches past it from that GIN index. Its keys are hashes of (owner, mood),
///   (owner, tag) and (owner, word): `entry_filter_wanted` turns the request into the keys every
///   match has (`all_of`) or, for a search with `or`, one of which it has (`any_of`), so the index
///   returns only the caller's entries with all of them, and a tag and a mood that are each common
///   but rare together are intersected there, not read one by one. The rows are then checked
///   against the filters themselves (a hash may collide; `-word` is not in the keys). The owner
///   is checked there as `(user_id = $1) IS TRUE`, which no index serves, so the date-ordered
///   btree cannot be chosen to walk a whole diary for a rare word.
/// - The tsquery is a sub-select, parsed once per statement rather than once per row.
pub(crate) fn list<'c>(
    conn: &'c mut PgConnection,
    user: Uuid,
    filter: &ListFilter<'_>,
) -> BoxStream<'c, Result<Entry, sqlx::Error>> {
    sqlx::query_as!(
        Entry,
        r#"WITH window_end AS (
               (SELECT entry_date, id FROM entries
                 WHERE $6::text IS NULL AND user_id = $1
                   AND (entry_date, id) < (COALESCE($2::date, 'infinity'),
                                           COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
                   AND entry_date >= COALESCE($4::date, '-infinity')
                   AND entry_date <= COALESCE($5::date, 'infinity')
                 ORDER BY entry_date DESC, id DESC OFFSET $10::bigint - 1 LIMIT 1)
               UNION ALL
               (SELECT entry_date, id FROM entries
                 WHERE $6::text IS NOT NULL AND user_id::text = $1::text AND mood = $6
                   AND (entry_date, id) < (COALESCE($2::date, 'infinity'),
                                           COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
                   AND entry_date >= COALESCE($4::date, '-infinity')
                   AND entry_date <= COALESCE($5::date, 'infinity')
                 ORDER BY entry_date DESC, id DESC OFFSET $10::bigint - 1 LIMIT 1)
           ), head_end AS (
               (SELECT entry_date, id FROM entries
                 WHERE $6::text IS NULL AND user_id = $1
                   AND (entry_date, id) < (COALESCE($2::date, 'infinity'),
                                           COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
                   AND entry_date >= COALESCE($4::date, '-infinity')
                   AND entry_date <= COALESCE($5::date, 'infinity')
                 ORDER BY entry_date DESC, id DESC OFFSET $11::bigint - 1 LIMIT 1)
               UNION ALL
               (SELECT entry_date, id FROM entries
                 WHERE $6::text IS NOT NULL AND user_id::text = $1::text AND mood = $6
                   AND (entry_date, id) < (COALESCE($2::date, 'infinity'),
                                           COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
                   AND entry_date >= COALESCE($4::date, '-infinity')
                   AND entry_date <= COALESCE($5::date, 'infinity')
                 ORDER BY entry_date DESC, id DESC OFFSET $11::bigint - 1 LIMIT 1)
           ), wanted AS (
               SELECT all_of, any_of
                 FROM entry_filter_wanted($1, $6, $7, websearch_to_tsquery('english', $8))
           ), head AS MATERIALIZED (
               -- The first rows of the window that pass the filters, in date order.
               SELECT * FROM ((SELECT * FROM entries
                        WHERE $6::text IS NULL AND user_id = $1
                          AND (entry_date, id) < (COALESCE($2::date, 'infinity'),
                                                  COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
                          AND entry_date >= COALESCE($4::date, '-infinity')
                          AND entry_date <= COALESCE($5::date, 'infinity')
                        ORDER BY entry_date DESC, id DESC LIMIT $11)
                      UNION ALL
                      (SELECT * FROM entries
                        WHERE $6::text IS NOT NULL AND user_id::text = $1::text AND mood = $6
                          AND (entry_date, id) < (COALESCE($2::date, 'infinity'),
                                                  COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
                          AND entry_date >= COALESCE($4::date, '-infinity')
                          AND entry_date <= COALESCE($5::date, 'infinity')
                        ORDER BY entry_date DESC, id DESC LIMIT $11)) first_rows
                WHERE ($7::text IS NULL OR $8::text IS NOT NULL)
                  AND ($7::text IS NULL OR tags @> ARRAY[$7])
                  AND ($8::text IS NULL OR search @@ (SELECT websearch_to_tsquery('english', $8)))
                ORDER BY entry_date DESC, id DESC
           ), probe AS MATERIALIZED (
               -- Words that head found (nearly) absent: the caller's postings past head, and
               -- if they are few, all the matches there are.
               SELECT * FROM (SELECT * FROM entries
                     WHERE (SELECT any_of FROM wanted) IS NULL
                       AND entry_filter_keys(user_id, mood, tags, search) @> (SELECT all_of FROM wanted)
                    UNION ALL
                    SELECT * FROM entries
                     WHERE (SELECT any_of FROM wanted) IS NOT NULL
                       AND entry_filter_keys(user_id, mood, tags, search) @> (SELECT all_of FROM wanted)
                       AND entry_filter_keys(user_id, mood, tags, search) && (SELECT any_of FROM wanted)) postings
                WHERE $8::text IS NOT NULL
                  AND EXISTS (SELECT FROM head_end)
                  AND (SELECT count(*) FROM head) < 2
                  AND (user_id = $1) IS TRUE
                  AND ($6::text IS NULL OR mood = $6)
                  AND ($7::text IS NULL OR tags @> ARRAY[$7])
                  AND ($8::text IS NULL OR search @@ (SELECT websearch_to_tsquery('english', $8)))
                  AND entry_date >= COALESCE($4::date, '-infinity')
                  AND (entry_date, id) < (SELECT entry_date, id FROM head_end)
                LIMIT $11::bigint + 1
           ), answered AS (
               SELECT $8::text IS NOT NULL AND EXISTS (SELECT FROM head_end)
                      AND (SELECT count(*) FROM head) < 2
                      AND (SELECT count(*) FROM probe) <= $11 AS by_probe
           )
           (SELECT e.id AS "id!", e.title, e.content AS "content!", e.mood AS "mood: Mood",
                   e.tags AS "tags!", e.entry_date AS "entry_date!", e.created_at AS "created_at!",
                   e.updated_at AS "updated_at!", e.version AS "version!"
              FROM entry_tags AS t JOIN entries AS e ON e.id = t.entry_id
             WHERE $7::text IS NOT NULL AND $8::text IS NULL
               AND t.user_id = $1 AND t.tag = $7
               AND (t.entry_date, t.entry_id) < (COALESCE($2::date, 'infinity'),
                                                 COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
               AND t.entry_date >= COALESCE($4::date, '-infinity')
               AND t.entry_date <= COALESCE($5::date, 'infinity')
               AND ($6::text IS NULL OR t.mood = $6)
               -- The entry itself decides; its owner is checked in a form no index serves, so
               -- the walk can only start from the tag's rows.
               AND (e.user_id = $1) IS TRUE AND e.entry_date = t.entry_date
               AND e.tags @> ARRAY[$7] AND ($6::text IS NULL OR e.mood = $6)
             ORDER BY t.entry_date DESC, t.entry_id DESC LIMIT $9)
           UNION ALL
           (SELECT id, title, content, mood, tags, entry_date, created_at, updated_at, version FROM head)
           UNION ALL
           (SELECT id, title, content, mood, tags, entry_date, created_at, updated_at, version FROM probe
             WHERE (SELECT by_probe FROM answered)
             ORDER BY entry_date DESC, id DESC)
           UNION ALL
           (SELECT id, title, content, mood, tags, entry_date, created_at, updated_at, version
              FROM ((SELECT * FROM entries
                       WHERE $6::text IS NULL AND user_id = $1
                         AND (entry_date, id) < (SELECT entry_date, id FROM head_end)
                         AND entry_date >= COALESCE($4::date, '-infinity')
                         AND entry_date <= COALESCE($5::date, 'infinity')
                       ORDER BY entry_date DESC, id DESC LIMIT $10::bigint - $11::bigint)
                     UNION ALL
                     (SELECT * FROM entries
                       WHERE $6::text IS NOT NULL AND user_id::text = $1::text AND mood = $6
                         AND (entry_date, id) < (SELECT entry_date, id FROM head_end)
                         AND entry_date >= COALESCE($4::date, '-infinity')
                         AND entry_date <= COALESCE($5::date, 'infinity')
                       ORDER BY entry_date DESC, id DESC LIMIT $10::bigint - $11::bigint)) rest
             WHERE ($7::text IS NULL OR $8::text IS NOT NULL)
               AND NOT (SELECT by_probe FROM answered)
               AND ($7::text IS NULL OR tags @> ARRAY[$7])
               AND ($8::text IS NULL OR search @@ (SELECT websearch_to_tsquery('english', $8)))
             ORDER BY entry_date DESC, id DESC LIMIT $9)
           UNION ALL
           (SELECT id, title, content, mood, tags, entry_date, created_at, updated_at, version
              FROM (
                   -- The caller's entries with every key in `all_of`, or, for a search with
                   -- `or`, also one of `any_of`: both read from the same index.
                   SELECT * FROM entries
                     WHERE (SELECT any_of FROM wanted) IS NULL
                       AND entry_filter_keys(user_id, mood, tags, search) @> (SELECT all_of FROM wanted)
                    UNION ALL
                    SELECT * FROM entries
                     WHERE (SELECT any_of FROM wanted) IS NOT NULL
                       AND entry_filter_keys(user_id, mood, tags, search) @> (SELECT all_of FROM wanted)
                       AND entry_filter_keys(user_id, mood, tags, search) && (SELECT any_of FROM wanted)
                   ) beyond
             WHERE $8::text IS NOT NULL
               AND NOT (SELECT by_probe FROM answered)
               AND EXISTS (SELECT FROM window_end)
               AND (user_id = $1) IS TRUE
               AND ($6::text IS NULL OR mood = $6)
               AND ($7::text IS NULL OR tags @> ARRAY[$7])
               AND ($8::text IS NULL OR search @@ (SELECT websearch_to_tsquery('english', $8)))
               AND entry_date >= COALESCE($4::date, '-infinity')
               AND (entry_date, id) < (SELECT entry_date, id FROM window_end)
             ORDER BY entry_date DESC, id DESC LIMIT $9)
           LIMIT $9"#,
        user,
        filter.after.map(|c| c.entry_date),
        filter.after.map(|c| c.id),
        filter.from,
        filter.to,
        filter.mood as Option<Mood>,
        filter.tag,
        filter.q,
        filter.limit,
        FILTER_WINDOW_ROWS,
        FILTER_HEAD_ROWS,
    )
    .fetch(conn)
}

/// Applies the fields present in `patch` and bumps the version; with `expected_version`, only
/// if the stored version still matches. `None` means absent, not the caller's, or stale.
pub(crate) async fn update(
    db: impl PgExecutor<'_>,
    user: Uuid,
    id: Uuid,
    patch: &EntryPatch,
    expected_version: Option<i32>,
) -> Result<Option<Entry>, sqlx::Error> {
    timed(
        "entries_update",
        sqlx::query_as!(
            Entry,
            r#"UPDATE entries SET
                   content = COALESCE($3, content),
                   title = CASE WHEN $4 THEN $5 ELSE title END,
                   mood = CASE WHEN $6 THEN $7 ELSE mood END,
                   tags = COALESCE($8, tags),
                   entry_date = COALESCE($9, entry_date),
                   version = version + 1,
                   updated_at = now()
               WHERE id = $1 AND user_id = $2 AND ($10::int IS NULL OR version = $10)
               RETURNING id, title, content, mood AS "mood: Mood", tags, entry_date,
                         created_at, updated_at, version"#,
            id,
            user,
            patch.content.as_deref(),
            patch.title.is_some(),
            patch.title.clone().flatten(),
            patch.mood.is_some(),
            patch.mood.flatten() as Option<Mood>,
            patch.tags.as_deref(),
            patch.entry_date,
            expected_version,
        )
        .fetch_optional(db),
    )
    .await
}

/// Deletes the entry; false when there was none of the caller's to delete.
pub(crate) async fn delete(
    db: impl PgExecutor<'_>,
    user: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = timed(
        "entries_delete",
        sqlx::query!(
            "DELETE FROM entries WHERE id = $1 AND user_id = $2",
            id,
            user
        )
        .execute(db),
    )
    .await?;
    Ok(done.rows_affected() == 1)
}
