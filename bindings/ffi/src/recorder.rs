//! The recorder session a shell drives from its recording screen and its foreground
//! service: start, pause, resume, stop, markers and notes at the audio position,
//! statistics and a level observer. All of it is the core's `Recorder`; this file only
//! converts types.

use std::sync::Arc;

use tellus_core::audio::{self, CpalSource, FinishedRecording, Level, Recorder, RecorderStats};
use tellus_core::model::StopReason;
use tellus_core::{AudioPosition, Store};

use crate::error::Result;
use crate::observers::SubscriptionHandle;
use crate::records::NoteView;

/// An audio input the reporter can pick.
#[derive(Debug, Clone, uniffi::Record)]
pub struct AudioInputView {
    /// What `RecordingRequest.device` takes.
    pub name: String,
    pub description: String,
    pub is_default: bool,
    /// e.g. "48000 Hz, 1 ch, i16"; None when the device cannot be opened now.
    pub default_config: Option<String>,
}

/// How to record. The defaults (all None/false) record mono from the default microphone
/// at its own rate until `stop`.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct RecordingRequest {
    /// A device name from `list_audio_inputs`, or None for the default microphone.
    pub device: Option<String>,
    /// Keep two channels instead of mixing down to mono.
    pub stereo: bool,
    /// Ask the device for this rate instead of its own: one of the standard rates
    /// (8000 to 192000 Hz); any other is an `InvalidInput` error and creates nothing.
    pub sample_rate: Option<u32>,
    /// End by itself after this much time (paused time counts).
    pub max_duration_ms: Option<u64>,
}

/// Why a recording ended. Whatever the reason, everything captured was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum StopReasonView {
    Requested,
    DurationReached,
    InputEnded,
    LowDiskSpace,
    FileSizeLimit,
    DeviceFailed,
    WriteFailed,
    Recovered,
}

#[derive(Debug, Clone, Copy, uniffi::Record)]
pub struct LevelView {
    pub peak_dbfs: f32,
    pub rms_dbfs: f32,
    /// Where in the audio the measured window ends.
    pub at_ms: u64,
}

/// A snapshot for the recording screen. Dropped frames, stream errors and restarts are
/// reported so the shell can show them, never hidden.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RecorderStatsView {
    /// The audio captured so far: the elapsed time to show.
    pub position_ms: u64,
    /// The session's length: the device's clock, paused time and the time a failed
    /// microphone was silent included.
    pub session_ms: u64,
    pub paused: bool,
    pub frames_captured: u64,
    pub frames_written: u64,
    pub frames_dropped: u64,
    /// Frames on disk as of the last checkpoint: what a crash now would keep.
    pub frames_durable: u64,
    pub stream_errors: u64,
    pub restarts: u64,
    pub level: Option<LevelView>,
    /// Set once the session has ended, by `stop` or by itself.
    pub stopped: Option<StopReasonView>,
}

/// A finished recording, indexed on this device.
#[derive(Debug, Clone, uniffi::Record)]
pub struct FinishedRecordingView {
    pub recording_id: String,
    pub story_id: String,
    pub path: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub frames: u64,
    pub duration_ms: u64,
    pub bytes: u64,
    pub sha256: String,
    pub reason: StopReasonView,
    /// Why it ended, in words for the reporter.
    pub reason_message: String,
    pub frames_dropped: u64,
    pub stream_errors: u64,
    pub restarts: u64,
}

/// Told the level of every ~50 ms of audio, on a Rust thread. A slow observer sees fewer,
/// newer levels; it never slows the recording.
#[uniffi::export(with_foreign)]
pub trait LevelObserver: Send + Sync {
    fn level_changed(&self, level: LevelView) -> Result<(), crate::error::ObserverError>;
}

/// One recording of a story. Every method can be called from any thread.
#[derive(uniffi::Object)]
pub struct RecorderSession {
    recorder: Recorder,
}

/// The input devices of the platform's audio host.
#[uniffi::export]
pub fn list_audio_inputs() -> Result<Vec<AudioInputView>> {
    Ok(audio::list_input_devices()?
        .into_iter()
        .map(|d| AudioInputView {
            name: d.name,
            description: d.description,
            is_default: d.is_default,
            default_config: d.default_config,
        })
        .collect())
}

/// Room kept in `limits.recording_bytes` for a WAV file's header.
const WAV_HEADER_ROOM: u64 = 128;

pub(crate) fn start(
    store: &Arc<Store>,
    story: tellus_core::model::StoryId,
    request: RecordingRequest,
) -> Result<RecorderSession> {
    let source = CpalSource::open(
        request.device.as_deref(),
        request.sample_rate,
        request.stereo,
    )?;
    let defaults = audio::RecorderOptions::default();
    // A recording stops cleanly before its file outgrows what the server accepts (its
    // header, at most 128 bytes, counted with the audio).
    let max_file_bytes = store
        .limits()?
        .recording_bytes
        .saturating_sub(WAV_HEADER_ROOM)
        .min(defaults.max_file_bytes);
    let options = audio::RecorderOptions {
        max_duration: request
            .max_duration_ms
            .map(std::time::Duration::from_millis),
        max_file_bytes,
        ..defaults
    };
    let recorder = Recorder::start(store.clone(), story, Box::new(source), options)?;
    Ok(RecorderSession { recorder })
}

