//! Transcripts on PostgreSQL: `transcripts`, `transcript_revisions`, `transcript_jobs`,
//! `transcript_flags` and `transcript_search` (a tsvector per segment, `search::prefix_query`). The
//! same pure rules as SQLite decide (transcripts::model, ::flags, ::queue); what
//! PostgreSQL adds is for replicas working at once:
//! - every write of a transcript takes the story's lock before it asks whether the
//!   story is visible (`visibility_of` with `hold`): two saves cannot both build
//!   revision N+1, and a withdrawal (which takes the same lock) waits for the write and
//!   then forgets it; rows are locked only after it, in the order a withdrawal takes;
//! - the feed's lock is taken before a revision enters `changes` (`lock_for_append`);
//! - a job is claimed `FOR UPDATE SKIP LOCKED`: workers on several replicas never take
//!   the same job, and never wait on each other's claim.
//!
//! A delivered recording's job is queued, and a withdrawn story's transcripts
//! forgotten, by the hooks the delivering and withdrawing transactions call (hooks.rs).

use axum::http::StatusCode;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use sqlx_postgres::{PgConnection, Postgres};

use super::PgData;
use super::feed::lock_for_append;
use super::stories::lock_story;
use super::{signed, unsigned};
use crate::clock::{now_ms, rfc3339};
use crate::data::transcripts::{
    DecidedFlag, Flag, Hit, Job, Save, Saved, Segment, ShownTranscript, Transcript, Transcripts,
};
use crate::error::{Error, Result};
use crate::transcripts::model::{self, Plan, Source};
use crate::transcripts::{flags, queue};
use crate::visibility::Visibility;

/// What a lead of `project_id` may see of the story; with `hold`, the story's lock is
/// taken first and held until the transaction ends, so a withdrawal waits for a write
/// made under a `Visible` answer, and then forgets what it wrote.
async fn visibility_of(
    conn: &mut PgConnection,
    project_id: &str,
    story_id: &str,
    hold: bool,
) -> Result<Visibility> {
    if hold {
        lock_story(conn, story_id).await?;
    }
    super::visibility::of_story(conn, project_id, story_id).await
}

/// The story of a recording of `project_id` that a lead may see, or 404; with `hold`,
/// the story stays visible until the transaction ends.
async fn visible_recording(
    conn: &mut PgConnection,
    project_id: &str,
    recording_id: &str,
    hold: bool,
) -> Result<String> {
    let story: Option<String> = query_scalar::<Postgres, String>(
        "SELECT story_id FROM recordings WHERE id = $1 AND project_id = $2 LIMIT 1",
    )
    .bind(recording_id)
    .bind(project_id)
    .fetch_optional(&mut *conn)
    .await?;
    match story {
        Some(story)
            if visibility_of(conn, project_id, &story, hold).await? == Visibility::Visible =>
        {
            Ok(story)
        }
        _ => Err(Error::not_found("delivered recording")),
    }
}

fn source_of(text: &str) -> Source {
    if text == "machine" {
        Source::Machine
    } else {
        Source::Person
    }
}

fn segments_of(text: &str) -> Result<Vec<Segment>> {
    serde_json::from_str(text)
        .map_err(|e| Error::internal(format!("a stored transcript cannot be read: {e}")))
}

type TranscriptRow = (String, String, String, i64, bool, String, i64);

/// The current transcript of a recording, whoever asks (callers check visibility).
pub async fn load(conn: &mut PgConnection, recording_id: &str) -> Result<Option<Transcript>> {
    let row: Option<TranscriptRow> = query_as::<Postgres, TranscriptRow>(
        "SELECT story_id, language, source, revision, reviewed, segments, updated_at
         FROM transcripts WHERE recording_id = $1",
    )
    .bind(recording_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((story_id, language, source, revision, reviewed, segments, at)) = row else {
        return Ok(None);
    };
    Ok(Some(Transcript {
        recording_id: recording_id.to_string(),
        story_id,
        language,
        source: source_of(&source),
        revision: unsigned(revision, "transcript revision")?,
        reviewed,
        segments: segments_of(&segments)?,
        updated_at: rfc3339(at),
    }))
}

async fn segments_at(
    conn: &mut PgConnection,
    recording_id: &str,
    revision: u32,
) -> Result<Option<Vec<Segment>>> {
    let text: Option<String> = query_scalar::<Postgres, String>(
        "SELECT segments FROM transcript_revisions WHERE recording_id = $1 AND revision = $2",
    )
    .bind(recording_id)
    .bind(i64::from(revision))
    .fetch_optional(&mut *conn)
    .await?;
    text.map(|t| segments_of(&t)).transpose()
}

/// One revision to store: the transcript's new current text.
struct Revision<'a> {
    project_id: &'a str,
    story_id: &'a str,
    recording_id: &'a str,
    language: &'a str,
    source: Source,
    revision: u32,
    reviewed: bool,
    segments: &'a [Segment],
    by: &'a str,
}

