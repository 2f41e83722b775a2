-- no-transaction
-- The rows of the entries written before 20261206001100's trigger, one person at a time and
-- committed every thousand people, so a large table is not copied in one transaction that holds
-- back vacuum for its whole length. The trigger keeps every write from then on, so nothing is
-- missed; a write racing the copy can leave a row here for an entry that no longer has that tag,
-- date or mood, which the clean-up right after removes (and which the list ignores meanwhile).
-- Run again (a migration interrupted halfway), it adds only what is missing.
DO $$
DECLARE
    owner uuid;
    done integer := 0;
BEGIN
    FOR owner IN SELECT id FROM users ORDER BY id LOOP
        INSERT INTO entry_tags (user_id, tag, entry_date, entry_id, mood)
        SELECT e.user_id, tag, e.entry_date, e.id, e.mood
          FROM entries AS e, unnest(e.tags) AS tag
         WHERE e.user_id = owner
        ON CONFLICT DO NOTHING;
        DELETE FROM entry_tags AS t
         WHERE t.user_id = owner
           AND NOT EXISTS (SELECT FROM entries AS e
                            WHERE e.id = t.entry_id AND e.user_id = t.user_id
                              AND e.entry_date = t.entry_date AND e.tags @> ARRAY[t.tag]
                              AND e.mood IS NOT DISTINCT FROM t.mood);
        done := done + 1;
        IF done % 1000 = 0 THEN
            COMMIT;
        END IF;
    END LOOP;
END
$$;
