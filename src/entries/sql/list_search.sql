-- The list with a search (`q`, maybe with a tag and a mood): three parts, run in order, the outer
-- LIMIT stopping before the next starts when the ones before it fill the page.
-- - `recent`: the next $10 of the caller's entries from the cursor, read in date order from
--   entries_user_date_id_idx, that pass the filters. A search most entries pass fills its page
--   here. Materialized, so that what it found can be counted without reading it again.
-- - `further`: only when that window is full, leaves the page short and still held at least $11
--   matches (a word in one entry in twenty or more), up to $12 more entries in date order: the
--   matches still missing lie close by, and the index below would fetch every match the diary
--   holds past the window to sort them (src/entries/list.rs says how many).
-- - `beyond`: when what was read in date order is full and still leaves the page short, the
--   caller's matches past it, from the GIN index entries_owner_keys_idx. Its keys are hashes of
--   (owner, mood), (owner, tag) and (owner, word) under the owner's own upper half, so one
--   person's keys are neighbours in the index: entry_owner_wanted turns the request into the keys
--   every match has (`all_of`) and, for a search with `or`, the keys of which it has one
--   (`any_of`; otherwise `all_of` again), so the index returns only the caller's entries with
--   them, however common the word is in other people's entries. The rows are then checked
--   against the filters themselves (a hash may collide; `-word` is not in the keys), the owner as
--   `(user_id = $1) IS TRUE`, which no index serves, so the date-ordered btree cannot be chosen to
--   walk a whole diary for a rare word.
-- The tsquery is parsed once per statement (`words`), not once per row.
WITH window_end AS (
    SELECT entry_date, id FROM entries
     WHERE user_id = $1
       AND (entry_date, id) < (COALESCE($2::date, 'infinity'),
                               COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
       AND entry_date >= COALESCE($4::date, '-infinity')
       AND entry_date <= COALESCE($5::date, 'infinity')
     ORDER BY entry_date DESC, id DESC OFFSET $10::bigint - 1 LIMIT 1
), words AS (
    SELECT websearch_to_tsquery('english', $9) AS query
), wanted AS (
    SELECT all_of, COALESCE(any_of, all_of) AS any_of
      FROM words, entry_owner_wanted($1, $7::text, $8::text, words.query)
), recent AS MATERIALIZED (
    SELECT * FROM (SELECT * FROM entries
                    WHERE user_id = $1
                      AND (entry_date, id) < (COALESCE($2::date, 'infinity'),
                                              COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
                      AND entry_date >= COALESCE($4::date, '-infinity')
                      AND entry_date <= COALESCE($5::date, 'infinity')
                    ORDER BY entry_date DESC, id DESC LIMIT $10) AS window_rows
     WHERE ($7::text IS NULL OR mood = $7::text)
       AND ($8::text IS NULL OR tags @> ARRAY[$8::text])
       AND search @@ (SELECT query FROM words)
), dense AS (
    SELECT count(*) >= $11::bigint AS walk FROM recent
), read_end AS (
    -- Where the date-ordered reading ended: past `further` when it ran, else past `recent`. No
    -- row when that reading did not fill up (the diary ended inside it): nothing lies beyond.
    (SELECT entry_date, id FROM entries
      WHERE (SELECT walk FROM dense)
        AND user_id = $1
        AND (entry_date, id) < (SELECT entry_date, id FROM window_end)
        AND entry_date >= COALESCE($4::date, '-infinity')
        AND entry_date <= COALESCE($5::date, 'infinity')
      ORDER BY entry_date DESC, id DESC OFFSET $12::bigint - 1 LIMIT 1)
    UNION ALL
    SELECT entry_date, id FROM window_end WHERE NOT (SELECT walk FROM dense)
)
-- In the window's order: a CTE returns its rows in the order it made them.
(SELECT id AS "id!", title, content AS "content!", mood AS "mood: Mood", tags AS "tags!",
        entry_date AS "entry_date!", created_at AS "created_at!", updated_at AS "updated_at!",
        version AS "version!"
   FROM recent LIMIT $6)
UNION ALL
(SELECT id, title, content, mood, tags, entry_date, created_at, updated_at, version
   FROM (SELECT * FROM entries
          WHERE user_id = $1
            AND (entry_date, id) < (SELECT entry_date, id FROM window_end)
            AND entry_date >= COALESCE($4::date, '-infinity')
            AND entry_date <= COALESCE($5::date, 'infinity')
          ORDER BY entry_date DESC, id DESC LIMIT $12) AS further
  WHERE (SELECT walk FROM dense)
    AND ($7::text IS NULL OR mood = $7::text)
    AND ($8::text IS NULL OR tags @> ARRAY[$8::text])
    AND search @@ (SELECT query FROM words)
  ORDER BY entry_date DESC, id DESC LIMIT $6)
UNION ALL
(SELECT id, title, content, mood, tags, entry_date, created_at, updated_at, version
   FROM entries
  WHERE EXISTS (SELECT FROM read_end)
    AND entry_owner_keys(user_id, mood, tags, search) @> (SELECT all_of FROM wanted)
    AND entry_owner_keys(user_id, mood, tags, search) && (SELECT any_of FROM wanted)
    AND (user_id = $1) IS TRUE
    AND ($7::text IS NULL OR mood = $7::text)
    AND ($8::text IS NULL OR tags @> ARRAY[$8::text])
    AND search @@ (SELECT query FROM words)
    AND entry_date >= COALESCE($4::date, '-infinity')
    AND (entry_date, id) < (SELECT entry_date, id FROM read_end)
  ORDER BY entry_date DESC, id DESC LIMIT $6)
LIMIT $6
