//! The transcription queue, in the database so that it survives a restart and any
//! number of workers (inside `tellus serve`, or `tellus transcribe-worker` on the same
//! data folder) share it: one job per recording; a worker claims a job with a lease
//! (`claimed_by`, `lease_until`); a worker that dies leaves its lease to run out and the
//! job is claimed again; a failed run is retried with a growing delay, up to
//! `MAX_ATTEMPTS`; the draft is kept only by the worker that holds the claim. Stored by
//! the data layer (data::transcripts); the SQLite functions are re-exported here for the
//! tests and the operator's tools that run them inside their own transaction.

pub use crate::data::sqlite::transcripts::{claim, enqueue, fail, finish, status};

pub const MAX_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub recording_id: String,
    pub story_id: String,
    pub attempt: u32,
}

/// After a failed run that was attempt `attempts`: the delay before the next try
/// (`retry_ms`, then twice that, ... at most an hour) and whether the job stays queued.
pub fn after_failure(attempts: u32, retry_ms: i64) -> (i64, bool) {
    let delay = retry_ms
        .saturating_mul(1 << attempts.saturating_sub(1).min(16))
        .min(3_600_000);
    (delay, attempts < MAX_ATTEMPTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_job_waits_twice_as_long_each_time_and_stops_after_the_last_attempt() {
        assert_eq!(after_failure(1, 1000), (1000, true));
        assert_eq!(after_failure(2, 1000), (2000, true));
        assert_eq!(after_failure(4, 1000), (8000, true));
        assert_eq!(after_failure(MAX_ATTEMPTS, 1000), (16_000, false));
        assert_eq!(
            after_failure(3, 3_000_000),
            (3_600_000, true),
            "at most an hour"
        );
    }
}
