use rusqlite::{OptionalExtension, Transaction, params};

use super::rows::parse_enum;
use super::{Store, stories};
use crate::error::{Error, Result};
use crate::model::{Recording, RecordingId, RecordingState, StoryId};

const RECORDING_COLUMNS: &str = "id, story_id, file_name, format, sample_rate, channels, frames,
    bytes, sha256, state, created_at, erased_at IS NOT NULL, pcm_sha256";

fn recording_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Recording> {
    Ok(Recording {
        id: r.get(0)?,
        story_id: r.get(1)?,
        file_name: r.get(2)?,
        format: r.get(3)?,
        sample_rate: r.get(4)?,
        channels: r.get(5)?,
        frames: r.get::<_, i64>(6)? as u64,
        bytes: r.get::<_, i64>(7)? as u64,
        sha256: r.get(8)?,
        state: if r.get::<_, bool>(11)? {
            RecordingState::Erased
        } else {
            parse_enum(r, 9, RecordingState::parse)?
        },
        created_at: r.get(10)?,
        pcm_sha256: r.get(12)?,
    })
}

/// One recording, if this database indexes it.
pub(crate) fn one(tx: &Transaction<'_>, id: RecordingId) -> Result<Option<Recording>> {
    Ok(tx
        .query_row(
            &format!("SELECT {RECORDING_COLUMNS} FROM recordings WHERE id = ?1"),
            [id],
            recording_from_row,
        )
        .optional()?)
}

pub(crate) fn for_story(tx: &Transaction<'_>, story: StoryId) -> Result<Vec<Recording>> {
    for_stories_between(tx, story, story)
}

/// The recordings of the stories with ids from `first` to `last`, by story, oldest first.
pub(crate) fn for_stories_between(
    tx: &Transaction<'_>,
    first: StoryId,
    last: StoryId,
) -> Result<Vec<Recording>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {RECORDING_COLUMNS} FROM recordings WHERE story_id BETWEEN ?1 AND ?2 ORDER BY story_id, id"
    ))?;
    let rows = stmt.query_map([first, last], recording_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Inserts a recording's row; the caller has checked the story exists.
pub(super) fn insert(
    tx: &Transaction<'_>,
    recording: &Recording,
    frames: i64,
    bytes: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO recordings (id, story_id, file_name, format, sample_rate, channels,
            frames, bytes, sha256, state, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            recording.id,
            recording.story_id,
            recording.file_name,
            recording.format,
            recording.sample_rate,
            recording.channels,
            frames,
            bytes,
            recording.sha256,
            recording.state.as_str(),
            recording.created_at
        ],
    )?;
    Ok(())
}

/// A frame or byte count as SQLite stores it.
pub(super) fn to_sql_count(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::invalid(format!("{what} is out of range")))
}

impl Store {
    /// Indexes a finished audio file (already in `recordings/`) under its story.
    pub fn add_recording(&self, recording: &Recording) -> Result<()> {
        let frames = to_sql_count(recording.frames, "a recording's frame count")?;
        let bytes = to_sql_count(recording.bytes, "a recording's size")?;
        self.write(|tx| {
            stories::ensure_exists(tx, recording.story_id)?;
            insert(tx, recording, frames, bytes)
        })?;
        self.story_changed(recording.story_id);
        Ok(())
    }

    /// Marks a recording's audio as erased at the storyteller's request (its file is
    /// gone): it reads `erased` from now on and is never offered for delivery again.
    pub(crate) fn mark_erased(&self, recording: RecordingId) -> Result<()> {
        let story = self.write(|tx| {
            tx.execute(
                "UPDATE recordings SET erased_at = ?2 WHERE id = ?1 AND erased_at IS NULL",
                params![recording, crate::model::Timestamp::now()],
            )?;
            Ok(tx.query_row(
                "SELECT story_id FROM recordings WHERE id = ?1",
                [recording],
                |r| r.get::<_, StoryId>(0),
            )?)
        })?;
        self.story_changed(story);
        Ok(())
    }

    /// One recording by id.
    pub fn recording(&self, id: RecordingId) -> Result<Recording> {
        self.read(|tx| one(tx, id))?.ok_or_else(|| Error::NotFound {
            what: "recording",
            id: id.to_string(),
        })
    }

    /// The story's recordings, oldest first.
    pub fn recordings(&self, story: StoryId) -> Result<Vec<Recording>> {
        self.read(|tx| {
            stories::ensure_exists(tx, story)?;
            for_story(tx, story)
        })
    }
}
