//! Argon2id password hashing on a few dedicated low-priority threads.
//!
//! Each hash costs ~19 MiB and tens of milliseconds of CPU by design. Two properties matter more
//! than login latency:
//! - A login storm must not starve every other request. The hashing threads run at a lower
//!   scheduling priority (a higher nice value), so the kernel hands the CPU to the async workers
//!   and PostgreSQL first and hashing gets what is left; logins slow down, reads do not.
//! - Memory must stay flat. The allocator keeps a freed 19 MiB block in the arena of the thread
//!   that used it, so hashing on the (growing, shrinking) blocking pool left one such block behind
//!   per thread it ever touched; a fixed set of threads bounds that to one block each, and the
//!   last job in line hands its block back to the OS (without that, a login left the process
//!   larger for good: bench/README.md, "Where the time goes").

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::error::ApiError;

/// The hashing threads' nice value: each gets roughly a tenth of the CPU share of a normal
/// thread while others are runnable, and all of an otherwise idle core.
const HASHING_NICENESS: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub(crate) struct Passwords {
    /// One permit per hashing thread plus one per queue place. A request that finds none answers
    /// 503 at once: waiting would only hold its connection and memory while the queue, which
    /// already holds more work than the threads finish in a second or so, drains.
    admission: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
    /// Jobs sent and not yet started.
    waiting: Arc<AtomicUsize>,
}

/// A place in the hashing queue, taken before any other work is done for the request. Its one
/// hash or check runs on a hashing thread; the place frees when that thread is done.
pub(crate) struct HashPermit {
    slot: OwnedSemaphorePermit,
    jobs: mpsc::Sender<Job>,
    waiting: Arc<AtomicUsize>,
}

impl Passwords {
    /// Starts half the cores' worth of hashing threads (at least one) and admits up to `queue`
    /// waiting jobs beyond the running ones. The threads end when the last clone of this handle
    /// (and of any permit) is dropped.
    pub(crate) fn new(queue: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = (cores / 2).max(1);
        let (jobs, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..threads {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{n}"))
                .spawn(move || {
                    lower_this_threads_priority();
                    // The lock is only held while waiting; the hash runs after it is released.
                    loop {
                        let job = receiver.lock().recv();
                        match job {
                            Ok(job) => job(),
                            Err(mpsc::RecvError) => break,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Self {
            admission: Arc::new(Semaphore::new(threads + queue)),
            jobs,
            waiting: Arc::default(),
        }
    }

    /// A place in the queue, or 503 + `Retry-After` at once when it is full.
    pub(crate) fn admit(&self) -> Result<HashPermit, ApiError> {
        let slot = Arc::clone(&self.admission)
            .try_acquire_owned()
            .map_err(|_| {
                ApiError::Unavailable("too many password checks at once; retry shortly")
            })?;
        Ok(HashPermit {
            slot,
            jobs: self.jobs.clone(),
            waiting: Arc::clone(&self.waiting),
        })
    }
}

impl HashPermit {
    /// The PHC string (`$argon2id$v=19$...`) for a new password, with a fresh random salt.
    pub(crate) async fn hash(self, password: String) -> Result<String, ApiError> {
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
        self,
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
        self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let Self {
            slot,
            jobs,
            waiting,
        } = self;
        let (done, result) = oneshot::channel();
        waiting.fetch_add(1, Ordering::SeqCst);
        let job: Job = Box::new(move || {
            waiting.fetch_sub(1, Ordering::SeqCst);
            // A request that gave up (client gone, deadline passed) does not cost a hash.
            let outcome = (!done.is_closed()).then(work);
            // The last job in line hands the hash's memory back before it answers (the thread
            // runs at low priority: later, it could be starved while the memory stays taken).
            // Not between queued jobs, which would only take it back at once.
            if waiting.load(Ordering::SeqCst) == 0 {
                crate::memory::return_freed_memory();
            }
            // The place frees when the thread is done with it (not when the request stops
            // waiting), and before the answer goes out, so the caller finds it free again.
            drop(slot);
            if let Some(outcome) = outcome {
                let _ = done.send(outcome);
            }
        });
        jobs.send(job)
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("the hashing threads are gone")))?;
        result
            .await
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("a hashing thread stopped mid-job")))
    }
}

/// Best effort: without the permission to renice (some sandboxes), hashing still works, only at
/// normal priority, and the log says so once per thread.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        // On Linux a nice value belongs to a thread, addressed by its thread id.
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), HASHING_NICENESS) {
            tracing::warn!(error = %e, "could not lower the password hashing thread's priority");
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_a_finished_job_frees_its_place() {
        let passwords = Passwords::new(1);
        let mut held: Vec<HashPermit> = Vec::new();
        while let Ok(permit) = passwords.admit() {
            held.push(permit);
            assert!(held.len() <= 64, "admission never ran out");
        }
        let threads = held.len() - 1;
        assert!(
            threads >= 1,
            "one place per hashing thread plus the queue's one"
        );
        assert!(matches!(passwords.admit(), Err(ApiError::Unavailable(_))));
        let permit = held.pop().expect("a permit");
        assert!(
            permit
                .verify("guess".into(), None)
                .await
                .is_ok_and(|ok| !ok)
        );
        assert!(
            passwords.admit().is_ok(),
            "the finished check gave its place back"
        );
    }
}
