//! Recovery on every store open: each `.partial.wav` a crash left behind is repaired
//! (header lengths from the file size, cut down to whole frames), indexed as recovered
//! under its story, and renamed to `<id>.wav`. Anything in the recordings folder that is
//! damaged or not ours is reported and left where it is: never deleted, never a crash.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::session::finalize_name;
use super::wav::{repair, sha256_file};
use crate::model::{
    CaptureStats, Recording, RecordingId, RecordingState, StopReason, StoryId, Timestamp,
};
use crate::store::Store;

/// A recording rebuilt from a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoveredRecording {
    pub recording_id: RecordingId,
    pub story_id: StoryId,
    pub file: PathBuf,
    pub frames: u64,
    pub duration_ms: u64,
}

/// An unfinished recording that held no audio: its session is closed and its empty file
/// removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscardedRecording {
    pub recording_id: RecordingId,
    pub story_id: StoryId,
    pub file: PathBuf,
}

/// A file in the recordings folder that could not be used, and why. It was left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AudioFileProblem {
    pub file: PathBuf,
    pub problem: String,
}

const PARTIAL: &str = ".partial.wav";

/// Repairs and indexes what a crash left; reports what cannot be used.
pub(crate) fn recover(store: &Store) -> (Vec<RecoveredRecording>, Vec<AudioFileProblem>) {
    let mut recovered = Vec::new();
    let mut problems = Vec::new();
    let dir = store.recordings_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(AudioFileProblem {
                file: dir,
                problem: format!("the recordings folder cannot be read: {e}"),
            });
            return (recovered, problems);
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let outcome = if let Some(id) = name.strip_suffix(PARTIAL) {
            recover_partial(store, &path, id).map(|r| {
                if let Some(r) = r {
                    recovered.push(r);
                }
            })
        } else if let Some(id) = name.strip_suffix(".wav") {
            check_finished(store, id)
        } else {
            Err("not a Tellus recording".to_string())
        };
        if let Err(problem) = outcome {
            problems.push(AudioFileProblem {
                file: path,
                problem: format!("{problem}; left in place"),
            });
        }
    }
    (recovered, problems)
}

fn check_finished(store: &Store, id: &str) -> Result<(), String> {
    let id: RecordingId = id
        .parse()
        .map_err(|_| "not a Tellus recording".to_string())?;
    match store.is_recording_indexed(id) {
        Ok(true) => Ok(()),
        Ok(false) => Err("a WAV file this database does not index".into()),
        Err(e) => Err(format!("cannot be checked: {e}")),
    }
}

fn recover_partial(
    store: &Store,
    path: &Path,
    id: &str,
) -> Result<Option<RecoveredRecording>, String> {
    let id: RecordingId = id
        .parse()
        .map_err(|_| "an unfinished recording with a name Tellus did not give it".to_string())?;
    // A recording in progress (in this or another process) holds an exclusive lock.
    let probe = OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(|e| format!("cannot be opened: {e}"))?;
    if fs4::FileExt::try_lock(&probe).is_err() {
        return Ok(None);
    }
    let final_path = path.with_file_name(format!("{id}.wav"));
    if store.is_recording_indexed(id).map_err(|e| e.to_string())? {
        // Stopped and indexed, but the rename did not happen: finish it.
        finalize_name(path, &final_path).map_err(|e| format!("cannot be renamed: {e}"))?;
        return Ok(None);
    }
    let story = store
        .capture_story(id)
        .map_err(|e| e.to_string())?
        .ok_or("an unfinished recording that no recording session in this database knows")?;
    let (layout, frames) = repair(path).map_err(|p| format!("an unfinished recording that {p}"))?;
    let (sha256, bytes) = sha256_file(path).map_err(|e| format!("cannot be read: {e}"))?;
    let recording = Recording {
        id,
        story_id: story,
        file_name: format!("{id}.wav"),
        format: "wav".into(),
        sample_rate: layout.format.sample_rate,
        channels: layout.format.channels,
        frames,
        bytes,
        sha256,
        state: RecordingState::Recovered,
        created_at: Timestamp::now(),
    };
    let stats = CaptureStats {
        frames_captured: frames,
        ..CaptureStats::default()
    };
    store
        .finish_capture(&recording, &stats, StopReason::Recovered)
        .map_err(|e| format!("could not be indexed: {e}"))?;
    drop(probe);
    finalize_name(path, &final_path).map_err(|e| format!("cannot be renamed: {e}"))?;
    Ok(Some(RecoveredRecording {
        recording_id: id,
        story_id: story,
        file: final_path,
        frames,
        duration_ms: layout.format.frames_to_millis(frames),
    }))
}
