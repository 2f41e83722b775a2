-- Initial schema: accounts and their diary entries.
--
-- Constraint names are part of the contract with the code: the API maps
-- `users_email_key` to 409 Conflict, so rename them only together with src/error.rs.

CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    -- Stored already lower-cased by the service; the unique index makes the
    -- "one account per address" rule hold even under concurrent registrations.
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    display_name  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE entries (
    -- UUIDv7 from the service: time-ordered, so inserts append to the index.
    id          uuid        PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       text,
    content     text        NOT NULL,
    mood        text,
    tags        text[]      NOT NULL DEFAULT '{}',
    entry_date  date        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    version     integer     NOT NULL DEFAULT 1,
    -- Maintained by PostgreSQL so search can never drift from the text it indexes.
    search      tsvector    GENERATED ALWAYS AS (
                    setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
                    || setweight(to_tsvector('english'::regconfig, content), 'B')
                ) STORED,
    CONSTRAINT entries_mood_check CHECK (mood IN ('great', 'good', 'okay', 'bad', 'awful'))
);

-- Serves the list route: one user's entries, newest entry_date first, id as tie-breaker
-- (the keyset the cursor encodes).
CREATE INDEX entries_user_date_id_idx ON entries (user_id, entry_date DESC, id DESC);
-- Full-text search (`q`) and tag filter (`tag`).
CREATE INDEX entries_search_idx ON entries USING gin (search);
CREATE INDEX entries_tags_idx ON entries USING gin (tags);
