//! The readiness cache: one passing check answers every probe for a short while.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// When the last readiness check passed, so one check answers every probe for a short while.
/// Only passes are remembered: a failing instance is re-checked on every probe and reports ready
/// the moment the database is back.
pub(crate) struct RecentlyReady {
    passed_at: Mutex<Option<Instant>>,
    reuse_for: Duration,
}

impl RecentlyReady {
    pub(crate) fn new(reuse_for: Duration) -> Self {
        Self {
            passed_at: Mutex::new(None),
            reuse_for,
        }
    }

    pub(crate) fn fresh(&self) -> bool {
        self.passed_at
            .lock()
            .is_some_and(|at| at.elapsed() < self.reuse_for)
    }

    pub(crate) fn passed(&self) {
        *self.passed_at.lock() = Some(Instant::now());
    }
}
