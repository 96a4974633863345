//! Recovery on every store open: each `.partial.wav` a crash left behind is repaired
//! (header lengths from the file size, cut down to whole frames; a damaged header
//! rebuilt from the format its recording session stored), indexed as recovered under its
//! story, and renamed to `<id>.wav`. A session's file that holds no audio at all (the app
//! stopped before any arrived) is removed once, and said so. Anything else in the
//! recordings folder that is damaged or not ours is reported and left where it is:
//! never deleted, never a crash.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::session::finalize_name;
use super::source::AudioFormat;
use super::wav::{Inspection, inspect, rebuild_header, repair, sha256_file};
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
    /// The file's header was damaged and was rebuilt from the recording's session.
    pub header_rebuilt: bool,
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

/// What became of one `.partial.wav`.
enum Outcome {
    /// A recording still being written (it holds its lock): left alone.
    InProgress,
    /// Stopped and indexed before the crash; only its final name was missing.
    Renamed,
    Recovered(RecoveredRecording),
    Discarded(DiscardedRecording),
}

/// What recovery found in the recordings folder.
#[derive(Default)]
pub(crate) struct Findings {
    pub recovered: Vec<RecoveredRecording>,
    pub discarded: Vec<DiscardedRecording>,
    pub problems: Vec<AudioFileProblem>,
}

/// Repairs and indexes what a crash left; removes empty leftovers; reports what cannot
/// be used.
pub(crate) fn recover(store: &Store) -> Findings {
    let mut found = Findings::default();
    let dir = store.recordings_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => {
            found.problems.push(AudioFileProblem {
                file: dir,
                problem: format!("the recordings folder cannot be read ({e})"),
            });
            return found;
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
            recover_partial(store, &path, id).map(|outcome| match outcome {
                Outcome::Recovered(r) => found.recovered.push(r),
                Outcome::Discarded(d) => found.discarded.push(d),
                Outcome::InProgress | Outcome::Renamed => {}
            })
        } else if let Some(id) = name.strip_suffix(".wav") {
            check_finished(store, id)
        } else if let Some(id) = made_from_recording(&name) {
            leftover_or_made(store, &path, &name, id)
        } else {
            Err("not a Tellus recording".to_string())
        };
        if let Err(problem) = outcome {
            found.problems.push(AudioFileProblem {
                file: path,
                problem: format!("{problem}; left in place"),
            });
        }
    }
    found
}

/// The recording id of a file made from a recording (issue 20): `<id>.flac`,
/// `<id>.opus`, their `.partial` while being made, and the `<id>.preparing` lock.
fn made_from_recording(name: &str) -> Option<&str> {
    use super::representations::{PARTIAL, PREPARING};
    let stem = name.strip_suffix(PARTIAL).unwrap_or(name);
    stem.strip_suffix(".flac")
        .or_else(|| stem.strip_suffix(".opus"))
        .or_else(|| name.strip_suffix(PREPARING))
}

/// A FLAC or listening copy of an indexed recording is ours. A `.partial` or a lock a
/// killed preparation left (no process holds the lock) is removed: the work is done
/// again on the next run, from the WAV, which is never deleted before its FLAC is
/// recorded.
fn leftover_or_made(store: &Store, path: &Path, name: &str, id: &str) -> Result<(), String> {
    use super::representations::{PARTIAL, PREPARING};
    let recording: RecordingId = id
        .parse()
        .map_err(|_| "not a Tellus recording".to_string())?;
    if !name.ends_with(PARTIAL) && !name.ends_with(PREPARING) {
        return check_finished(store, id);
    }
    let lock = path.with_file_name(format!("{recording}{PREPARING}"));
    if let Ok(held) = OpenOptions::new().read(true).open(&lock)
        && fs4::FileExt::try_lock(&held).is_err()
    {
        // Being made right now by another process.
        return Ok(());
    }
    match std::fs::remove_file(path) {
        Ok(()) => {
            tracing::info!(file = %path.display(), "an unfinished copy of a recording was removed; it is made again");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("an unfinished copy that cannot be removed ({e})")),
    }
}

