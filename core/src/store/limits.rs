//! The project's limits (tellus-protocol's `Limits`, as the server sent them) applied at
//! input: every write that changes what a story's document holds checks the text it
//! takes and then the whole story against them, inside its transaction, so a refused
//! change is an input error and changes nothing. A phone never builds what its server
//! will refuse (issue 24).

use rusqlite::Transaction;
use serde::Serialize;
use tellus_protocol::{Limits, TextField};

use super::{Store, consent, notes, project, recordings, stories};
use crate::error::{Error, Result};
use crate::model::StoryId;
use crate::sync::documents::story_document;

/// How full a story is, by the measure its input is checked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StorySize {
    /// The document's size as checked at input (its widest revision and time, and room
    /// for the recordings it may still get); at most `limits.document_bytes`.
    pub document_bytes: u64,
    pub notes: u32,
    pub fields: u32,
    pub recordings: u32,
}

/// The limits in force: the project's (from its server), or the protocol's defaults.
pub(super) fn load(tx: &Transaction<'_>) -> Result<Limits> {
    Ok(project::load(tx)?.limits)
}

/// Trims `text` and checks it against its limit; `required` refuses it empty.
pub(super) fn text(
    limits: &Limits,
    field: TextField,
    text: &str,
    required: bool,
) -> Result<String> {
    let trimmed = text.trim();
    if required && trimmed.is_empty() {
        return Err(Error::invalid(format!(
            "{} cannot be empty",
            field.describe()
        )));
    }
    limits
        .check_text(field, trimmed)
        .map_err(|e| Error::InvalidInput(e.0))?;
    Ok(trimmed.to_string())
}

fn measure(tx: &Transaction<'_>, story: StoryId, limits: &Limits) -> Result<StorySize> {
    let full = stories::load(tx, story)?;
    let notes = notes::for_story(tx, story)?;
    let recordings = recordings::for_story(tx, story)?;
    let identity = consent::identity_of(tx, story)?;
    let files = super::representations::files_between(tx, story, story)?;
    let doc = story_document(&full, &notes, &recordings, &files, &identity, 0);
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(StorySize {
        document_bytes: limits.document_bytes_for_input(&doc),
        notes: count(notes.len()),
        fields: count(full.demographics.len()),
        recordings: count(recordings.len()),
    })
}

/// Fails with an input error when the story, as the transaction has changed it so far,
/// no longer fits the limits; the caller's transaction then rolls back.
pub(super) fn check_story(tx: &Transaction<'_>, story: StoryId, limits: &Limits) -> Result<()> {
    let size = measure(tx, story, limits)?;
    let invalid = |e: tellus_protocol::OverLimit| Error::InvalidInput(e.0);
    limits
        .check_counts(
            size.notes as usize,
            size.fields as usize,
            size.recordings as usize,
        )
        .map_err(invalid)?;
    limits
        .check_document_size(size.document_bytes)
        .map_err(invalid)
}

/// Refuses to start another recording of a story that has all it may hold (recordings
/// and sessions still running or interrupted both count).
pub(super) fn check_room_for_recording(
    tx: &Transaction<'_>,
    story: StoryId,
    limits: &Limits,
) -> Result<()> {
    let taken: i64 = tx.query_row(
        "SELECT (SELECT count(*) FROM recordings WHERE story_id = ?1)
              + (SELECT count(*) FROM captures c WHERE c.story_id = ?1
                 AND NOT EXISTS (SELECT 1 FROM recordings r WHERE r.id = c.recording_id))",
        [story],
        |r| r.get(0),
    )?;
    if taken >= i64::from(limits.recordings_per_story) {
        return Err(Error::invalid(format!(
            "a story can hold at most {} recordings; start a new story for more",
            limits.recordings_per_story
        )));
    }
    Ok(())
}

impl Store {
    /// The limits in force for this data folder (the server's, once enrolled).
    pub fn limits(&self) -> Result<Limits> {
        self.read(load)
    }

    /// How full a story is, measured as its input is checked.
    pub fn story_size(&self, story: StoryId) -> Result<StorySize> {
        self.read(|tx| measure(tx, story, &load(tx)?))
    }
}
