//! Handing memory the service has freed back to the operating system at once.
//!
//! mimalloc keeps freed pages for a purge delay that only passes when the freeing thread allocates
//! again, so memory freed after a burst (a password hash's block, the start-up's scratch) stays in
//! the process's resident size until then: `mi_collect` ends that wait.

/// Returns what this thread freed to the operating system now. Without mimalloc as the global
/// allocator (the test binaries) it does nothing.
#[expect(unsafe_code, reason = "a call into mimalloc's C API")]
pub(crate) fn return_freed_memory() {
    // SAFETY: `mi_collect` takes no pointers, touches only the allocator's own state, and may be
    // called from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