#[uniffi::export]
impl RecorderSession {
    pub fn recording_id(&self) -> String {
        self.recorder.recording_id().to_string()
    }

    pub fn story_id(&self) -> String {
        self.recorder.story_id().to_string()
    }

    pub fn sample_rate(&self) -> u32 {
        self.recorder.format().sample_rate
    }

    pub fn channels(&self) -> u16 {
        self.recorder.format().channels
    }

    /// The current audio position: where a marker placed now belongs.
    pub fn position_ms(&self) -> u64 {
        self.recorder.position().as_millis()
    }

    pub fn pause(&self) -> Result<()> {
        Ok(self.recorder.pause()?)
    }

    pub fn resume(&self) -> Result<()> {
        Ok(self.recorder.resume()?)
    }

    pub fn is_paused(&self) -> bool {
        self.recorder.is_paused()
    }

    /// A marker at the current audio position, optionally for a guide question.
    pub fn add_marker(&self, label: String, question_id: Option<String>) -> Result<NoteView> {
        Ok((&self.recorder.add_marker(&label, question_id.as_deref())?).into())
    }

    /// A note at the current audio position.
    pub fn add_note(&self, text: String) -> Result<NoteView> {
        Ok((&self.recorder.add_note(&text)?).into())
    }

    /// A note at a position taken earlier with `position_ms`: where the reporter began
    /// typing it.
    pub fn add_note_at(&self, text: String, at_ms: u64) -> Result<NoteView> {
        Ok((&self
            .recorder
            .add_note_at(&text, AudioPosition::from_millis(at_ms))?)
            .into())
    }

    pub fn stats(&self) -> RecorderStatsView {
        (&self.recorder.stats()).into()
    }

    /// True once the session has ended, by `stop` or by itself (length reached, storage
    /// low, a microphone that could not be restarted). Call `stop` to get the recording.
    pub fn has_stopped(&self) -> bool {
        self.recorder.has_stopped()
    }

    /// Stops (if still running), finishes and indexes the file. Calling it again returns
    /// the same recording.
    pub fn stop(&self) -> Result<FinishedRecordingView> {
        Ok((&self.recorder.stop()?).into())
    }

    /// Calls `observer` with the level of every ~50 ms, until the handle is cancelled or
    /// freed.
    pub fn observe_levels(&self, observer: Arc<dyn LevelObserver>) -> Arc<SubscriptionHandle> {
        let subscription =
            self.recorder
                .subscribe_levels(crate::observers::guarded(move |level: Level| {
                    observer.level_changed(level.into())
                }));
        Arc::new(SubscriptionHandle::new(subscription))
    }
}

impl From<StopReason> for StopReasonView {
    fn from(reason: StopReason) -> Self {
        match reason {
            StopReason::Requested => StopReasonView::Requested,
            StopReason::DurationReached => StopReasonView::DurationReached,
            StopReason::InputEnded => StopReasonView::InputEnded,
            StopReason::LowDiskSpace => StopReasonView::LowDiskSpace,
            StopReason::FileSizeLimit => StopReasonView::FileSizeLimit,
            StopReason::DeviceFailed => StopReasonView::DeviceFailed,
            StopReason::WriteFailed => StopReasonView::WriteFailed,
            StopReason::Recovered => StopReasonView::Recovered,
        }
    }
}

impl From<Level> for LevelView {
    fn from(level: Level) -> Self {
        LevelView {
            peak_dbfs: level.peak_dbfs,
            rms_dbfs: level.rms_dbfs,
            at_ms: level.at.as_millis(),
        }
    }
}

impl From<&RecorderStats> for RecorderStatsView {
    fn from(s: &RecorderStats) -> Self {
        RecorderStatsView {
            position_ms: s.position.as_millis(),
            session_ms: s.session.as_millis(),
            paused: s.paused,
            frames_captured: s.frames_captured,
            frames_written: s.frames_written,
            frames_dropped: s.frames_dropped,
            frames_durable: s.frames_durable,
            stream_errors: s.stream_errors,
            restarts: s.restarts,
            level: s.level.map(Into::into),
            stopped: s.stopped.map(Into::into),
        }
    }
}

impl From<&FinishedRecording> for FinishedRecordingView {
    fn from(done: &FinishedRecording) -> Self {
        let r = &done.recording;
        FinishedRecordingView {
            recording_id: r.id.to_string(),
            story_id: r.story_id.to_string(),
            path: done.path.display().to_string(),
            sample_rate: r.sample_rate,
            channels: r.channels,
            frames: r.frames,
            duration_ms: r.duration_ms(),
            bytes: r.bytes,
            sha256: r.sha256.clone(),
            reason: done.reason.into(),
            reason_message: done.reason.message().to_string(),
            frames_dropped: done.stats.frames_dropped,
            stream_errors: done.stats.stream_errors,
            restarts: done.stats.restarts,
        }
    }
}