fn check_finished(store: &Store, id: &str) -> Result<(), String> {
    let id: RecordingId = id
        .parse()
        .map_err(|_| "not a Tellus recording".to_string())?;
    match store.is_recording_indexed(id) {
        Ok(true) => Ok(()),
        Ok(false) => Err("a WAV file this database does not index".into()),
        Err(e) => Err(format!("a recording that cannot be looked up ({e})")),
    }
}

fn recover_partial(store: &Store, path: &Path, id: &str) -> Result<Outcome, String> {
    let id: RecordingId = id.parse().map_err(|_| {
        "named like an unfinished recording, but not a name Tellus gives".to_string()
    })?;
    // A recording in progress (in this or another process) holds an exclusive lock.
    let probe = OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(|e| format!("an unfinished recording that cannot be opened ({e})"))?;
    if fs4::FileExt::try_lock(&probe).is_err() {
        return Ok(Outcome::InProgress);
    }
    let final_path = path.with_file_name(format!("{id}.wav"));
    let indexed = store
        .is_recording_indexed(id)
        .map_err(|e| format!("an unfinished recording that cannot be looked up ({e})"))?;
    if indexed {
        // Stopped and indexed, but the rename did not happen: finish it.
        finalize_name(path, &final_path)
            .map_err(|e| format!("a finished recording that cannot be renamed ({e})"))?;
        return Ok(Outcome::Renamed);
    }
    let (story, sample_rate, channels) = store
        .capture_origin(id)
        .map_err(|e| format!("an unfinished recording that cannot be looked up ({e})"))?
        .ok_or(
            "an unfinished recording that no recording session in this database knows \
             (perhaps from another data folder)",
        )?;
    let session = AudioFormat {
        sample_rate,
        channels,
    };
    let unreadable = |e: std::io::Error| {
        format!("an unfinished recording of story {story} that cannot be read ({e})")
    };
    let header_rebuilt = match inspect(path, session).map_err(unreadable)? {
        Inspection::NoAudio => {
            drop(probe);
            std::fs::remove_file(path).map_err(|e| {
                format!("an unfinished recording of story {story} with no audio that cannot be removed ({e})")
            })?;
            store
                .end_capture_without_audio(id, &CaptureStats::default(), StopReason::Recovered)
                .map_err(|e| format!("its recording session could not be closed ({e})"))?;
            return Ok(Outcome::Discarded(DiscardedRecording {
                recording_id: id,
                story_id: story,
                file: path.to_path_buf(),
            }));
        }
        Inspection::Intact => false,
        Inspection::HeaderDamaged => {
            rebuild_header(path, session).map_err(|e| {
                format!("an unfinished recording of story {story} whose damaged header cannot be rebuilt ({e})")
            })?;
            true
        }
    };
    let (layout, frames) = repair(path).map_err(|e| {
        format!("an unfinished recording of story {story} that cannot be repaired ({e})")
    })?;
    let (sha256, bytes) = sha256_file(path).map_err(unreadable)?;
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
        pcm_sha256: None,
    };
    let stats = CaptureStats {
        frames_captured: frames,
        ..CaptureStats::default()
    };
    store
        .finish_capture(&recording, &stats, StopReason::Recovered)
        .map_err(|e| {
            format!("a recovered recording of story {story} that could not be indexed ({e})")
        })?;
    drop(probe);
    finalize_name(path, &final_path).map_err(|e| {
        format!("a recovered recording of story {story} that cannot be renamed ({e})")
    })?;
    Ok(Outcome::Recovered(RecoveredRecording {
        recording_id: id,
        story_id: story,
        file: final_path,
        frames,
        duration_ms: layout.format.frames_to_millis(frames),
        header_rebuilt,
    }))
}
