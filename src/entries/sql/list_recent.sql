-- The list with no filter but dates: the caller's entries from the cursor, read in order from
-- entries_user_date_id_idx.
SELECT id, title, content, mood AS "mood: Mood", tags, entry_date, created_at, updated_at, version
  FROM entries
 WHERE user_id = $1
   AND (entry_date, id) < (COALESCE($2::date, 'infinity'),
                           COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
   AND entry_date >= COALESCE($4::date, '-infinity')
   AND entry_date <= COALESCE($5::date, 'infinity')
 ORDER BY entry_date DESC, id DESC
 LIMIT $6
