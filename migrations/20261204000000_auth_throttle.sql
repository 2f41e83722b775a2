-- Login and registration throttling, shared by every replica and surviving restarts and deploys.
--
-- One row per counted bucket and window. An attempt is reserved (the counter raised) before the
-- password is hashed, under the row's lock, so concurrent attempts cannot overrun a limit; a
-- successful login gives its reservation back. Rows whose window has ended are deleted a few at
-- a time by the writes themselves (no cron job), so the table only holds the last window's
-- activity. Additive only: the previous release never reads it.

CREATE TABLE auth_throttle (
    -- What is counted: `login_account_address` (failed logins of one account from one address),
    -- `login_account` (of one account from anywhere), `login_address` (from one address, over
    -- all accounts), `register_address` (registrations from one address).
    scope       text        NOT NULL,
    -- The normalised email for the login scopes; '' where the scope has none.
    account     text        NOT NULL DEFAULT '',
    -- The client address (IPv4, or the /64 of an IPv6 address); '' where the scope has none or
    -- the address is unknown.
    address     text        NOT NULL DEFAULT '',
    attempts    integer     NOT NULL,
    window_ends timestamptz NOT NULL,
    CONSTRAINT auth_throttle_pkey PRIMARY KEY (scope, account, address),
    CONSTRAINT auth_throttle_scope_check CHECK (
        scope IN ('login_account_address', 'login_account', 'login_address', 'register_address')
    )
);

-- Finds expired rows for the clean-up that runs with each reservation.
CREATE INDEX auth_throttle_window_ends_idx ON auth_throttle (window_ends);
