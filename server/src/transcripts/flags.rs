//! A storyteller's flag on their transcript: "at this moment, I said something else".
//! Made from the portal (the storyteller's own story only), seen by the project's leads
//! on the story page, and accepted (the segment's text becomes the suggestion, as a new
//! revision) or rejected. Forgotten with the story on withdrawal (model::forget_story).

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::model::{self, Save, Saved};
use crate::clock::now_ms;
use crate::error::{Error, Result};

/// Longest suggestion, and most open flags per story (a bound on what a code can add).
pub const MAX_SUGGESTION_CHARS: usize = 2000;
pub const MAX_OPEN_PER_STORY: i64 = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    pub id: String,
    pub recording_id: String,
    pub segment_start_ms: u64,
    pub suggested: String,
}

/// Files the storyteller's suggestion for the segment starting at `segment_start_ms`
/// of a recording of their story. Returns the flag's id.
pub fn suggest(
    conn: &Connection,
    story_id: &str,
    recording_id: &str,
    segment_start_ms: u64,
    suggested: &str,
) -> Result<String> {
    let suggested = suggested.trim();
    if suggested.is_empty() || suggested.chars().count() > MAX_SUGGESTION_CHARS {
        return Err(Error::bad_request(
            "invalid_suggestion",
            format!("write what you said, in at most {MAX_SUGGESTION_CHARS} characters"),
        ));
    }
    let transcript = model::load(conn, recording_id)?
        .filter(|t| t.story_id == story_id)
        .ok_or_else(|| Error::not_found("transcript"))?;
    if !transcript
        .segments
        .iter()
        .any(|s| s.start_ms == segment_start_ms)
    {
        return Err(Error::bad_request(
            "invalid_segment",
            "there is no passage starting at that moment",
        ));
    }
    let open: i64 = conn.query_row(
        "SELECT COUNT(*) FROM transcript_flags WHERE story_id = ?1 AND state = 'open'",
        [story_id],
        |r| r.get(0),
    )?;
    if open >= MAX_OPEN_PER_STORY {
        return Err(Error::refused(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too_many_flags",
            "this story has many open suggestions already; wait until the project has looked at them",
        ));
    }
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

/// The open flags of a recording (callers check visibility).
pub fn open_for(conn: &Connection, recording_id: &str) -> Result<Vec<Flag>> {
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

/// A lead of `project_id` accepts or rejects an open flag; accepting saves the
/// suggestion as the segment's text in a new revision. Returns the recording's id.
pub fn decide(
    conn: &Connection,
    project_id: &str,
    flag_id: &str,
    accept: bool,
    by: &str,
) -> Result<String> {
    let flag: Option<(String, u64, String)> = conn
        .query_row(
            "SELECT recording_id, segment_start_ms, suggested FROM transcript_flags
             WHERE id = ?1 AND project_id = ?2 AND state = 'open'",
            params![flag_id, project_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let (recording_id, start_ms, suggested) = flag.ok_or_else(|| Error::not_found("open flag"))?;
    let story_id = model::visible_recording(conn, project_id, &recording_id)?;
    if accept {
        let current =
            model::load(conn, &recording_id)?.ok_or_else(|| Error::not_found("transcript"))?;
        let mut segments = current.segments.clone();
        let segment = segments
            .iter_mut()
            .find(|s| s.start_ms == start_ms)
            .ok_or_else(|| {
                Error::conflict(
                    "segment_gone",
                    "the transcript no longer has a passage at that moment; reject this suggestion and edit by hand",
                )
            })?;
        segment.text = suggested;
        let save = Save {
            base_revision: current.revision,
            segments,
            language: None,
            reviewed: None,
        };
        if let Saved::Conflict(_) =
            model::save_person(conn, project_id, &story_id, &recording_id, &save, by)?
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
    Ok(recording_id)
}
