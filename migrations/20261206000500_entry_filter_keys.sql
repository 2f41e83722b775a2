-- The list route's `tag`, `q` and `mood` beyond its date-ordered window (src/entries/db.rs) are
-- answered from keys that belong to one person: a hash of (owner, kind, value) for the owner
-- itself, the mood, each tag and each word (lexeme) of the entry. A GIN index over them
-- (20261206000600) holds one posting list per person and word, so finding someone's entries
-- with a word reads that person's matches and nothing of anyone else's, whether the word is in a
-- hundred entries of the table or in a million. The btree_gin index it replaces intersected the
-- owner's postings with the word's postings over the whole table, which grow with everyone's
-- data. A hash can collide: the statement also checks the owner, tag, mood and words themselves,
-- so a collision costs one more row read, never a wrong answer.

-- One key: 64 bits of PostgreSQL's own text hash (stable across versions: hash partitioning
-- relies on it). `kind` is one letter, so keys of different kinds never share their input.
CREATE FUNCTION entry_filter_key(owner uuid, kind text, value text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN hashtextextended(owner::text || kind || value, 0);

-- Every key of an entry: its owner ('o', what a search that names no word at all starts from),
-- its mood ('m'), its tags ('t') and its words ('w').
CREATE FUNCTION entry_filter_keys(owner uuid, mood text, tags text[], search tsvector)
    RETURNS bigint[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ARRAY(
        SELECT entry_filter_key(owner, 'o', '')
        UNION ALL SELECT entry_filter_key(owner, 'm', mood) WHERE mood IS NOT NULL
        UNION ALL SELECT entry_filter_key(owner, 't', tag) FROM unnest(tags) AS tag
                   WHERE tag IS NOT NULL
        UNION ALL SELECT entry_filter_key(owner, 'w', word)
                    FROM unnest(tsvector_to_array(search)) AS word);

-- The keys a list request looks for. `all_of`: every one must be there (the mood, the tag, and
-- the words when the search needs all of them: words and phrases); `any_of`: at least one (the
-- words of a search with `or`). The words are those of `querytree`, the part of the search an
-- index can answer (a `-word` is checked on the rows). A search that leaves no such word looks
-- among all the owner's entries; one without any lexeme at all (only stop words) matches
-- nothing, and gets a key no entry has.
CREATE FUNCTION entry_filter_wanted(owner uuid, mood text, tag text, words tsquery)
    RETURNS TABLE (all_of bigint[], any_of bigint[])
    LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 1
BEGIN ATOMIC
    SELECT CASE WHEN cardinality(wanted.required) > 0 THEN wanted.required
                ELSE ARRAY[entry_filter_key(owner, 'o', '')] END,
           wanted.one_of
      FROM (SELECT querytree(words) AS tree) AS indexable,
           LATERAL (SELECT regexp_replace(indexable.tree, $$'(?:[^']|'')*'$$, '', 'g')
                        AS operators) AS search,
           LATERAL (SELECT array_agg(entry_filter_key(owner, 'w',
                               regexp_replace(token[1], $$(['\\])\1$$, '\1', 'g'))) AS keys
                      FROM regexp_matches(indexable.tree, $$'((?:[^']|'')*)'$$, 'g') AS token)
               AS lexemes,
           LATERAL (SELECT array_remove(ARRAY[entry_filter_key(owner, 'm', mood),
                                              entry_filter_key(owner, 't', tag)], NULL)
                           || CASE WHEN numnode(words) = 0
                                       THEN ARRAY[entry_filter_key(owner, 'x', '')]
                                   WHEN search.operators ~ '[!|]' OR search.operators = 'T'
                                       THEN '{}'
                                   ELSE lexemes.keys END AS required,
                           CASE WHEN search.operators ~ '[|]' AND search.operators !~ '[!]'
                                THEN lexemes.keys END AS one_of) AS wanted;
END;
