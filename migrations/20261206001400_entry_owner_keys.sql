-- The list route's owner-scoped keys again (20261206000500), now grouped by owner in the index.
-- entry_filter_keys hashes (owner, kind, value) as a whole, so one person's keys are spread over
-- the whole key order of entries_filter_keys_idx: a create writes its 40 to 80 keys on as many
-- pages scattered across an index that grows with everyone's entries (6 GB at 10 million
-- entries), which stop fitting in memory, and the merge of GIN's pending list visits them all.
-- Here the upper 32 bits of every key are a hash of the owner alone and the lower 32 bits those
-- of entry_filter_key: one person's keys are neighbours, so a create, a merge and a search touch
-- the few pages of that person's range, hot or not depending on that person only. 32 bits within
-- one person's keys still collide rarely, and a collision costs one more row read, never a wrong
-- answer (the list statement checks the filters on the rows).

-- The owner part of every key of an entry of `owner`: `key`'s lower half under the owner's own
-- upper half.
CREATE FUNCTION entry_owner_key(owner uuid, key bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN (hashtextextended(owner::text, 0) & -4294967296) | (key & 4294967295);

-- Every key of an entry, as entry_filter_keys computes them, each under the owner's half. PL/pgSQL
-- and no call of another function of ours, for the reasons in 20261206000800: compiled once per
-- connection, and a restore that builds the index runs with an empty search_path.
CREATE FUNCTION entry_owner_keys(owner uuid, mood text, tags text[], search tsvector)
    RETURNS bigint[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    prefix text := owner::text;
    half bigint := hashtextextended(prefix, 0) & -4294967296;
    low CONSTANT bigint := 4294967295;
    keys bigint[] := ARRAY[half | (hashtextextended(prefix || 'o', 0) & low)];
    value text;
BEGIN
    IF mood IS NOT NULL THEN
        keys := keys || (half | (hashtextextended(prefix || 'm' || mood, 0) & low));
    END IF;
    FOREACH value IN ARRAY COALESCE(tags, '{}') LOOP
        IF value IS NOT NULL THEN
            keys := keys || (half | (hashtextextended(prefix || 't' || value, 0) & low));
        END IF;
    END LOOP;
    FOREACH value IN ARRAY COALESCE(tsvector_to_array(search), '{}') LOOP
        keys := keys || (half | (hashtextextended(prefix || 'w' || value, 0) & low));
    END LOOP;
    RETURN keys;
END
$$;

-- The keys a list request looks for (entry_filter_wanted's), each under the owner's half.
CREATE FUNCTION entry_owner_wanted(owner uuid, mood text, tag text, words tsquery)
    RETURNS TABLE (all_of bigint[], any_of bigint[])
    LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 1
BEGIN ATOMIC
    SELECT ARRAY(SELECT entry_owner_key(owner, key) FROM unnest(wanted.all_of) AS key),
           CASE WHEN wanted.any_of IS NOT NULL
                THEN ARRAY(SELECT entry_owner_key(owner, key) FROM unnest(wanted.any_of) AS key)
           END
      FROM entry_filter_wanted(owner, mood, tag, words) AS wanted;
END;
