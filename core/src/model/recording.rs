use serde::{Deserialize, Serialize};

use super::{RecordingId, StoryId, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingState {
    /// Finished normally.
    Complete,
    /// Rebuilt from a `.partial.wav` that a crash left behind.
    Recovered,
    /// Deleted from the phone because the storyteller withdrew and asked for it: the row
    /// stays so every view can say so, and nothing refers to its audio again.
    Erased,
}

impl RecordingState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingState::Complete => "complete",
            RecordingState::Recovered => "recovered",
            RecordingState::Erased => "erased",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "complete" => Some(RecordingState::Complete),
            "recovered" => Some(RecordingState::Recovered),
            "erased" => Some(RecordingState::Erased),
            _ => None,
        }
    }
}

/// An audio file of a story, indexed by the store. The file lives in the data folder's
/// `recordings/` beside the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    pub id: RecordingId,
    pub story_id: StoryId,
    /// File name inside `recordings/`, e.g. "<id>.wav".
    pub file_name: String,
    /// "wav" (16-bit PCM).
    pub format: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub frames: u64,
    pub bytes: u64,
    pub sha256: String,
    pub state: RecordingState,
    pub created_at: Timestamp,
    /// The PCM identity of the recorded audio (SHA-256 of its 16-bit little-endian
    /// samples, see tellus-protocol `representation`), known once its lossless copy was
    /// made and verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcm_sha256: Option<String>,
}

impl Recording {
    pub fn duration_ms(&self) -> u64 {
        if self.sample_rate == 0 {
            0
        } else {
            self.frames * 1000 / u64::from(self.sample_rate)
        }
    }
}

/// One file made from a recording for one representation (lossless FLAC or the WAV
/// itself, listening Ogg Opus), verified before it was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingFile {
    pub recording_id: RecordingId,
    pub representation: tellus_protocol::Representation,
    pub format: tellus_protocol::AudioFormat,
    /// File name inside `recordings/`, e.g. "<id>.flac".
    pub file_name: String,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the whole file.
    pub sha256: String,
    /// The PCM identity (lossless only).
    pub pcm_sha256: Option<String>,
    pub verified_at: Timestamp,
    /// Deleted from this device (delivered and removed, freed, or erased).
    pub removed: bool,
}
