use rusqlite::{OptionalExtension, Transaction, params};

use tellus_protocol::TextField;

use super::rows::parse_enum;
use super::{Store, limits, project, recordings, stories};
use crate::error::{Error, Result};
use crate::model::{NewNote, Note, NoteId, NoteKind, RecordingId, StoryId, Timestamp};
use crate::position::AudioPosition;

fn note_not_found(id: NoteId) -> Error {
    Error::NotFound {
        what: NoteId::WHAT,
        id: id.to_string(),
    }
}

pub(super) fn for_story(tx: &Transaction<'_>, story: StoryId) -> Result<Vec<Note>> {
    // Timeline order: notes at a position first, by position; then the rest as written.
    let mut stmt = tx.prepare_cached(
        "SELECT id, story_id, kind, text, position_ms, question_id, created_at, recording_id
         FROM notes WHERE story_id = ?1
         ORDER BY position_ms IS NULL, position_ms, id",
    )?;
    let rows = stmt.query_map([story], |r| {
        Ok(Note {
            id: r.get(0)?,
            story_id: r.get(1)?,
            kind: parse_enum(r, 2, NoteKind::parse)?,
            text: r.get(3)?,
            at: r
                .get::<_, Option<i64>>(4)?
                .map(|ms| AudioPosition(ms as u64)),
            question_id: r.get(5)?,
            created_at: r.get(6)?,
            recording_id: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The recording a position is in, checked: one of the story's recordings (the latest
/// when none is named) with the position inside it, or the story's recording in
/// progress (a note taken while recording; its end is not known yet). A story with no
/// recording yet keeps a position with no recording.
fn recording_for(
    tx: &Transaction<'_>,
    story: StoryId,
    named: Option<RecordingId>,
    at: AudioPosition,
) -> Result<Option<RecordingId>> {
    let indexed = recordings::for_story(tx, story)?;
    let recording = match named {
        Some(id) => match indexed.iter().find(|r| r.id == id) {
            Some(r) => r,
            None => {
                let capturing: bool = tx
                    .query_row(
                        "SELECT 1 FROM captures WHERE recording_id = ?1 AND story_id = ?2",
                        params![id, story],
                        |_| Ok(true),
                    )
                    .optional()?
                    .unwrap_or(false);
                if capturing {
                    return Ok(Some(id));
                }
                return Err(Error::invalid(format!(
                    "recording {id} is not one of this story's recordings"
                )));
            }
        },
        None => match indexed.last() {
            Some(latest) => latest,
            None => return Ok(None),
        },
    };
    let end = AudioPosition::from_millis(recording.duration_ms());
    if at > end {
        let number = indexed
            .iter()
            .position(|r| r.id == recording.id)
            .unwrap_or(0)
            + 1;
        return Err(Error::invalid(format!(
            "{at} is past the end of recording {number} of this story ({end} long)"
        )));
    }
    Ok(Some(recording.id))
}

impl Store {
    /// Adds a note or marker to a story. A marker needs a position; a question it refers
    /// to must be in the project's guide, and gives a marker its text when none is typed.
    pub fn add_note(&self, story: StoryId, new: &NewNote) -> Result<Note> {
        let at = new
            .at
            .map(|p| i64::try_from(p.as_millis()))
            .transpose()
            .map_err(|_| Error::invalid("that audio position is too large"))?;
        if new.kind == NoteKind::Marker && at.is_none() {
            return Err(Error::invalid("a marker needs an audio position"));
        }
        let note = self.write(|tx| {
            let project = project::load(tx)?;
            let mut text = limits::text(&project.limits, TextField::Note, &new.text, false)?;
            stories::ensure_open(tx, story)?;
            if let Some(qid) = &new.question_id {
                let question = project.question(qid).ok_or_else(|| {
                    let ids: Vec<&str> = project.guide.iter().map(|q| q.id.as_str()).collect();
                    Error::invalid(format!(
                        "'{qid}' is not a question of this project's guide ({})",
                        ids.join(", ")
                    ))
                })?;
                if text.is_empty() {
                    text = question.text.clone();
                }
            }
            if text.is_empty() {
                return Err(Error::invalid("a note cannot be empty"));
            }
            let recording_id = match new.at {
                Some(at) => recording_for(tx, story, new.recording_id, at)?,
                None if new.recording_id.is_some() => {
                    return Err(Error::invalid("a note in a recording needs its position"));
                }
                None => None,
            };
            let note = Note {
                id: NoteId::new(),
                story_id: story,
                kind: new.kind,
                text,
                at: new.at,
                question_id: new.question_id.clone(),
                created_at: Timestamp::now(),
                recording_id,
            };
            tx.execute(
                "INSERT INTO notes (id, story_id, kind, text, position_ms, question_id, created_at,
                                    recording_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    note.id,
                    note.story_id,
                    note.kind.as_str(),
                    note.text,
                    at,
                    note.question_id,
                    note.created_at,
                    note.recording_id
                ],
            )?;
            limits::check_story(tx, story, &project.limits)?;
            Ok(note)
        })?;
        self.story_changed(story);
        Ok(note)
    }

    /// Replaces a note's or marker's text (held to the limits like new input); what a
    /// reporter does to shorten a story its server will not take.
    pub fn edit_note(&self, id: NoteId, text: &str) -> Result<Note> {
        let (story, note) = self.write(|tx| {
            let project = project::load(tx)?;
            let text = limits::text(&project.limits, TextField::Note, text, true)?;
            let story: StoryId = tx
                .query_row("SELECT story_id FROM notes WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?
                .ok_or_else(|| note_not_found(id))?;
            stories::ensure_open(tx, story)?;
            tx.execute(
                "UPDATE notes SET text = ?2 WHERE id = ?1",
                params![id, text],
            )?;
            limits::check_story(tx, story, &project.limits)?;
            let note = for_story(tx, story)?
                .into_iter()
                .find(|n| n.id == id)
                .ok_or_else(|| note_not_found(id))?;
            Ok((story, note))
        })?;
        self.story_changed(story);
        Ok(note)
    }

    /// Deletes a note or marker.
    pub fn delete_note(&self, id: NoteId) -> Result<()> {
        let story = self.write(|tx| {
            let story: StoryId = tx
                .query_row("SELECT story_id FROM notes WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?
                .ok_or_else(|| note_not_found(id))?;
            tx.execute("DELETE FROM notes WHERE id = ?1", [id])?;
            Ok(story)
        })?;
        self.story_changed(story);
        Ok(())
    }

    /// The story's notes and markers in timeline order.
    pub fn notes(&self, story: StoryId) -> Result<Vec<Note>> {
        self.read(|tx| {
            stories::ensure_exists(tx, story)?;
            for_story(tx, story)
        })
    }

    /// A story with its notes and consent history, read from one snapshot.
    pub fn story_with_details(
        &self,
        story: StoryId,
    ) -> Result<(
        crate::model::Story,
        Vec<Note>,
        Vec<crate::model::ConsentEvent>,
    )> {
        self.read(|tx| {
            let full = stories::load(tx, story)?;
            let notes = for_story(tx, story)?;
            let events = super::consent::events(tx, story)?;
            Ok((full, notes, events))
        })
    }
}
