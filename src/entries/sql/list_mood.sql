-- The list by mood: the caller's entries with that mood from the cursor, read in order from
-- entries_owner_mood_date_id_idx. The owner is named as text, as that index keys it, so the
-- date-only index (which would skip the entries of every other mood) is never the cheaper plan.
SELECT id, title, content, mood AS "mood: Mood", tags, entry_date, created_at, updated_at, version
  FROM entries
 WHERE user_id::text = $1::uuid::text AND mood = $7::text
   AND (entry_date, id) < (COALESCE($2::date, 'infinity'),
                           COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
   AND entry_date >= COALESCE($4::date, '-infinity')
   AND entry_date <= COALESCE($5::date, 'infinity')
 ORDER BY entry_date DESC, id DESC
 LIMIT $6
