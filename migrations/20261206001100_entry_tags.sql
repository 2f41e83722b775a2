-- The list route's `tag` (with or without `mood`; src/entries/sql/list_tag.sql) reads one
-- person's entries with a tag newest first from a table of its own, from the cursor on: a page
-- costs one page however rare the tag is in that diary and however many entries others have.
-- Before it, a rare tag read the caller's next 200 entries in date order and then the tag's
-- postings in the GIN index: about 200 heap pages for a page of one entry.
--
-- One row per entry and tag, keyed like the list's order; the mood rides along in the index so a
-- tag and a mood together are filtered without reading the rows that lack the mood. The entry's
-- own row stays the truth: the list checks the tag, date, mood and owner on it again, so a row
-- left here by the backfill's race with a write (20261206001200) costs a read, never a wrong
-- answer.
CREATE TABLE entry_tags (
    user_id    uuid NOT NULL,
    tag        text NOT NULL,
    entry_date date NOT NULL,
    entry_id   uuid NOT NULL,
    mood       text,
    CONSTRAINT entry_tags_pkey PRIMARY KEY (user_id, tag, entry_date, entry_id) INCLUDE (mood)
);

-- Kept by the database on every write path (the API, a restore's replay, a hand-written fix), so
-- it cannot drift from `entries`. An entry without tags costs its insert nothing: the trigger
-- does not fire for it.
CREATE FUNCTION entry_tags_follow() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM entry_tags
         WHERE user_id = OLD.user_id AND tag = ANY (OLD.tags)
           AND entry_date = OLD.entry_date AND entry_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO entry_tags (user_id, tag, entry_date, entry_id, mood)
        SELECT NEW.user_id, tag, NEW.entry_date, NEW.id, NEW.mood FROM unnest(NEW.tags) AS tag
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

-- Creating a trigger waits for the writes in flight and holds new ones back while it does; the
-- lock timeout makes the migration fail, to be retried, rather than queue writers behind a long
-- transaction.
SET LOCAL lock_timeout = '10s';

CREATE TRIGGER entry_tags_on_insert AFTER INSERT ON entries
    FOR EACH ROW WHEN (cardinality(NEW.tags) > 0) EXECUTE FUNCTION entry_tags_follow();
CREATE TRIGGER entry_tags_on_delete AFTER DELETE ON entries
    FOR EACH ROW WHEN (cardinality(OLD.tags) > 0) EXECUTE FUNCTION entry_tags_follow();
-- Every PATCH sets the columns, changed or not: only a real change rewrites the entry's rows.
CREATE TRIGGER entry_tags_on_update AFTER UPDATE OF tags, entry_date, mood, user_id ON entries
    FOR EACH ROW
    WHEN (OLD.tags IS DISTINCT FROM NEW.tags OR OLD.entry_date IS DISTINCT FROM NEW.entry_date
          OR OLD.mood IS DISTINCT FROM NEW.mood OR OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION entry_tags_follow();
