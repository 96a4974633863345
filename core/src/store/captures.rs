//! Recording sessions: a row written when recording starts (so that a crash leaves the
//! story a `.partial.wav` belongs to), its pause/resume/gap boundaries, and on stop the
//! statistics and the reason, committed together with the recording's index entry.

use rusqlite::{OptionalExtension, Transaction, params};

use super::recordings::{self, to_sql_count};
use super::rows::parse_enum;
use super::{Store, stories};
use crate::error::{Error, Result};
use crate::model::{
    Capture, CaptureEvent, CaptureEventKind, CaptureStats, Recording, RecordingId, StopReason,
    StoryId, Timestamp,
};

/// What is known when a recording starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCapture {
    pub recording_id: RecordingId,
    pub story_id: StoryId,
    pub device: String,
    pub sample_rate: u32,
    pub channels: u16,
}

pub(super) fn origin_of(
    tx: &Transaction<'_>,
    recording: RecordingId,
) -> Result<Option<(StoryId, u32, u16)>> {
    Ok(tx
        .query_row(
            "SELECT story_id, sample_rate, channels FROM captures WHERE recording_id = ?1",
            [recording],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

pub(super) fn is_indexed(tx: &Transaction<'_>, recording: RecordingId) -> Result<bool> {
    Ok(tx
        .query_row("SELECT 1 FROM recordings WHERE id = ?1", [recording], |r| {
            r.get::<_, i64>(0)
        })
        .optional()?
        .is_some())
}

/// Closes a capture row with its statistics and the reason it stopped.
fn close(
    tx: &Transaction<'_>,
    recording: RecordingId,
    frames: i64,
    stats: &CaptureStats,
    reason: StopReason,
) -> Result<()> {
    tx.execute(
        "UPDATE captures SET stopped_at = ?2, stop_reason = ?3, frames_captured = ?4,
            frames_dropped = ?5, stream_errors = ?6, restarts = ?7
         WHERE recording_id = ?1",
        params![
            recording,
            Timestamp::now(),
            reason.as_str(),
            frames,
            to_sql_count(stats.frames_dropped, "a dropped-frame count")?,
            to_sql_count(stats.stream_errors, "a stream error count")?,
            to_sql_count(stats.restarts, "a restart count")?,
        ],
    )?;
    // No boundary lies past the end of the audio (after a crash, the audio after the
    // last checkpoint is gone; a pause recorded there now ends where the audio does).
    tx.execute(
        "UPDATE capture_events SET at_frame = ?2 WHERE recording_id = ?1 AND at_frame > ?2",
        params![recording, frames],
    )?;
    Ok(())
}

/// Indexes `recording` and closes its capture row, in the caller's transaction.
pub(super) fn finish(
    tx: &Transaction<'_>,
    recording: &Recording,
    stats: &CaptureStats,
    reason: StopReason,
) -> Result<()> {
    let frames = to_sql_count(recording.frames, "a recording's frame count")?;
    let bytes = to_sql_count(recording.bytes, "a recording's size")?;
    stories::ensure_exists(tx, recording.story_id)?;
    recordings::insert(tx, recording, frames, bytes)?;
    close(tx, recording.id, frames, stats, reason)
}

fn load(tx: &Transaction<'_>, recording: RecordingId) -> Result<Capture> {
    let mut capture = tx
        .query_row(
            "SELECT recording_id, story_id, device, sample_rate, channels, started_at,
                stopped_at, stop_reason, frames_captured, frames_dropped, stream_errors, restarts
             FROM captures WHERE recording_id = ?1",
            [recording],
            |r| {
                let reason: Option<String> = r.get(7)?;
                Ok(Capture {
                    recording_id: r.get(0)?,
                    story_id: r.get(1)?,
                    device: r.get(2)?,
                    sample_rate: r.get(3)?,
                    channels: r.get(4)?,
                    started_at: r.get(5)?,
                    stopped_at: r.get(6)?,
                    stop_reason: reason.as_deref().and_then(StopReason::parse),
                    stats: CaptureStats {
                        frames_captured: r.get::<_, i64>(8)? as u64,
                        frames_dropped: r.get::<_, i64>(9)? as u64,
                        stream_errors: r.get::<_, i64>(10)? as u64,
                        restarts: r.get::<_, i64>(11)? as u64,
                    },
                    events: Vec::new(),
                })
            },
        )
        .optional()?
        .ok_or_else(|| Error::NotFound {
            what: RecordingId::WHAT,
            id: recording.to_string(),
        })?;
    let mut stmt = tx.prepare_cached(
        "SELECT at_frame, kind, detail FROM capture_events WHERE recording_id = ?1 ORDER BY seq",
    )?;
    capture.events = stmt
        .query_map([recording], |r| {
            Ok(CaptureEvent {
                at_frame: r.get::<_, i64>(0)? as u64,
                kind: parse_enum(r, 1, CaptureEventKind::parse)?,
                detail: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(capture)
}

impl Store {
    /// Records that a recording session has started, before any audio is written.
    pub fn begin_capture(&self, new: &NewCapture) -> Result<()> {
        self.write(|tx| {
            stories::ensure_open(tx, new.story_id)?;
            super::limits::check_room_for_recording(tx, new.story_id, &super::limits::load(tx)?)?;
            tx.execute(
                "INSERT INTO captures (recording_id, story_id, device, sample_rate, channels,
                    started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    new.recording_id,
                    new.story_id,
                    new.device,
                    new.sample_rate,
                    new.channels,
                    Timestamp::now()
                ],
            )?;
            Ok(())
        })
    }

    /// Adds a pause, resume or gap boundary to a recording session.
    pub fn add_capture_event(&self, recording: RecordingId, event: &CaptureEvent) -> Result<()> {
        let at = to_sql_count(event.at_frame, "a frame position")?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO capture_events (recording_id, at_frame, kind, detail)
                 VALUES (?1, ?2, ?3, ?4)",
                params![recording, at, event.kind.as_str(), event.detail],
            )?;
            Ok(())
        })
    }

    /// Indexes a finished recording and closes its session with its statistics and the
    /// reason it stopped, in one transaction.
    pub fn finish_capture(
        &self,
        recording: &Recording,
        stats: &CaptureStats,
        reason: StopReason,
    ) -> Result<()> {
        self.write(|tx| finish(tx, recording, stats, reason))?;
        self.story_changed(recording.story_id);
        Ok(())
    }

    /// Closes a recording session that ended with no audio at all: nothing is indexed.
    pub fn end_capture_without_audio(
        &self,
        recording: RecordingId,
        stats: &CaptureStats,
        reason: StopReason,
    ) -> Result<()> {
        self.write(|tx| close(tx, recording, 0, stats, reason))
    }

    /// The story a recording session belongs to and the format it records, if this
    /// database knows it.
    pub(crate) fn capture_origin(
        &self,
        recording: RecordingId,
    ) -> Result<Option<(StoryId, u32, u16)>> {
        self.read(|tx| origin_of(tx, recording))
    }

    pub(crate) fn is_recording_indexed(&self, recording: RecordingId) -> Result<bool> {
        self.read(|tx| is_indexed(tx, recording))
    }

    /// A recording session with its statistics and boundaries.
    pub fn capture(&self, recording: RecordingId) -> Result<Capture> {
        self.read(|tx| load(tx, recording))
    }
}
