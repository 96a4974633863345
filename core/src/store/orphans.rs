//! Recordings this database does not know: the audio files left in `recordings/` when a
//! damaged database was moved aside (DESIGN.md §3: moved aside, never deleted) and a new
//! one created. Opening reports them as problems and leaves them be; here they are
//! offered to the reporter by id and can be adopted into a story, verified and indexed
//! as recovered, so a story's audio is never stranded (issue 24).

use std::fs::OpenOptions;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Store, captures, limits, recordings, stories};
use crate::audio::session::finalize_name;
use crate::audio::wav::{parse_header, repair, sha256_file};
use crate::error::{Error, Result};
use crate::model::{Recording, RecordingId, RecordingState, StoryId, Timestamp};

/// An audio file in the recordings folder that no recording of this database indexes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrphanRecording {
    pub recording_id: RecordingId,
    pub file: PathBuf,
    /// A recording a crash interrupted (`.partial.wav`): repaired when adopted.
    pub unfinished: bool,
    pub sample_rate: u32,
    pub channels: u16,
    pub frames: u64,
    pub duration_ms: u64,
    pub bytes: u64,
}

const PARTIAL: &str = ".partial.wav";

/// The recording id a file's name gives, and whether it is unfinished.
fn id_of(path: &Path) -> Option<(RecordingId, bool)> {
    let name = path.file_name()?.to_str()?;
    if let Some(id) = name.strip_suffix(PARTIAL) {
        return Some((id.parse().ok()?, true));
    }
    Some((name.strip_suffix(".wav")?.parse().ok()?, false))
}

/// Reads a file's audio layout without changing it; None when it is not usable audio
/// (those stay reported as problems by the open report).
fn inspect(path: &Path, recording_id: RecordingId, unfinished: bool) -> Option<OrphanRecording> {
    let mut file = OpenOptions::new().read(true).open(path).ok()?;
    // A recording in progress (here or in another process) holds an exclusive lock.
    if unfinished && fs4::FileExt::try_lock(&file).is_err() {
        return None;
    }
    let mut head = Vec::with_capacity(4096);
    (&mut file).take(4096).read_to_end(&mut head).ok()?;
    let layout = parse_header(&head).ok()?;
    let bytes = file.metadata().ok()?.len();
    let frames = bytes.saturating_sub(layout.data_offset) / u64::from(layout.block_align);
    (frames > 0).then(|| OrphanRecording {
        recording_id,
        file: path.to_path_buf(),
        unfinished,
        sample_rate: layout.format.sample_rate,
        channels: layout.format.channels,
        frames,
        duration_ms: layout.format.frames_to_millis(frames),
        bytes,
    })
}

impl Store {
    /// Audio files in the recordings folder that this database does not index, oldest
    /// first (ids are UUIDv7), e.g. those of a database that was moved aside. A recording
    /// in progress, and sessions this database knows (repaired at open), are not listed.
    pub fn orphan_recordings(&self) -> Result<Vec<OrphanRecording>> {
        let dir = self.recordings_dir();
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(format!("cannot read {}", dir.display()), e))?;
        let mut found: Vec<(RecordingId, bool, PathBuf)> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter_map(|p| id_of(&p).map(|(id, unfinished)| (id, unfinished, p)))
            .collect();
        found.sort_by_key(|(id, _, _)| *id);
        let known = self.read(|tx| {
            found
                .iter()
                .map(|(id, _, _)| {
                    Ok(captures::is_indexed(tx, *id)? || captures::origin_of(tx, *id)?.is_some())
                })
                .collect::<Result<Vec<bool>>>()
        })?;
        Ok(found
            .into_iter()
            .zip(known)
            .filter(|(_, known)| !known)
            .filter_map(|((id, unfinished, path), _)| inspect(&path, id, unfinished))
            .collect())
    }

    /// Indexes an orphan recording under `story` as recovered: an unfinished one is
    /// repaired first (whole frames, header lengths), and each is hashed as it is now.
    /// The story's limits apply as to a new recording; a refused adoption changes
    /// nothing and the file stays where it is.
    pub fn adopt_recording(&self, recording_id: RecordingId, story: StoryId) -> Result<Recording> {
        let orphan = self
            .orphan_recordings()?
            .into_iter()
            .find(|o| o.recording_id == recording_id)
            .ok_or_else(|| Error::NotFound {
                what: "orphan recording",
                id: recording_id.to_string(),
            })?;
        self.read(|tx| {
            stories::ensure_exists(tx, story)?;
            let limits = limits::load(tx)?;
            limits::check_room_for_recording(tx, story, &limits)?;
            if orphan.bytes > limits.recording_bytes {
                return Err(Error::invalid(format!(
                    "this recording is {} bytes and the server accepts at most {}; it stays on the device",
                    orphan.bytes, limits.recording_bytes
                )));
            }
            Ok(())
        })?;
        let final_path = self.recordings_dir().join(format!("{recording_id}.wav"));
        let frames = if orphan.unfinished {
            let (_, frames) = repair(&orphan.file).map_err(|p| {
                Error::Audio(format!(
                    "the unfinished recording cannot be repaired: it {p}"
                ))
            })?;
            finalize_name(&orphan.file, &final_path)
                .map_err(|e| Error::io("cannot rename the repaired recording", e))?;
            frames
        } else {
            orphan.frames
        };
        let (sha256, bytes) = sha256_file(&final_path)
            .map_err(|e| Error::io("cannot read the recording to verify it", e))?;
        let recording = Recording {
            id: recording_id,
            story_id: story,
            file_name: format!("{recording_id}.wav"),
            format: "wav".into(),
            sample_rate: orphan.sample_rate,
            channels: orphan.channels,
            frames,
            bytes,
            sha256,
            state: RecordingState::Recovered,
            created_at: Timestamp::now(),
            pcm_sha256: None,
        };
        let frames = recordings::to_sql_count(recording.frames, "a recording's frame count")?;
        let size = recordings::to_sql_count(recording.bytes, "a recording's size")?;
        self.write(|tx| {
            stories::ensure_exists(tx, story)?;
            recordings::insert(tx, &recording, frames, size)?;
            limits::check_story(tx, story, &limits::load(tx)?)
        })?;
        self.story_changed(story);
        Ok(recording)
    }
}
