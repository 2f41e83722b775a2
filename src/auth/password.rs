//! Argon2id password hashing, kept off the async workers and bounded in concurrency.
//!
//! Each hash costs ~19 MiB and tens of milliseconds of CPU by design. Running it on the blocking
//! pool behind a semaphore means a login storm queues for a share of the cores instead of starving
//! every other request or ballooning memory.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// How long a login waits for a hashing slot before answering 503 rather than queueing forever.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub(crate) struct Passwords {
    slots: Arc<Semaphore>,
}

impl Passwords {
    pub(crate) fn new() -> Self {
        // Half the cores (at least one) hash; the rest keep serving everything else.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            slots: Arc::new(Semaphore::new((cores / 2).max(1))),
        }
    }

    /// The PHC string (`$argon2id$v=19$...`) for a new password, with a fresh random salt.
    pub(crate) async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.run(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing a password: {e}")))
        })
        .await?
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown account) a dummy hash is
    /// checked anyway, so response time does not reveal which emails have accounts.
    pub(crate) async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, ApiError> {
        self.run(move || {
            let known = stored.is_some();
            let phc = stored.unwrap_or_else(|| dummy_hash().to_owned());
            let matches = PasswordHash::new(&phc)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false);
            known && matches
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _slot = tokio::time::timeout(QUEUE_TIMEOUT, self.slots.acquire())
            .await
            .map_err(|_| ApiError::Unavailable("too many logins at once; retry shortly"))?
            .map_err(|e| ApiError::Internal(e.into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::Internal(e.into()))
    }
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"not a real password, only here to spend the same time")
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}
