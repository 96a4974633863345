//! A recording's transcript: timed segments, its language, who wrote the current text
//! (the machine draft or a person), its revisions, and whether a person went through
//! it. Saves are revisioned: a save names the revision it edits; a save over a newer
//! revision is merged segment by segment when the two edits touch different segments,
//! and refused (409, with the current text) when they touch the same one.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::clock::{now_ms, rfc3339};
use crate::error::{Error, Result};
use crate::visibility::Visibility;

/// Longest text of one segment, and most segments in one transcript.
pub const MAX_SEGMENT_CHARS: usize = 4000;
pub const MAX_SEGMENTS: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The engine's draft, untouched by a person.
    Machine,
    /// A person saved this revision.
    Person,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Machine => "machine",
            Source::Person => "person",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    pub recording_id: String,
    pub story_id: String,
    pub language: String,
    pub source: Source,
    pub revision: u32,
    /// A person went through the whole transcript (the page stops calling it a draft).
    pub reviewed: bool,
    pub segments: Vec<Segment>,
    pub updated_at: String,
}

/// A lead's save.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Save {
    /// The revision these segments were edited from.
    pub base_revision: u32,
    pub segments: Vec<Segment>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub reviewed: Option<bool>,
}

/// What a save came to.
#[derive(Debug)]
pub enum Saved {
    Saved(Transcript),
    /// Someone else's save touched the same segments: nothing was kept.
    Conflict(Transcript),
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
        .map_err(|e| Error::Config(format!("a stored transcript cannot be read: {e}")))
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

/// Refuses segments a transcript cannot hold.
pub fn check(segments: &[Segment], language: &str) -> Result<()> {
    let bad = |m: String| Error::bad_request("invalid_transcript", m);
    if segments.len() > MAX_SEGMENTS {
        return Err(bad(format!(
            "a transcript holds at most {MAX_SEGMENTS} segments"
        )));
    }
    if language.is_empty()
        || language.len() > 35
        || !language
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(bad(
            "language must be a language tag such as 'en' or 'pt-BR'".into(),
        ));
    }
    let mut last_start = 0;
    for (n, s) in segments.iter().enumerate() {
        if s.end_ms < s.start_ms {
            return Err(bad(format!("segment {} ends before it starts", n + 1)));
        }
        if s.start_ms < last_start {
            return Err(bad(format!(
                "segment {} starts before the one before it",
                n + 1
            )));
        }
        last_start = s.start_ms;
        if s.text.chars().count() > MAX_SEGMENT_CHARS
            || s.speaker.as_ref().is_some_and(|n| n.chars().count() > 200)
        {
            return Err(bad(format!("segment {} is too long", n + 1)));
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn store(
    conn: &Connection,
    project_id: &str,
    story_id: &str,
    recording_id: &str,
    language: &str,
    source: Source,
    revision: u32,
    reviewed: bool,
    segments: &[Segment],
    by: &str,
) -> Result<()> {
    let text = serde_json::to_string(segments)
        .map_err(|e| Error::Config(format!("a transcript cannot be written: {e}")))?;
    let now = now_ms();
    conn.execute(
        "INSERT INTO transcripts (recording_id, story_id, project_id, language, source, revision, reviewed, segments, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(recording_id) DO UPDATE SET language = ?4, source = ?5, revision = ?6,
             reviewed = ?7, segments = ?8, updated_at = ?9",
        params![recording_id, story_id, project_id, language, source.as_str(), revision, reviewed, text, now],
    )?;
    conn.execute(
        "INSERT INTO transcript_revisions (recording_id, story_id, revision, source, segments, saved_by, saved_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![recording_id, story_id, revision, source.as_str(), text, by, now],
    )?;
    super::search::index(conn, story_id, recording_id, segments)?;
    conn.execute(
        "INSERT INTO changes (project_id, kind, story_id, recording_id, revision, at)
         VALUES (?1, 'transcript', ?2, ?3, ?4, ?5)",
        params![project_id, story_id, recording_id, revision, now],
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
    check(segments, language)?;
    store(
        conn,
        &project_id,
        &story_id,
        recording_id,
        language,
        Source::Machine,
        1,
        false,
        segments,
        "engine",
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
    let current_revision = current.as_ref().map_or(0, |t| t.revision);
    let language = save
        .language
        .clone()
        .or_else(|| current.as_ref().map(|t| t.language.clone()))
        .unwrap_or_else(|| "en".into());
    check(&save.segments, &language)?;
    if save.base_revision > current_revision {
        return Err(Error::bad_request(
            "invalid_revision",
            format!("base_revision {} does not exist yet", save.base_revision),
        ));
    }
    let segments = match &current {
        Some(current) if save.base_revision != current.revision => {
            let base = segments_at(conn, recording_id, save.base_revision)?;
            match base.and_then(|base| merge(&base, &save.segments, &current.segments)) {
                Some(merged) => merged,
                None => return Ok(Saved::Conflict(current.clone())),
            }
        }
        _ => save.segments.clone(),
    };
    let reviewed = save.reviewed.unwrap_or(false) || current.as_ref().is_some_and(|t| t.reviewed);
    let revision = current_revision + 1;
    store(
        conn,
        project_id,
        story_id,
        recording_id,
        &language,
        Source::Person,
        revision,
        reviewed,
        &segments,
        by,
    )?;
    load(conn, recording_id)?
        .map(Saved::Saved)
        .ok_or_else(|| Error::Config("a saved transcript was not found again".into()))
}

/// A three-way merge of two edits of `base`, segment by segment: possible when neither
/// edit changed the segments' timing and no segment was changed differently by both.
pub fn merge(base: &[Segment], mine: &[Segment], theirs: &[Segment]) -> Option<Vec<Segment>> {
    let same_timing = |a: &[Segment], b: &[Segment]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.start_ms == y.start_ms && x.end_ms == y.end_ms)
    };
    if !same_timing(base, mine) || !same_timing(base, theirs) {
        return None;
    }
    base.iter()
        .zip(mine)
        .zip(theirs)
        .map(|((b, m), t)| {
            if m == b || m == t {
                Some(t.clone())
            } else if t == b {
                Some(m.clone())
            } else {
                None
            }
        })
        .collect()
}

/// Forgets every transcript, revision, job and flag of a story (its withdrawal).
pub fn forget_story(conn: &Connection, story_id: &str) -> Result<()> {
    for table in [
        "transcripts",
        "transcript_revisions",
        "transcript_jobs",
        "transcript_flags",
    ] {
        conn.execute(
            &format!("DELETE FROM {table} WHERE story_id = ?1"),
            [story_id],
        )?;
    }
    super::search::forget_story(conn, story_id)?;
    conn.execute(
        "DELETE FROM changes WHERE story_id = ?1 AND kind = 'transcript'",
        [story_id],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start_ms: u64, text: &str) -> Segment {
        Segment {
            start_ms,
            end_ms: start_ms + 1000,
            text: text.into(),
            speaker: None,
        }
    }

    #[test]
    fn edits_of_different_segments_merge_and_of_the_same_one_do_not() {
        let base = [seg(0, "a"), seg(1000, "b"), seg(2000, "c")];
        let mine = [seg(0, "A"), seg(1000, "b"), seg(2000, "c")];
        let theirs = [seg(0, "a"), seg(1000, "b"), seg(2000, "C")];
        assert_eq!(
            merge(&base, &mine, &theirs).unwrap(),
            [seg(0, "A"), seg(1000, "b"), seg(2000, "C")]
        );
        let clash = [seg(0, "x"), seg(1000, "b"), seg(2000, "c")];
        assert_eq!(merge(&base, &mine, &clash), None);
        let same = mine.clone();
        assert_eq!(merge(&base, &mine, &same).unwrap(), mine);
        let retimed = [seg(0, "a"), seg(1500, "b"), seg(2000, "c")];
        assert_eq!(merge(&base, &retimed, &theirs), None);
    }

    #[test]
    fn segments_out_of_order_or_backwards_are_refused() {
        assert!(check(&[seg(1000, "a"), seg(0, "b")], "en").is_err());
        let backwards = Segment {
            start_ms: 5,
            end_ms: 1,
            text: "x".into(),
            speaker: None,
        };
        assert!(check(&[backwards], "en").is_err());
        assert!(check(&[seg(0, "a")], "en; DROP").is_err());
        assert!(check(&[seg(0, "a")], "pt-BR").is_ok());
    }
}
