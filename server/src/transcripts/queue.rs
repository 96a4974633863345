//! The transcription queue, in the database so that it survives a restart and any
//! number of workers (inside `tellus serve`, or `tellus transcribe-worker` on the same
//! data folder) share it: one job per recording; a worker claims a job with a lease
//! (`claimed_by`, `lease_until`); a worker that dies leaves its lease to run out and the
//! job is claimed again; a failed run is retried with a growing delay, up to
//! `MAX_ATTEMPTS`; the draft is kept only by the worker that holds the claim.

use rusqlite::{Connection, OptionalExtension, params};

use super::model::{self, Segment};
use crate::error::Result;

pub const MAX_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub recording_id: String,
    pub story_id: String,
    pub attempt: u32,
}

/// Queues the recording for a draft (once: a delivered recording already queued or
/// done is left alone).
pub fn enqueue(
    conn: &Connection,
    project_id: &str,
    story_id: &str,
    recording_id: &str,
    now: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO transcript_jobs (recording_id, story_id, project_id, state, attempts, not_before, created_at)
         VALUES (?1, ?2, ?3, 'queued', 0, ?4, ?4) ON CONFLICT(recording_id) DO NOTHING",
        params![recording_id, story_id, project_id, now],
    )?;
    Ok(())
}

/// Claims the oldest job that is due and not held by a live lease. A job whose
/// attempts are used up fails instead of being claimed.
pub fn claim(conn: &Connection, worker: &str, now: i64, lease_ms: i64) -> Result<Option<Job>> {
    conn.execute(
        "UPDATE transcript_jobs SET state = 'failed', claimed_by = NULL, lease_until = NULL
         WHERE state = 'queued' AND attempts >= ?1 AND (lease_until IS NULL OR lease_until < ?2)",
        params![MAX_ATTEMPTS, now],
    )?;
    let job = conn
        .query_row(
            "SELECT recording_id, story_id, attempts FROM transcript_jobs
             WHERE state = 'queued' AND not_before <= ?1 AND (lease_until IS NULL OR lease_until < ?1)
             ORDER BY not_before, created_at LIMIT 1",
            [now],
            |r| {
                Ok(Job {
                    recording_id: r.get(0)?,
                    story_id: r.get(1)?,
                    attempt: r.get::<_, u32>(2)? + 1,
                })
            },
        )
        .optional()?;
    if let Some(job) = &job {
        conn.execute(
            "UPDATE transcript_jobs SET claimed_by = ?2, lease_until = ?3, attempts = attempts + 1
             WHERE recording_id = ?1",
            params![job.recording_id, worker, now + lease_ms],
        )?;
    }
    Ok(job)
}

/// Whether `worker` still holds the job (nobody claimed it again after its lease).
fn holds(conn: &Connection, worker: &str, recording_id: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM transcript_jobs WHERE recording_id = ?1 AND claimed_by = ?2 AND state = 'queued'",
            params![recording_id, worker],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Keeps the draft and closes the job, if `worker` still holds it. Returns whether the
/// draft was kept (not when the story was withdrawn meanwhile, or a person's text is
/// already there).
pub fn finish(
    conn: &Connection,
    worker: &str,
    recording_id: &str,
    language: &str,
    segments: &[Segment],
) -> Result<bool> {
    if !holds(conn, worker, recording_id)? {
        return Ok(false);
    }
    let kept = model::save_machine(conn, recording_id, language, segments)?;
    conn.execute(
        "UPDATE transcript_jobs SET state = 'done', claimed_by = NULL, lease_until = NULL, last_error = NULL
         WHERE recording_id = ?1",
        [recording_id],
    )?;
    Ok(kept)
}

/// Gives the job back after a failed run, to be tried again after a delay that doubles
/// with each attempt (`retry_ms`, then twice that, ... at most an hour).
pub fn fail(
    conn: &Connection,
    worker: &str,
    recording_id: &str,
    error: &str,
    now: i64,
    retry_ms: i64,
) -> Result<()> {
    if !holds(conn, worker, recording_id)? {
        return Ok(());
    }
    let attempts: u32 = conn.query_row(
        "SELECT attempts FROM transcript_jobs WHERE recording_id = ?1",
        [recording_id],
        |r| r.get(0),
    )?;
    let delay = retry_ms
        .saturating_mul(1 << attempts.saturating_sub(1).min(16))
        .min(3_600_000);
    let state = if attempts >= MAX_ATTEMPTS {
        "failed"
    } else {
        "queued"
    };
    conn.execute(
        "UPDATE transcript_jobs SET state = ?2, claimed_by = NULL, lease_until = NULL,
             not_before = ?3, last_error = ?4 WHERE recording_id = ?1",
        params![recording_id, state, now + delay, error],
    )?;
    Ok(())
}

/// A job's state, attempts and last error (for the operator and the tests).
pub fn status(
    conn: &Connection,
    recording_id: &str,
) -> Result<Option<(String, u32, Option<String>)>> {
    Ok(conn
        .query_row(
            "SELECT state, attempts, last_error FROM transcript_jobs WHERE recording_id = ?1",
            [recording_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}
