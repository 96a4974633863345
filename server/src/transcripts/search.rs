//! Full-text search over transcripts (SQLite FTS5, table `transcript_search`), one row
//! per segment so that a hit names the moment: story, recording and the segment's
//! start. Rewritten with every saved revision, emptied on withdrawal; results only of
//! stories a lead may see (visibility.rs).

use rusqlite::{Connection, params};
use serde::Serialize;

use super::model::Segment;
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    pub story_id: String,
    pub recording_id: String,
    pub start_ms: u64,
    /// The segment's text.
    pub text: String,
}

pub fn index(
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

pub fn forget_story(conn: &Connection, story_id: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM transcript_search WHERE story_id = ?1",
        [story_id],
    )?;
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
