//! When to try a failed item again, and when to stop trying.

use std::time::Duration;

/// Failures of one item before it is parked and shown to the reporter instead of being
/// retried forever.
pub const MAX_ATTEMPTS: u32 = 6;

const BASE: Duration = Duration::from_secs(2);
const CAP: Duration = Duration::from_secs(15 * 60);

/// The wait after the `attempt`-th failure (1-based): exponential with "full jitter"
/// (a random wait up to the exponential bound), so that many phones coming back online
/// at once do not retry in lockstep.
pub fn delay_after(attempt: u32) -> Duration {
    let bound = bound_after(attempt);
    let millis = bound.as_millis() as u64;
    let low = millis / 2;
    Duration::from_millis(rand::random_range(low..=millis.max(low)))
}

/// The upper bound of the wait after the `attempt`-th failure.
pub fn bound_after(attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    BASE.saturating_mul(1u32 << exp).min(CAP)
}

/// Whether an item that has failed `attempts` times is parked.
pub fn should_park(attempts: u32) -> bool {
    attempts >= MAX_ATTEMPTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_exponentially_up_to_the_cap_with_jitter() {
        assert_eq!(bound_after(1), Duration::from_secs(2));
        assert_eq!(bound_after(2), Duration::from_secs(4));
        assert_eq!(bound_after(5), Duration::from_secs(32));
        assert_eq!(bound_after(30), CAP);
        for attempt in 1..10 {
            let d = delay_after(attempt);
            assert!(d <= bound_after(attempt) && d >= bound_after(attempt) / 2);
        }
        assert!(!should_park(MAX_ATTEMPTS - 1));
        assert!(should_park(MAX_ATTEMPTS));
    }
}