async fn store(conn: &mut PgConnection, r: &Revision<'_>) -> Result<()> {
    let text = serde_json::to_string(r.segments)
        .map_err(|e| Error::internal(format!("a transcript cannot be written: {e}")))?;
    let now = now_ms();
    let revision = i64::from(r.revision);
    query::<Postgres>(
        "INSERT INTO transcripts (recording_id, story_id, project_id, language, source, revision, reviewed, segments, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (recording_id) DO UPDATE SET language = $4, source = $5, revision = $6,
             reviewed = $7, segments = $8, updated_at = $9",
    )
    .bind(r.recording_id)
    .bind(r.story_id)
    .bind(r.project_id)
    .bind(r.language)
    .bind(r.source.as_str())
    .bind(revision)
    .bind(r.reviewed)
    .bind(&text)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    query::<Postgres>(
        "INSERT INTO transcript_revisions (recording_id, story_id, revision, source, segments, saved_by, saved_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(r.recording_id)
    .bind(r.story_id)
    .bind(revision)
    .bind(r.source.as_str())
    .bind(&text)
    .bind(r.by)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    index(conn, r.story_id, r.recording_id, r.segments).await?;
    lock_for_append(conn).await?;
    query::<Postgres>(
        "INSERT INTO changes (project_id, kind, story_id, recording_id, revision, at)
         VALUES ($1, 'transcript', $2, $3, $4, $5)",
    )
    .bind(r.project_id)
    .bind(r.story_id)
    .bind(r.recording_id)
    .bind(revision)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn index(
    conn: &mut PgConnection,
    story_id: &str,
    recording_id: &str,
    segments: &[Segment],
) -> Result<()> {
    query::<Postgres>("DELETE FROM transcript_search WHERE recording_id = $1")
        .bind(recording_id)
        .execute(&mut *conn)
        .await?;
    for s in segments {
        query::<Postgres>(
            "INSERT INTO transcript_search (recording_id, story_id, start_ms, text) VALUES ($1, $2, $3, $4)",
        )
        .bind(recording_id)
        .bind(story_id)
        .bind(signed(s.start_ms))
        .bind(&s.text)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The engine's draft for a recording, kept only while its story is visible and no
/// transcript exists yet (a person's text is never overwritten by a machine).
async fn save_machine(
    conn: &mut PgConnection,
    recording_id: &str,
    language: &str,
    segments: &[Segment],
) -> Result<bool> {
    let row: Option<(String, String)> = query_as::<Postgres, (String, String)>(
        "SELECT story_id, project_id FROM recordings WHERE id = $1 LIMIT 1",
    )
    .bind(recording_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((story_id, project_id)) = row else {
        return Ok(false);
    };
    if visibility_of(conn, &project_id, &story_id, true).await? != Visibility::Visible
        || load(conn, recording_id).await?.is_some()
    {
        return Ok(false);
    }
    model::check(segments, language)?;
    store(
        conn,
        &Revision {
            project_id: &project_id,
            story_id: &story_id,
            recording_id,
            language,
            source: Source::Machine,
            revision: 1,
            reviewed: false,
            segments,
            by: "engine",
        },
    )
    .await?;
    Ok(true)
}

/// A person's save of a recording's transcript (the caller checked the story's
/// visibility holding its lock).
async fn save_person(
    conn: &mut PgConnection,
    project_id: &str,
    story_id: &str,
    recording_id: &str,
    save: &Save,
    by: &str,
) -> Result<Saved> {
    let current = load(conn, recording_id).await?;
    let base = if model::needs_base(current.as_ref(), save) {
        segments_at(conn, recording_id, save.base_revision).await?
    } else {
        None
    };
    let (language, segments, reviewed, revision) =
        match model::plan_save(current.as_ref(), save, base)? {
            Plan::Conflict(current) => return Ok(Saved::Conflict(current)),
            Plan::Write {
                language,
                segments,
                reviewed,
                revision,
            } => (language, segments, reviewed, revision),
        };
    store(
        conn,
        &Revision {
            project_id,
            story_id,
            recording_id,
            language: &language,
            source: Source::Person,
            revision,
            reviewed,
            segments: &segments,
            by,
        },
    )
    .await?;
    load(conn, recording_id)
        .await?
        .map(Saved::Saved)
        .ok_or_else(|| Error::internal("a saved transcript was not found again"))
}

/// Segments of the project's visible stories holding every typed word, best first.
pub async fn search(
    conn: &mut PgConnection,
    project_id: &str,
    typed: &str,
    limit: u32,
) -> Result<Vec<Hit>> {
    let Some(terms) = super::search::prefix_query(typed) else {
        return Ok(Vec::new());
    };
    let rows: Vec<(String, String, i64, String)> =
        query_as::<Postgres, (String, String, i64, String)>(
            "SELECT t.story_id, t.recording_id, t.start_ms, t.text
         FROM transcript_search t JOIN stories s ON s.id = t.story_id,
              to_tsquery('simple', $1) q
         WHERE t.words @@ q AND s.project_id = $2 AND s.lead_visibility = 'visible'
         ORDER BY ts_rank(t.words, q) DESC, t.id
         LIMIT $3",
        )
        .bind(terms)
        .bind(project_id)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
    rows.into_iter()
        .map(|(story_id, recording_id, start_ms, text)| {
            Ok(Hit {
                story_id,
                recording_id,
                start_ms: unsigned(start_ms, "segment start")?,
                text,
            })
        })
        .collect()
}

/// The open flags of a recording (callers check visibility).
async fn open_flags(conn: &mut PgConnection, recording_id: &str) -> Result<Vec<Flag>> {
    let rows: Vec<(String, String, i64, String)> =
        query_as::<Postgres, (String, String, i64, String)>(
            "SELECT id, recording_id, segment_start_ms, suggested FROM transcript_flags
         WHERE recording_id = $1 AND state = 'open' ORDER BY segment_start_ms, created_at",
        )
        .bind(recording_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.into_iter()
        .map(|(id, recording_id, start, suggested)| {
            Ok(Flag {
                id,
                recording_id,
                segment_start_ms: unsigned(start, "flag's segment start")?,
                suggested,
            })
        })
        .collect()
}

/// The transcripts of a visible story's delivered recordings with their open flags
/// (the caller checked the story's visibility).
pub async fn shown_for(
    conn: &mut PgConnection,
    recording_ids: &[String],
) -> Result<Vec<(String, ShownTranscript)>> {
    let mut out = Vec::new();
    for id in recording_ids {
        if let Some(transcript) = load(conn, id).await? {
            let flags = open_flags(conn, id).await?;
            out.push((id.clone(), ShownTranscript { transcript, flags }));
        }
    }
    Ok(out)
}

/// The transcript of a recording of the storyteller's story, while it is visible.
async fn storytellers(
    conn: &mut PgConnection,
    project_id: &str,
    story_id: &str,
    recording_id: &str,
    hold: bool,
) -> Result<Transcript> {
    if visibility_of(conn, project_id, story_id, hold).await? != Visibility::Visible {
        return Err(Error::not_found("transcript"));
    }
    load(conn, recording_id)
        .await?
        .filter(|t| t.story_id == story_id)
        .ok_or_else(|| Error::not_found("transcript"))
}

async fn suggest(
    conn: &mut PgConnection,
    project_id: &str,
    story_id: &str,
    recording_id: &str,
    segment_start_ms: u64,
    suggested: &str,
) -> Result<String> {
    let suggested = flags::check_suggestion(suggested)?;
    // Under the story's lock (storytellers, `hold`): flags of one story are counted and
    // added one transaction at a time.
    let transcript = storytellers(conn, project_id, story_id, recording_id, true).await?;
    flags::check_passage(&transcript, segment_start_ms)?;
    let open: i64 = query_scalar::<Postgres, i64>(
        "SELECT COUNT(*) FROM transcript_flags WHERE story_id = $1 AND state = 'open'",
    )
    .bind(story_id)
    .fetch_one(&mut *conn)
    .await?;
    flags::check_room(open)?;
    let id = format!("{:032x}", rand::random::<u128>());
    query::<Postgres>(
        "INSERT INTO transcript_flags (id, recording_id, story_id, project_id, segment_start_ms, suggested, state, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'open', $7)",
    )
    .bind(&id)
    .bind(recording_id)
    .bind(story_id)
    .bind(project_id)
    .bind(signed(segment_start_ms))
    .bind(suggested)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

async fn decide(
    conn: &mut PgConnection,
    project_id: &str,
    flag_id: &str,
    accept: bool,
    by: &str,
) -> Result<DecidedFlag> {
    // The story's lock first, then the flag's row, in the order a withdrawal takes
    // them (its lock, then deleting the flags): the other order could deadlock.
    let recording_id: Option<String> = query_scalar::<Postgres, String>(
        "SELECT recording_id FROM transcript_flags WHERE id = $1 AND project_id = $2",
    )
    .bind(flag_id)
    .bind(project_id)
    .fetch_optional(&mut *conn)
    .await?;
    let recording_id = recording_id.ok_or_else(|| Error::not_found("open flag"))?;
    let story_id = visible_recording(conn, project_id, &recording_id, true).await?;
    // Locked: two leads deciding the same flag at once decide it once.
    let flag: Option<(i64, String)> = query_as::<Postgres, (i64, String)>(
        "SELECT segment_start_ms, suggested FROM transcript_flags
         WHERE id = $1 AND state = 'open' FOR UPDATE",
    )
    .bind(flag_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (start_ms, suggested) = flag.ok_or_else(|| Error::not_found("open flag"))?;
    if accept {
        let current = load(conn, &recording_id)
            .await?
            .ok_or_else(|| Error::not_found("transcript"))?;
        let save = flags::accepted(
            &current,
            unsigned(start_ms, "flag's segment start")?,
            suggested,
        )?;
        if let Saved::Conflict(_) =
            save_person(conn, project_id, &story_id, &recording_id, &save, by).await?
        {
            return Err(Error::conflict(
                "stale_revision",
                "the transcript changed; try again",
            ));
        }
    }
    query::<Postgres>("UPDATE transcript_flags SET state = $2, decided_at = $3 WHERE id = $1")
        .bind(flag_id)
        .bind(if accept { "accepted" } else { "rejected" })
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
    Ok(DecidedFlag {
        story_id,
        recording_id,
    })
}

/// Claims the oldest job that is due and not held by a live lease; a job whose
/// attempts are used up fails instead. `SKIP LOCKED`: a job another replica is claiming
/// right now is passed over, not waited for.
async fn claim(
    conn: &mut PgConnection,
    worker: &str,
    now: i64,
    lease_ms: i64,
) -> Result<Option<Job>> {
    query::<Postgres>(
        "UPDATE transcript_jobs SET state = 'failed', claimed_by = NULL, lease_until = NULL
         WHERE recording_id IN (
             SELECT recording_id FROM transcript_jobs
             WHERE state = 'queued' AND attempts >= $1 AND (lease_until IS NULL OR lease_until < $2)
             FOR UPDATE SKIP LOCKED)",
    )
    .bind(i64::from(queue::MAX_ATTEMPTS))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let job: Option<(String, String, i64)> = query_as::<Postgres, (String, String, i64)>(
        "UPDATE transcript_jobs SET claimed_by = $2, lease_until = $3, attempts = attempts + 1
         WHERE recording_id = (
             SELECT recording_id FROM transcript_jobs
             WHERE state = 'queued' AND attempts < $4 AND not_before <= $1
               AND (lease_until IS NULL OR lease_until < $1)
             ORDER BY not_before, created_at LIMIT 1
             FOR UPDATE SKIP LOCKED)
         RETURNING recording_id, story_id, attempts",
    )
    .bind(now)
    .bind(worker)
    .bind(now + lease_ms)
    .bind(i64::from(queue::MAX_ATTEMPTS))
    .fetch_optional(&mut *conn)
    .await?;
    job.map(|(recording_id, story_id, attempts)| {
        Ok(Job {
            recording_id,
            story_id,
            attempt: unsigned(attempts, "job's attempts")?,
        })
    })
    .transpose()
}

/// The project of the job if `worker` still holds it; with `lock`, the job's row stays
/// locked until the transaction ends (so its lease cannot be claimed meanwhile).
async fn held(
    conn: &mut PgConnection,
    worker: &str,
    recording_id: &str,
    lock: bool,
) -> Result<Option<String>> {
    let sql = if lock {
        "SELECT project_id FROM transcript_jobs
         WHERE recording_id = $1 AND claimed_by = $2 AND state = 'queued' FOR UPDATE"
    } else {
        "SELECT project_id FROM transcript_jobs
         WHERE recording_id = $1 AND claimed_by = $2 AND state = 'queued'"
    };
    Ok(query_scalar::<Postgres, String>(sql)
        .bind(recording_id)
        .bind(worker)
        .fetch_optional(&mut *conn)
        .await?)
}

async fn finish(
    conn: &mut PgConnection,
    worker: &str,
    recording_id: &str,
    language: &str,
    segments: &[Segment],
) -> Result<bool> {
    // The story's lock before the job's row, in the order a withdrawal takes them.
    let job: Option<(String, String)> = query_as::<Postgres, (String, String)>(
        "SELECT story_id, project_id FROM transcript_jobs
         WHERE recording_id = $1 AND claimed_by = $2 AND state = 'queued'",
    )
    .bind(recording_id)
    .bind(worker)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((story_id, project_id)) = job else {
        return Ok(false);
    };
    visibility_of(conn, &project_id, &story_id, true).await?;
    if held(conn, worker, recording_id, true).await?.is_none() {
        return Ok(false);
    }
    let kept = save_machine(conn, recording_id, language, segments).await?;
    query::<Postgres>(
        "UPDATE transcript_jobs SET state = 'done', claimed_by = NULL, lease_until = NULL, last_error = NULL
         WHERE recording_id = $1",
    )
    .bind(recording_id)
    .execute(&mut *conn)
    .await?;
    Ok(kept)
}

async fn fail(
    conn: &mut PgConnection,
    worker: &str,
    recording_id: &str,
    error: &str,
    now: i64,
    retry_ms: i64,
) -> Result<()> {
    if held(conn, worker, recording_id, true).await?.is_none() {
        return Ok(());
    }
    let attempts: i64 = query_scalar::<Postgres, i64>(
        "SELECT attempts FROM transcript_jobs WHERE recording_id = $1",
    )
    .bind(recording_id)
    .fetch_one(&mut *conn)
    .await?;
    let (delay, again) = queue::after_failure(unsigned(attempts, "job's attempts")?, retry_ms);
    query::<Postgres>(
        "UPDATE transcript_jobs SET state = $2, claimed_by = NULL, lease_until = NULL,
             not_before = $3, last_error = $4 WHERE recording_id = $1",
    )
    .bind(recording_id)
    .bind(if again { "queued" } else { "failed" })
    .bind(now + delay)
    .bind(error)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A job's state, attempts and last error (for the operator and the tests).
pub async fn status(
    conn: &mut PgConnection,
    recording_id: &str,
) -> Result<Option<(String, u32, Option<String>)>> {
    let row: Option<(String, i64, Option<String>)> =
        query_as::<Postgres, (String, i64, Option<String>)>(
            "SELECT state, attempts, last_error FROM transcript_jobs WHERE recording_id = $1",
        )
        .bind(recording_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|(state, attempts, error)| Ok((state, unsigned(attempts, "job's attempts")?, error)))
        .transpose()
}

impl Transcripts for PgData {
    fn lead_transcript(&self, project_id: &str, recording_id: &str) -> Result<Transcript> {
        in_tx!(self, |conn| async {
            visible_recording(conn, project_id, recording_id, false).await?;
            load(conn, recording_id).await?.ok_or_else(|| {
                Error::refused(
                    StatusCode::NOT_FOUND,
                    "no_transcript",
                    "this recording has no transcript yet",
                )
            })
        }
        .await?)
    }

    fn save_lead_transcript(
        &self,
        project_id: &str,
        recording_id: &str,
        save: &Save,
        by: &str,
    ) -> Result<Saved> {
        in_tx!(self, |conn| async {
            let story = visible_recording(conn, project_id, recording_id, true).await?;
            save_person(conn, project_id, &story, recording_id, save, by).await
        }
        .await?)
    }

    fn search_transcripts(&self, project_id: &str, typed: &str, limit: u32) -> Result<Vec<Hit>> {
        in_tx!(self, |conn| search(conn, project_id, typed, limit).await?)
    }

    fn decide_transcript_flag(
        &self,
        project_id: &str,
        flag_id: &str,
        accept: bool,
        by: &str,
    ) -> Result<DecidedFlag> {
        in_tx!(self, |conn| decide(conn, project_id, flag_id, accept, by)
            .await?)
    }

    fn storyteller_transcript(
        &self,
        project_id: &str,
        story_id: &str,
        recording_id: &str,
    ) -> Result<Transcript> {
        in_tx!(self, |conn| storytellers(
            conn,
            project_id,
            story_id,
            recording_id,
            false
        )
        .await?)
    }

    fn suggest_transcript_flag(
        &self,
        project_id: &str,
        story_id: &str,
        recording_id: &str,
        segment_start_ms: u64,
        suggested: &str,
    ) -> Result<String> {
        in_tx!(self, |conn| suggest(
            conn,
            project_id,
            story_id,
            recording_id,
            segment_start_ms,
            suggested
        )
        .await?)
    }

    fn claim_transcript_job(&self, worker: &str, now: i64, lease_ms: i64) -> Result<Option<Job>> {
        in_tx!(self, |conn| claim(conn, worker, now, lease_ms).await?)
    }

    fn finish_transcript_job(
        &self,
        worker: &str,
        recording_id: &str,
        language: &str,
        segments: &[Segment],
    ) -> Result<bool> {
        in_tx!(self, |conn| finish(
            conn,
            worker,
            recording_id,
            language,
            segments
        )
        .await?)
    }

    fn fail_transcript_job(
        &self,
        worker: &str,
        recording_id: &str,
        error: &str,
        now: i64,
        retry_ms: i64,
    ) -> Result<()> {
        in_tx!(self, |conn| fail(
            conn,
            worker,
            recording_id,
            error,
            now,
            retry_ms
        )
        .await?)
    }

    fn held_transcript_job(&self, worker: &str, recording_id: &str) -> Result<Option<String>> {
        in_tx!(self, |conn| held(conn, worker, recording_id, false).await?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::testdb::{PROJECT_WITH_STORIES, TestDb};
    use super::*;

    fn segment(start_ms: u64, text: &str) -> Segment {
        Segment {
            start_ms,
            end_ms: start_ms + 1000,
            text: text.into(),
            speaker: None,
        }
    }

    fn queue_jobs(db: &TestDb) {
        db.exec(
            "INSERT INTO transcript_jobs (recording_id, story_id, project_id, state, attempts, not_before, created_at)
             VALUES ('r1', 's', 'p', 'queued', 0, 100, 1), ('r2', 's', 'p', 'queued', 0, 100, 2),
                    ('rh', 'h', 'p', 'queued', 0, 100, 3)",
        );
    }

    #[test]
    fn workers_on_many_connections_never_claim_the_same_job_and_leases_expire() {
        let Some(db) = TestDb::start("pg transcripts claim") else {
            return;
        };
        db.exec(PROJECT_WITH_STORIES);
        queue_jobs(&db);
        let db = Arc::new(db);
        let claims: Vec<Option<Job>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..6)
                .map(|i| {
                    let db = Arc::clone(&db);
                    scope.spawn(move || {
                        db.data
                            .claim_transcript_job(&format!("w{i}"), 1000, 60_000)
                            .expect("claim")
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("worker"))
                .collect()
        });
        let mut claimed: Vec<String> = claims
            .iter()
            .flatten()
            .map(|j| j.recording_id.clone())
            .collect();
        claimed.sort();
        assert_eq!(claimed, ["r1", "r2", "rh"], "each job once: {claims:?}");
        assert!(claims.iter().flatten().all(|j| j.attempt == 1));
        assert!(
            db.data
                .claim_transcript_job("late", 2000, 60_000)
                .unwrap()
                .is_none(),
            "all leased"
        );

        // A lease that ran out is claimed again; the first holder's draft is then refused.
        let holder = db
            .text("SELECT claimed_by FROM transcript_jobs WHERE recording_id = 'r1'")
            .unwrap();
        let again = db
            .data
            .claim_transcript_job("second", 62_000, 60_000)
            .unwrap();
        assert_eq!(again.as_ref().map(|j| j.attempt), Some(2));
        let again = again.unwrap();
        assert_eq!(again.recording_id, "r1", "the oldest due job first");
        let stale_holder = holder;
        assert!(
            !db.data
                .finish_transcript_job(
                    &stale_holder,
                    &again.recording_id,
                    "en",
                    &[segment(0, "stale")]
                )
                .unwrap()
        );
        assert_eq!(
            db.data
                .held_transcript_job("second", &again.recording_id)
                .unwrap()
                .as_deref(),
            Some("p")
        );
        assert!(
            db.data
                .finish_transcript_job(
                    "second",
                    &again.recording_id,
                    "en",
                    &[segment(0, "kept draft")]
                )
                .unwrap()
        );
        let kept = db.data.lead_transcript("p", &again.recording_id).unwrap();
        assert_eq!(
            (kept.source, kept.revision, kept.segments[0].text.as_str()),
            (Source::Machine, 1, "kept draft")
        );
        assert_eq!(
            db.data
                .held_transcript_job("second", &again.recording_id)
                .unwrap(),
            None,
            "closed"
        );
    }

    #[test]
    fn a_failed_job_waits_longer_each_time_then_fails_for_good() {
        let Some(db) = TestDb::start("pg transcripts fail") else {
            return;
        };
        db.exec(PROJECT_WITH_STORIES);
        db.exec(
            "INSERT INTO transcript_jobs (recording_id, story_id, project_id, state, attempts, not_before, created_at)
             VALUES ('r1', 's', 'p', 'queued', 0, 0, 0)",
        );
        let mut now = 0;
        for attempt in 1..=queue::MAX_ATTEMPTS {
            let job = db
                .data
                .claim_transcript_job("w", now, 10)
                .unwrap()
                .expect("due");
            assert_eq!(job.attempt, attempt);
            db.data
                .fail_transcript_job("w", "r1", "engine broke", now, 1000)
                .unwrap();
            let (delay, _) = queue::after_failure(attempt, 1000);
            assert!(
                db.data
                    .claim_transcript_job("w", now + delay - 1, 10)
                    .unwrap()
                    .is_none(),
                "not yet due"
            );
            now += delay;
        }
        assert!(
            db.data
                .claim_transcript_job("w", now + 1_000_000, 10)
                .unwrap()
                .is_none()
        );
        assert_eq!(
            db.text("SELECT state || ':' || last_error FROM transcript_jobs")
                .as_deref(),
            Some("failed:engine broke")
        );
        assert!(
            !db.data
                .finish_transcript_job("w", "r1", "en", &[segment(0, "late")])
                .unwrap()
        );
    }

    #[test]
    fn saves_merge_or_conflict_and_flags_become_revisions_only_for_visible_stories() {
        let Some(db) = TestDb::start("pg transcripts save") else {
            return;
        };
        db.exec(PROJECT_WITH_STORIES);
        let save = |base: u32, texts: [&str; 2]| Save {
            base_revision: base,
            segments: vec![segment(0, texts[0]), segment(1000, texts[1])],
            language: None,
            reviewed: None,
        };
        let Saved::Saved(first) = db
            .data
            .save_lead_transcript("p", "r1", &save(0, ["one", "two"]), "lead")
            .unwrap()
        else {
            panic!("first save");
        };
        assert_eq!(first.revision, 1);
        let Saved::Saved(mine) = db
            .data
            .save_lead_transcript("p", "r1", &save(1, ["ONE", "two"]), "a")
            .unwrap()
        else {
            panic!("second save");
        };
        let Saved::Saved(merged) = db
            .data
            .save_lead_transcript("p", "r1", &save(1, ["one", "TWO"]), "b")
            .unwrap()
        else {
            panic!("a save of other segments merges");
        };
        assert_eq!((mine.revision, merged.revision), (2, 3));
        assert_eq!(
            merged
                .segments
                .iter()
                .map(|s| s.text.as_str())
                .collect::<Vec<_>>(),
            ["ONE", "TWO"]
        );
        assert!(matches!(
            db.data
                .save_lead_transcript("p", "r1", &save(1, ["uno", "two"]), "c")
                .unwrap(),
            Saved::Conflict(_)
        ));
        for hidden in ["rh", "missing"] {
            let refused = db
                .data
                .save_lead_transcript("p", hidden, &save(0, ["x", "y"]), "lead");
            assert!(
                matches!(
                    refused,
                    Err(Error::Refused {
                        status: StatusCode::NOT_FOUND,
                        ..
                    })
                ),
                "{hidden}: {refused:?}"
            );
        }
        assert_eq!(
            db.text("SELECT COUNT(*)::text FROM changes WHERE kind = 'transcript'")
                .as_deref(),
            Some("3")
        );

        let flag = db
            .data
            .suggest_transcript_flag("p", "s", "r1", 1000, "  Two!  ")
            .unwrap();
        assert!(
            db.data
                .suggest_transcript_flag("p", "s", "r1", 500, "nowhere")
                .is_err(),
            "no such passage"
        );
        assert!(
            db.data
                .suggest_transcript_flag("p", "h", "rh", 0, "x")
                .is_err(),
            "hidden story"
        );
        let decided = db
            .data
            .decide_transcript_flag("p", &flag, true, "lead")
            .unwrap();
        assert_eq!(
            decided,
            DecidedFlag {
                story_id: "s".into(),
                recording_id: "r1".into()
            }
        );
        let now = db.data.lead_transcript("p", "r1").unwrap();
        assert_eq!((now.revision, now.segments[1].text.as_str()), (4, "Two!"));
        assert!(
            db.data
                .decide_transcript_flag("p", &flag, false, "lead")
                .is_err(),
            "decided once"
        );
        assert_eq!(
            db.data
                .storyteller_transcript("p", "s", "r1")
                .unwrap()
                .revision,
            4
        );
        assert!(db.data.storyteller_transcript("p", "h", "rh").is_err());
    }

    #[test]
    fn concurrent_saves_of_one_base_each_merge_or_conflict_never_fail() {
        let Some(db) = TestDb::start("pg transcripts concurrent saves") else {
            return;
        };
        db.exec(PROJECT_WITH_STORIES);
        let texts: Vec<String> = (0..8).map(|i| format!("segment {i}")).collect();
        let base = Save {
            base_revision: 0,
            segments: texts
                .iter()
                .enumerate()
                .map(|(i, t)| segment(i as u64 * 1000, t))
                .collect(),
            language: None,
            reviewed: None,
        };
        assert!(matches!(
            db.data.save_lead_transcript("p", "r1", &base, "lead"),
            Ok(Saved::Saved(_))
        ));
        let db = Arc::new(db);
        std::thread::scope(|scope| {
            for i in 0..8 {
                let db = Arc::clone(&db);
                let mut mine = base.clone();
                mine.base_revision = 1;
                mine.segments[i].text = format!("edited {i}");
                scope.spawn(move || {
                    let saved = db
                        .data
                        .save_lead_transcript("p", "r1", &mine, &format!("lead{i}"));
                    assert!(matches!(saved, Ok(Saved::Saved(_))), "edit {i}: {saved:?}");
                });
            }
        });
        let last = db.data.lead_transcript("p", "r1").unwrap();
        assert_eq!(last.revision, 9);
        let expected: Vec<String> = (0..8).map(|i| format!("edited {i}")).collect();
        assert_eq!(
            last.segments
                .iter()
                .map(|s| s.text.clone())
                .collect::<Vec<_>>(),
            expected,
            "every edit kept"
        );
    }

    #[test]
    fn search_finds_prefixes_of_visible_stories_only() {
        let Some(db) = TestDb::start("pg transcripts search") else {
            return;
        };
        db.exec(PROJECT_WITH_STORIES);
        let save = |segments: Vec<Segment>| Save {
            base_revision: 0,
            segments,
            language: None,
            reviewed: None,
        };
        db.data
            .save_lead_transcript(
                "p",
                "r1",
                &save(vec![
                    segment(0, "The damp flat"),
                    segment(1000, "rent is high"),
                ]),
                "l",
            )
            .unwrap();
        db.data
            .save_lead_transcript(
                "p",
                "r2",
                &save(vec![segment(5000, "Damp again, damp everywhere: dampness")]),
                "l",
            )
            .unwrap();
        db.exec("INSERT INTO transcript_search (recording_id, story_id, start_ms, text) VALUES ('rh', 'h', 0, 'damp hidden')");
        let hits = db.data.search_transcripts("p", "DAMP", 10).unwrap();
        assert_eq!(hits.len(), 2, "{hits:?}");
        assert!(hits.iter().all(|h| h.story_id == "s"));
        assert_eq!(hits[0].recording_id, "r2", "more matches rank first");
        let hits = db
            .data
            .search_transcripts("p", "fla \"& rent:*", 10)
            .unwrap();
        assert!(hits.is_empty(), "every word in one segment: {hits:?}");
        let hits = db.data.search_transcripts("p", "fla", 10).unwrap();
        assert_eq!((hits.len(), hits[0].start_ms), (1, 0));
        assert!(
            db.data
                .search_transcripts("p", " !& ", 10)
                .unwrap()
                .is_empty()
        );
        assert!(
            db.data
                .search_transcripts("other", "damp", 10)
                .unwrap()
                .is_empty()
        );
    }
}
