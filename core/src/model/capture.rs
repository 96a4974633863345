use serde::{Deserialize, Serialize};

use super::{RecordingId, StoryId, Timestamp};

/// Why a recording session ended. Every ending is stored and shown: a recording that
/// stopped by itself always says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The reporter stopped it.
    Requested,
    /// It reached the length it was asked for.
    DurationReached,
    /// A file or synthetic source had nothing more to give.
    InputEnded,
    /// Free storage fell below the safety margin; everything captured was kept.
    LowDiskSpace,
    /// The audio file reached the WAV format's size limit.
    FileSizeLimit,
    /// The microphone failed and could not be restarted.
    DeviceFailed,
    /// The audio file could not be written.
    WriteFailed,
    /// The app stopped unexpectedly; the audio was rebuilt when the store next opened.
    Recovered,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Requested => "requested",
            StopReason::DurationReached => "duration_reached",
            StopReason::InputEnded => "input_ended",
            StopReason::LowDiskSpace => "low_disk_space",
            StopReason::FileSizeLimit => "file_size_limit",
            StopReason::DeviceFailed => "device_failed",
            StopReason::WriteFailed => "write_failed",
            StopReason::Recovered => "recovered",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            StopReason::Requested,
            StopReason::DurationReached,
            StopReason::InputEnded,
            StopReason::LowDiskSpace,
            StopReason::FileSizeLimit,
            StopReason::DeviceFailed,
            StopReason::WriteFailed,
            StopReason::Recovered,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }

    /// The sentence the reporter sees.
    pub fn message(self) -> &'static str {
        match self {
            StopReason::Requested => "stopped",
            StopReason::DurationReached => "the requested length was reached",
            StopReason::InputEnded => "the audio input ended",
            StopReason::LowDiskSpace => {
                "storage is almost full: the recording was stopped and everything captured was kept"
            }
            StopReason::FileSizeLimit => {
                "the recording reached the 4 GiB limit of a WAV file and was stopped; everything captured was kept (start a new recording to continue)"
            }
            StopReason::DeviceFailed => {
                "the microphone stopped working and could not be restarted; everything captured was kept"
            }
            StopReason::WriteFailed => {
                "the audio file could not be written; everything written before was kept"
            }
            StopReason::Recovered => {
                "the app stopped unexpectedly; the audio captured until then was recovered"
            }
        }
    }
}

/// A boundary inside a recording's audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureEventKind {
    /// Recording paused here; the audio continues with what came after the resume.
    Pause,
    /// A new segment starts here after a pause.
    Resume,
    /// The microphone stream failed and was restarted: audio is missing at this point.
    Gap,
}

impl CaptureEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureEventKind::Pause => "pause",
            CaptureEventKind::Resume => "resume",
            CaptureEventKind::Gap => "gap",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pause" => Some(CaptureEventKind::Pause),
            "resume" => Some(CaptureEventKind::Resume),
            "gap" => Some(CaptureEventKind::Gap),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureEvent {
    /// Frame offset in the recording's audio (divide by the sample rate for seconds).
    pub at_frame: u64,
    pub kind: CaptureEventKind,
    pub detail: String,
}

/// What a recording session counted. Never hidden: shown after every recording.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureStats {
    /// Frames written to the audio file.
    pub frames_captured: u64,
    /// Frames lost because the writer fell behind the microphone (ring overflow).
    pub frames_dropped: u64,
    /// Errors the audio stream reported.
    pub stream_errors: u64,
    /// Times the stream was rebuilt after an error.
    pub restarts: u64,
}

/// One recording session of a story: where the audio came from, how it ended, what it
/// counted and its segment boundaries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    pub recording_id: RecordingId,
    pub story_id: StoryId,
    pub device: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub started_at: Timestamp,
    pub stopped_at: Option<Timestamp>,
    pub stop_reason: Option<StopReason>,
    pub stats: CaptureStats,
    pub events: Vec<CaptureEvent>,
}
