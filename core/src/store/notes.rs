use rusqlite::{Transaction, params};

use tellus_protocol::TextField;

use super::rows::parse_enum;
use super::{Store, limits, project, stories};
use crate::error::{Error, Result};
use crate::model::{NewNote, Note, NoteId, NoteKind, StoryId, Timestamp};
use crate::position::AudioPosition;

pub(super) fn for_story(tx: &Transaction<'_>, story: StoryId) -> Result<Vec<Note>> {
    // Timeline order: notes at a position first, by position; then the rest as written.
    let mut stmt = tx.prepare_cached(
        "SELECT id, story_id, kind, text, position_ms, question_id, created_at
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
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
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
            stories::ensure_exists(tx, story)?;
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
            let note = Note {
                id: NoteId::new(),
                story_id: story,
                kind: new.kind,
                text,
                at: new.at,
                question_id: new.question_id.clone(),
                created_at: Timestamp::now(),
            };
            tx.execute(
                "INSERT INTO notes (id, story_id, kind, text, position_ms, question_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    note.id,
                    note.story_id,
                    note.kind.as_str(),
                    note.text,
                    at,
                    note.question_id,
                    note.created_at
                ],
            )?;
            limits::check_story(tx, story, &project.limits)?;
            Ok(note)
        })?;
        self.story_changed(story);
        Ok(note)
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
