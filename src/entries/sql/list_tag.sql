-- The list by tag (and mood): the tag's rows in entry_tags from the cursor, newest first, the
-- mood filtered in that index, and each kept row's entry read by its key. A page costs one page
-- however rare the tag is. The entry's own row decides (see the migration that builds
-- entry_tags); its owner is checked in a form no index serves, so the walk can only start from
-- the tag's rows.
SELECT e.id, e.title, e.content, e.mood AS "mood: Mood", e.tags, e.entry_date, e.created_at,
       e.updated_at, e.version
  FROM entry_tags AS t
  JOIN entries AS e ON e.id = t.entry_id
 WHERE t.user_id = $1 AND t.tag = $8
   AND (t.entry_date, t.entry_id) < (COALESCE($2::date, 'infinity'),
                                     COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
   AND t.entry_date >= COALESCE($4::date, '-infinity')
   AND t.entry_date <= COALESCE($5::date, 'infinity')
   AND ($7::text IS NULL OR t.mood = $7::text)
   AND (e.user_id = $1) IS TRUE AND e.entry_date = t.entry_date
   AND e.tags @> ARRAY[$8::text] AND ($7::text IS NULL OR e.mood = $7::text)
 ORDER BY t.entry_date DESC, t.entry_id DESC
 LIMIT $6
