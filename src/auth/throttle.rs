//! Login failure throttling, per account and per client address.
//!
//! Only failures count (a generic rate limiter such as `governor` counts every attempt, and a
//! successful login must neither count nor be blocked by its own success), and a success clears the
//! account's record. The per-client limit is higher than the per-account one so a shared address
//! (an office NAT) is not locked out by one person's typos, while a single client still cannot
//! spray guesses across many accounts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Above this many tracked keys, expired ones are swept so memory stays bounded.
const SWEEP_THRESHOLD: usize = 10_000;

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Client(IpAddr),
}

struct Window {
    failures: u32,
    started: Instant,
}

pub(crate) struct LoginThrottle {
    per_account: u32,
    per_client: u32,
    window: Duration,
    failures: Mutex<HashMap<Key, Window>>,
}

impl LoginThrottle {
    pub(crate) fn new(per_account: u32, per_client: u32, window: Duration) -> Self {
        Self {
            per_account,
            per_client,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` when either the account or the client has used up its failures.
    pub(crate) fn check(&self, account: &str, client: Option<IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        let failures = self.failures.lock();
        let blocked = |key: Key, limit: u32| {
            failures.get(&key).and_then(|w| {
                let age = now.duration_since(w.started);
                (age < self.window && w.failures >= limit).then(|| self.window - age)
            })
        };
        let account_wait = blocked(Key::Account(account.to_owned()), self.per_account);
        let client_wait = client.and_then(|ip| blocked(Key::Client(ip), self.per_client));
        match account_wait.max(client_wait) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    pub(crate) fn record_failure(&self, account: &str, client: Option<IpAddr>) {
        let now = Instant::now();
        let mut failures = self.failures.lock();
        if failures.len() > SWEEP_THRESHOLD {
            failures.retain(|_, w| now.duration_since(w.started) < self.window);
        }
        let keys = std::iter::once(Key::Account(account.to_owned())).chain(client.map(Key::Client));
        for key in keys {
            let window = failures.entry(key).or_insert(Window {
                failures: 0,
                started: now,
            });
            if now.duration_since(window.started) >= self.window {
                *window = Window {
                    failures: 0,
                    started: now,
                };
            }
            window.failures += 1;
        }
    }

    pub(crate) fn record_success(&self, account: &str) {
        self.failures
            .lock()
            .remove(&Key::Account(account.to_owned()));
    }
}
