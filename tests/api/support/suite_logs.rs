//! Every log line the suite produces, kept on disk so that tools/checks/logscan.py can prove
//! none of them carries a secret, credential, email or diary text (the in-test assertions only
//! see the runs they make themselves).
//!
//! The directory is `ECHODIARY_TEST_LOG_DIR`, else `<CARGO_TARGET_TMPDIR>/suite-logs`. Each writer
//! gets its own file, named by this process's pid and a counter, so parallel tests and parallel
//! test binaries never share a file and need no locking between processes. Files are appended
//! to, never cleared: CI points the variable at a fresh directory per run; locally, remove the
//! directory before a run to scan that run alone. Subdirectories are not scanned: a test that
//! has to produce a leak-shaped line on purpose writes under `intentional/` (none does today).

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The directory, created on first use.
pub(crate) fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var_os("ECHODIARY_TEST_LOG_DIR").map_or_else(
            || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("suite-logs"),
            PathBuf::from,
        );
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("create the suite log directory {}: {e}", dir.display()));
        dir
    })
}

/// A new log file for one writer: `<kind>-<pid>-<n>.log`, opened for appending.
pub(crate) fn create(kind: &str) -> File {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = dir().join(format!("{kind}-{}-{n}.log", std::process::id()));
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}
