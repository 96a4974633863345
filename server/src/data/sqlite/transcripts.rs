//! Transcripts in SQLite (schema step 9): `transcripts`, `transcript_revisions`,
//! `transcript_jobs`, `transcript_flags` and the FTS5 table `transcript_search`. The
//! free functions run inside a caller's connection or transaction: a delivered
//! recording's job is queued, and a withdrawn story's transcripts forgotten, in the
//! transaction that records it (tus, routes::stories).

use axum::http::StatusCode;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteData;
use crate::clock::{now_ms, rfc3339};
use crate::data::transcripts::{
    DecidedFlag, Flag, Hit, Job, Save, Saved, Segment, ShownTranscript, Transcript, Transcripts,
};
use crate::error::{Error, Result};
use crate::transcripts::model::{self, Plan, Source};
use crate::transcripts::{flags, queue};
use crate::visibility::Visibility;

/// Called in the transaction that records a delivered recording.
pub fn on_delivered(
    conn: &Connection,
    project_id: &str,
    story_id: &str,
    recording_id: &str,
) -> Result<()> {
    enqueue(conn, project_id, story_id, recording_id, now_ms())
}

/// Called in the transaction of a withdrawal.
pub fn on_withdrawn(conn: &Connection, story_id: &str) -> Result<()> {
    forget_story(conn, story_id)
}

