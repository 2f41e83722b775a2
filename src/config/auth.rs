//! Settings of tokens, sessions, password hashing and the throttles in front of them.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::secrets::{DEVELOPMENT_JWT_SECRET, serialize_redacted};

/// Tokens, sessions, password hashing and login throttling.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// HMAC key that signs access tokens.
    #[serde(serialize_with = "serialize_redacted")]
    pub jwt_secret: SecretString,
    /// File holding the signing key; wins over `jwt_secret`.
    pub jwt_secret_file: Option<PathBuf>,
    /// Lifetime of an access token. Short, because a token is checked without a query: revoking
    /// its session reaches every replica at once, but a token issued by a release without
    /// sessions stays valid until it expires. `token_ttl_secs`, the earlier name, still works.
    #[serde(alias = "token_ttl_secs")]
    pub access_token_ttl_secs: u64,
    /// Lifetime of a refresh token; every refresh issues a new one, so a session used at least
    /// this often never ends by itself.
    pub refresh_token_ttl_secs: u64,
    /// Failed logins for one account from one client address within the window before that pair
    /// answers 429. Small: a stranger's guesses lock out only the stranger's address, and the
    /// owner still logs in from their own.
    pub login_max_failures_per_account_address: u32,
    /// Failed logins for one account from all addresses within the window before the account
    /// answers 429 to everyone: the stop for guessing spread over many addresses.
    pub login_max_failures_per_account: u32,
    /// Failed logins from one client address over all accounts within the window before it
    /// answers 429: the stop for one address trying many accounts. Generous, because many people
    /// may share an address (an office, a mobile carrier's NAT).
    pub login_max_failures_per_address: u32,
    /// Length of the window failures are counted in, and so the longest lockout.
    pub login_window_secs: u64,
    /// Registrations from one client address within the registration window before 429.
    pub register_max_per_address: u32,
    /// Length of the window registrations are counted in.
    pub register_window_secs: u64,
    /// Password-reset requests from one client address within the reset window before 429.
    pub password_reset_max_per_address: u32,
    /// Password-reset requests for one email within the reset window before 429: nobody can
    /// flood a person's inbox.
    pub password_reset_max_per_email: u32,
    /// Length of the window reset requests are counted in.
    pub password_reset_window_secs: u64,
    /// Password hashes and checks that may wait for a hashing thread; beyond that a request
    /// answers 503 with `Retry-After` at once.
    pub password_hash_queue: usize,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: SecretString::from(DEVELOPMENT_JWT_SECRET),
            jwt_secret_file: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 60 * 60,
            login_max_failures_per_account_address: 5,
            login_max_failures_per_account: 50,
            login_max_failures_per_address: 100,
            login_window_secs: 15 * 60,
            register_max_per_address: 20,
            register_window_secs: 60 * 60,
            password_reset_max_per_address: 10,
            password_reset_max_per_email: 3,
            password_reset_window_secs: 60 * 60,
            password_hash_queue: 32,
        }
    }
}

impl AuthSettings {
    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }

    pub fn refresh_token_ttl(&self) -> Duration {
        Duration::from_secs(self.refresh_token_ttl_secs)
    }

    /// Rejects values the service cannot run with, naming the key to fix.
    pub(super) fn check(&self) -> anyhow::Result<()> {
        for (key, value) in [
            (
                "LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS",
                self.login_max_failures_per_account_address,
            ),
            (
                "LOGIN_MAX_FAILURES_PER_ACCOUNT",
                self.login_max_failures_per_account,
            ),
            (
                "LOGIN_MAX_FAILURES_PER_ADDRESS",
                self.login_max_failures_per_address,
            ),
            ("REGISTER_MAX_PER_ADDRESS", self.register_max_per_address),
            (
                "PASSWORD_RESET_MAX_PER_ADDRESS",
                self.password_reset_max_per_address,
            ),
            (
                "PASSWORD_RESET_MAX_PER_EMAIL",
                self.password_reset_max_per_email,
            ),
        ] {
            anyhow::ensure!(
                value > 0,
                "ECHODIARY__AUTH__{key} must be at least 1 (0 would refuse everyone)"
            );
        }
        for (key, value) in [
            ("LOGIN_WINDOW_SECS", self.login_window_secs),
            ("REGISTER_WINDOW_SECS", self.register_window_secs),
            (
                "PASSWORD_RESET_WINDOW_SECS",
                self.password_reset_window_secs,
            ),
            ("ACCESS_TOKEN_TTL_SECS", self.access_token_ttl_secs),
        ] {
            anyhow::ensure!(value > 0, "ECHODIARY__AUTH__{key} must be at least 1");
        }
        anyhow::ensure!(
            self.refresh_token_ttl_secs >= self.access_token_ttl_secs,
            "ECHODIARY__AUTH__REFRESH_TOKEN_TTL_SECS must be at least ACCESS_TOKEN_TTL_SECS"
        );
        Ok(())
    }
}
