-- The same keys as 20261206000500's entry_filter_keys, computed without its sub-select. A SQL
-- function with a sub-select is never inlined, and PostgreSQL plans its body again in every
-- statement that calls it: about 190 us of CPU for each INSERT and each UPDATE of an entry
-- through entries_filter_keys_idx, more than the rest of the insert. PL/pgSQL compiles a function
-- once per connection, and this loop runs no query at all (about 10 us).
--
-- Every key is bit for bit the one entry_filter_key gives (the list statement's side), so the
-- index built with the previous body stays valid and is not rebuilt. The body names only
-- pg_catalog functions and types: a restore runs with an empty search_path.
CREATE OR REPLACE FUNCTION entry_filter_keys(owner uuid, mood text, tags text[], search tsvector)
    RETURNS bigint[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    prefix text := owner::text;
    keys bigint[] := ARRAY[hashtextextended(prefix || 'o', 0)];
    value text;
BEGIN
    IF mood IS NOT NULL THEN
        keys := keys || hashtextextended(prefix || 'm' || mood, 0);
    END IF;
    FOREACH value IN ARRAY COALESCE(tags, '{}') LOOP
        IF value IS NOT NULL THEN
            keys := keys || hashtextextended(prefix || 't' || value, 0);
        END IF;
    END LOOP;
    FOREACH value IN ARRAY COALESCE(tsvector_to_array(search), '{}') LOOP
        keys := keys || hashtextextended(prefix || 'w' || value, 0);
    END LOOP;
    RETURN keys;
END
$$;
