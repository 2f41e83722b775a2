-- Sessions with rotating refresh tokens, the revocations every replica must know about, and
-- password-reset tokens.
--
-- Expand only: the previous release never reads these tables, logs in and checks its stateless
-- tokens as before, and keeps working during a rolling deploy. Nothing here changes a table it
-- uses (the throttle scope list only grows).

-- One row per signed-in device. A revoked session is deleted (its refresh tokens go with it);
-- what replicas need to refuse its access tokens is in `session_revocations`.
CREATE TABLE sessions (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Login or the last refresh: access tokens are checked without touching this table.
    last_used_at timestamptz NOT NULL DEFAULT now(),
    -- When the newest refresh token expires; after it the session is dead and cleaned up.
    expires_at   timestamptz NOT NULL,
    user_agent   text
);

-- The caller's sessions, newest first (listing, and revoking all of an account's).
CREATE INDEX sessions_user_id_created_at_idx ON sessions (user_id, created_at DESC);
-- Finds expired sessions for the clean-up that runs with each login.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Refresh tokens, stored only as SHA-256 hashes. A spent one stays until its session ends, so
-- presenting it again is recognised as reuse (a stolen token) and revokes the session.
CREATE TABLE refresh_tokens (
    token_hash bytea   PRIMARY KEY,
    session_id uuid    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    spent      boolean NOT NULL DEFAULT false
);

CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

-- Sessions revoked while access tokens naming them may still be unexpired. Every replica keeps
-- these in memory (fed by NOTIFY, resynchronised from here after its listener reconnects), so
-- checking a token costs no query. No foreign key: the session row is already gone.
CREATE TABLE session_revocations (
    session_id uuid        PRIMARY KEY,
    -- No access token of the session is valid after this (revocation time + access token TTL).
    expires_at timestamptz NOT NULL
);

CREATE INDEX session_revocations_expires_at_idx ON session_revocations (expires_at);

-- Password-reset tokens, stored only as SHA-256 hashes; single-use and short-lived.
CREATE TABLE password_reset_tokens (
    token_hash bytea       PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

CREATE INDEX password_reset_tokens_user_id_idx ON password_reset_tokens (user_id);
CREATE INDEX password_reset_tokens_expires_at_idx ON password_reset_tokens (expires_at);

-- Reset requests are throttled like logins: per client address and per email.
ALTER TABLE auth_throttle DROP CONSTRAINT auth_throttle_scope_check;
ALTER TABLE auth_throttle ADD CONSTRAINT auth_throttle_scope_check CHECK (
    scope IN ('login_account_address', 'login_account', 'login_address', 'register_address',
              'reset_address', 'reset_email')
);
