//! Waiting on a condition with a deadline, polled (never a blind sleep).

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `condition` every 20 ms until it holds or `limit` passes; whether it held (asked
/// once more at the deadline).
pub async fn until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

/// Polls the async `condition` every 20 ms until it holds or `limit` passes; whether it
/// held.
pub async fn until_async<F, Fut>(limit: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