/// The story of a recording of `project_id` that a lead may see (visibility.rs), or 404.
pub fn visible_recording(
    conn: &Connection,
    project_id: &str,
    recording_id: &str,
) -> Result<String> {
    let story: Option<String> = conn
        .query_row(
            "SELECT story_id FROM recordings WHERE id = ?1 AND project_id = ?2",
            params![recording_id, project_id],
            |r| r.get(0),
        )
        .optional()?;
    match story {
        Some(story) if Visibility::of_story(conn, project_id, &story)? == Visibility::Visible => {
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

/// The current transcript of a recording, whoever asks (callers check visibility).
pub fn load(conn: &Connection, recording_id: &str) -> Result<Option<Transcript>> {
    let row = conn
        .query_row(
            "SELECT story_id, language, source, revision, reviewed, segments, updated_at
             FROM transcripts WHERE recording_id = ?1",
            [recording_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, u32>(3)?,
                    r.get::<_, bool>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            },
        )
        .optional()?;
    let Some((story_id, language, source, revision, reviewed, segments, at)) = row else {
        return Ok(None);
    };
    Ok(Some(Transcript {
        recording_id: recording_id.to_string(),
        story_id,
        language,
        source: source_of(&source),
        revision,
        reviewed,
        segments: segments_of(&segments)?,
        updated_at: rfc3339(at),
    }))
}

fn segments_at(
    conn: &Connection,
    recording_id: &str,
    revision: u32,
) -> Result<Option<Vec<Segment>>> {
    let text: Option<String> = conn
        .query_row(
            "SELECT segments FROM transcript_revisions WHERE recording_id = ?1 AND revision = ?2",
            params![recording_id, revision],
            |r| r.get(0),
        )
        .optional()?;
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

fn store(conn: &Connection, r: &Revision<'_>) -> Result<()> {
    let text = serde_json::to_string(r.segments)
        .map_err(|e| Error::internal(format!("a transcript cannot be written: {e}")))?;
    let now = now_ms();
    conn.execute(
        "INSERT INTO transcripts (recording_id, story_id, project_id, language, source, revision, reviewed, segments, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(recording_id) DO UPDATE SET language = ?4, source = ?5, revision = ?6,
             reviewed = ?7, segments = ?8, updated_at = ?9",
        params![r.recording_id, r.story_id, r.project_id, r.language, r.source.as_str(), r.revision, r.reviewed, text, now],
    )?;
    conn.execute(
        "INSERT INTO transcript_revisions (recording_id, story_id, revision, source, segments, saved_by, saved_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![r.recording_id, r.story_id, r.revision, r.source.as_str(), text, r.by, now],
    )?;
    index(conn, r.story_id, r.recording_id, r.segments)?;
    conn.execute(
        "INSERT INTO changes (project_id, kind, story_id, recording_id, revision, at)
         VALUES (?1, 'transcript', ?2, ?3, ?4, ?5)",
        params![r.project_id, r.story_id, r.recording_id, r.revision, now],
    )?;
    Ok(())
}

/// The engine's draft for a recording, kept only while its story is visible and no
/// transcript exists yet (a person's text is never overwritten by a machine). Returns
/// whether it was kept.
pub fn save_machine(
    conn: &Connection,
    recording_id: &str,
    language: &str,
    segments: &[Segment],
) -> Result<bool> {
    let row: Option<(String, String)> = conn
        .query_row(
            "SELECT story_id, project_id FROM recordings WHERE id = ?1",
            [recording_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((story_id, project_id)) = row else {
        return Ok(false);
    };
    if Visibility::of_story(conn, &project_id, &story_id)? != Visibility::Visible
        || load(conn, recording_id)?.is_some()
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
    )?;
    Ok(true)
}

/// A person's save of a recording's transcript (the caller checked visibility).
pub fn save_person(
    conn: &Connection,
    project_id: &str,
    story_id: &str,
    recording_id: &str,
    save: &Save,
    by: &str,
) -> Result<Saved> {
    let current = load(conn, recording_id)?;
    let base = if model::needs_base(current.as_ref(), save) {
        segments_at(conn, recording_id, save.base_revision)?
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
    )?;
    load(conn, recording_id)?
        .map(Saved::Saved)
        .ok_or_else(|| Error::internal("a saved transcript was not found again"))
}

/// Forgets every transcript, revision, job, flag and indexed segment of a story (its
/// withdrawal), and its transcript entries in the feed.
pub fn forget_story(conn: &Connection, story_id: &str) -> Result<()> {
    for table in [
        "transcripts",
        "transcript_revisions",
        "transcript_jobs",
        "transcript_flags",
        "transcript_search",
    ] {
        conn.execute(
            &format!("DELETE FROM {table} WHERE story_id = ?1"),
            [story_id],
        )?;
    }
    conn.execute(
        "DELETE FROM changes WHERE story_id = ?1 AND kind = 'transcript'",
        [story_id],
    )?;
    Ok(())
}

fn index(
    conn: &Connection,
    story_id: &str,
    recording_id: &str,
    segments: &[Segment],
) -> Result<()> {
    conn.execute(
        "DELETE FROM transcript_search WHERE recording_id = ?1",
        [recording_id],
    )?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO transcript_search (recording_id, story_id, start_ms, text) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for s in segments {
        stmt.execute(params![recording_id, story_id, s.start_ms, s.text])?;
    }
    Ok(())
}

/// Segments of the project's visible stories holding every typed word, best first.
pub fn search(conn: &Connection, project_id: &str, typed: &str, limit: u32) -> Result<Vec<Hit>> {
    let Some(expression) = crate::search::match_expression(typed) else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT t.story_id, t.recording_id, t.start_ms, t.text
         FROM transcript_search t JOIN stories s ON s.id = t.story_id
         WHERE transcript_search MATCH ?1 AND s.project_id = ?2 AND {}
         ORDER BY rank LIMIT ?3",
        crate::visibility::VISIBLE_SQL
    ))?;
    let hits = stmt
        .query_map(params![expression, project_id, limit], |r| {
            Ok(Hit {
                story_id: r.get(0)?,
                recording_id: r.get(1)?,
                start_ms: r.get(2)?,
                text: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(hits)
}

/// The open flags of a recording (callers check visibility).
pub fn open_flags(conn: &Connection, recording_id: &str) -> Result<Vec<Flag>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, recording_id, segment_start_ms, suggested FROM transcript_flags
         WHERE recording_id = ?1 AND state = 'open' ORDER BY segment_start_ms, created_at",
    )?;
    let flags = stmt
        .query_map([recording_id], |r| {
            Ok(Flag {
                id: r.get(0)?,
                recording_id: r.get(1)?,
                segment_start_ms: r.get(2)?,
                suggested: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(flags)
}

/// The transcripts of a visible story's delivered recordings with their open flags
/// (the caller checked the story's visibility).
pub fn shown_for(
    conn: &Connection,
    recording_ids: &[String],
) -> Result<Vec<(String, ShownTranscript)>> {
    let mut out = Vec::new();
    for id in recording_ids {
        if let Some(transcript) = load(conn, id)? {
            out.push((
                id.clone(),
                ShownTranscript {
                    transcript,
                    flags: open_flags(conn, id)?,
                },
            ));
        }
    }
    Ok(out)
}

/// The transcript of a recording of the storyteller's story, while it is visible.
fn storytellers(
    conn: &Connection,
    project_id: &str,
    story_id: &str,
    recording_id: &str,
) -> Result<Transcript> {
    if Visibility::of_story(conn, project_id, story_id)? != Visibility::Visible {
        return Err(Error::not_found("transcript"));
    }
    load(conn, recording_id)?
        .filter(|t| t.story_id == story_id)
        .ok_or_else(|| Error::not_found("transcript"))
}

fn suggest(
    conn: &Connection,
    story_id: &str,
    recording_id: &str,
    segment_start_ms: u64,
    suggested: &str,
) -> Result<String> {
    let suggested = flags::check_suggestion(suggested)?;
    let transcript = load(conn, recording_id)?
        .filter(|t| t.story_id == story_id)
        .ok_or_else(|| Error::not_found("transcript"))?;
    flags::check_passage(&transcript, segment_start_ms)?;
    let open: i64 = conn.query_row(
        "SELECT COUNT(*) FROM transcript_flags WHERE story_id = ?1 AND state = 'open'",
        [story_id],
        |r| r.get(0),
    )?;
    flags::check_room(open)?;
    let project_id: String = conn.query_row(
        "SELECT project_id FROM stories WHERE id = ?1",
        [story_id],
        |r| r.get(0),
    )?;
    let id = format!("{:032x}", rand::random::<u128>());
    conn.execute(
        "INSERT INTO transcript_flags (id, recording_id, story_id, project_id, segment_start_ms, suggested, state, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open', ?7)",
        params![id, recording_id, story_id, project_id, segment_start_ms, suggested, now_ms()],
    )?;
    Ok(id)
}

fn decide(
    conn: &Connection,
    project_id: &str,
    flag_id: &str,
    accept: bool,
    by: &str,
) -> Result<DecidedFlag> {
    let flag: Option<(String, u64, String)> = conn
        .query_row(
            "SELECT recording_id, segment_start_ms, suggested FROM transcript_flags
             WHERE id = ?1 AND project_id = ?2 AND state = 'open'",
            params![flag_id, project_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let (recording_id, start_ms, suggested) = flag.ok_or_else(|| Error::not_found("open flag"))?;
    let story_id = visible_recording(conn, project_id, &recording_id)?;
    if accept {
        let current = load(conn, &recording_id)?.ok_or_else(|| Error::not_found("transcript"))?;
        let save = flags::accepted(&current, start_ms, suggested)?;
        if let Saved::Conflict(_) =
            save_person(conn, project_id, &story_id, &recording_id, &save, by)?
        {
            return Err(Error::conflict(
                "stale_revision",
                "the transcript changed; try again",
            ));
        }
    }
    conn.execute(
        "UPDATE transcript_flags SET state = ?2, decided_at = ?3 WHERE id = ?1",
        params![
            flag_id,
            if accept { "accepted" } else { "rejected" },
            now_ms()
        ],
    )?;
    Ok(DecidedFlag {
        story_id,
        recording_id,
    })
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
        params![queue::MAX_ATTEMPTS, now],
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

/// The project of the job if `worker` still holds it (nobody claimed it again after
/// its lease).
fn held(conn: &Connection, worker: &str, recording_id: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT project_id FROM transcript_jobs
             WHERE recording_id = ?1 AND claimed_by = ?2 AND state = 'queued'",
            params![recording_id, worker],
            |r| r.get(0),
        )
        .optional()?)
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
    if held(conn, worker, recording_id)?.is_none() {
        return Ok(false);
    }
    let kept = save_machine(conn, recording_id, language, segments)?;
    conn.execute(
        "UPDATE transcript_jobs SET state = 'done', claimed_by = NULL, lease_until = NULL, last_error = NULL
         WHERE recording_id = ?1",
        [recording_id],
    )?;
    Ok(kept)
}

/// Gives the job back after a failed run, to be tried again after a delay that doubles
/// with each attempt (queue::after_failure).
pub fn fail(
    conn: &Connection,
    worker: &str,
    recording_id: &str,
    error: &str,
    now: i64,
    retry_ms: i64,
) -> Result<()> {
    if held(conn, worker, recording_id)?.is_none() {
        return Ok(());
    }
    let attempts: u32 = conn.query_row(
        "SELECT attempts FROM transcript_jobs WHERE recording_id = ?1",
        [recording_id],
        |r| r.get(0),
    )?;
    let (delay, again) = queue::after_failure(attempts, retry_ms);
    let state = if again { "queued" } else { "failed" };
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

impl Transcripts for SqliteData {
    fn lead_transcript(&self, project_id: &str, recording_id: &str) -> Result<Transcript> {
        self.db().with(|conn| {
            visible_recording(conn, project_id, recording_id)?;
            load(conn, recording_id)?.ok_or_else(|| {
                Error::refused(
                    StatusCode::NOT_FOUND,
                    "no_transcript",
                    "this recording has no transcript yet",
                )
            })
        })
    }

    fn save_lead_transcript(
        &self,
        project_id: &str,
        recording_id: &str,
        save: &Save,
        by: &str,
    ) -> Result<Saved> {
        self.db().write(|tx| {
            let story = visible_recording(tx, project_id, recording_id)?;
            save_person(tx, project_id, &story, recording_id, save, by)
        })
    }

    fn search_transcripts(&self, project_id: &str, typed: &str, limit: u32) -> Result<Vec<Hit>> {
        self.db()
            .with(|conn| search(conn, project_id, typed, limit))
    }

    fn decide_transcript_flag(
        &self,
        project_id: &str,
        flag_id: &str,
        accept: bool,
        by: &str,
    ) -> Result<DecidedFlag> {
        self.db()
            .write(|tx| decide(tx, project_id, flag_id, accept, by))
    }

    fn storyteller_transcript(
        &self,
        project_id: &str,
        story_id: &str,
        recording_id: &str,
    ) -> Result<Transcript> {
        self.db()
            .with(|conn| storytellers(conn, project_id, story_id, recording_id))
    }

    fn suggest_transcript_flag(
        &self,
        project_id: &str,
        story_id: &str,
        recording_id: &str,
        segment_start_ms: u64,
        suggested: &str,
    ) -> Result<String> {
        self.db().write(|tx| {
            storytellers(tx, project_id, story_id, recording_id)?;
            suggest(tx, story_id, recording_id, segment_start_ms, suggested)
        })
    }

    fn claim_transcript_job(&self, worker: &str, now: i64, lease_ms: i64) -> Result<Option<Job>> {
        self.db().write(|tx| claim(tx, worker, now, lease_ms))
    }

    fn finish_transcript_job(
        &self,
        worker: &str,
        recording_id: &str,
        language: &str,
        segments: &[Segment],
    ) -> Result<bool> {
        self.db()
            .write(|tx| finish(tx, worker, recording_id, language, segments))
    }

    fn fail_transcript_job(
        &self,
        worker: &str,
        recording_id: &str,
        error: &str,
        now: i64,
        retry_ms: i64,
    ) -> Result<()> {
        self.db()
            .write(|tx| fail(tx, worker, recording_id, error, now, retry_ms))
    }

    fn held_transcript_job(&self, worker: &str, recording_id: &str) -> Result<Option<String>> {
        self.db().with(|conn| held(conn, worker, recording_id))
    }
}
