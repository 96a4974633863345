use serde::{Deserialize, Serialize};

use super::{NoteId, RecordingId, StoryId, Timestamp};
use crate::position::AudioPosition;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// Text the reporter typed.
    Note,
    /// A point in the audio ("question 3", "key moment").
    Marker,
}

impl NoteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoteKind::Note => "note",
            NoteKind::Marker => "marker",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "note" => Some(NoteKind::Note),
            "marker" => Some(NoteKind::Marker),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: NoteId,
    pub story_id: StoryId,
    pub kind: NoteKind,
    pub text: String,
    /// Where in the story's audio it belongs, if anywhere: a position within
    /// `recording_id`.
    pub at: Option<AudioPosition>,
    /// The guide question a marker stands for.
    pub question_id: Option<String>,
    pub created_at: Timestamp,
    /// The recording `at` is in; None for a note without a position, or one made before
    /// the story had a recording (or before notes carried their recording: step 9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_id: Option<RecordingId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNote {
    pub kind: NoteKind,
    pub text: String,
    pub at: Option<AudioPosition>,
    pub question_id: Option<String>,
    /// The recording `at` is in. None: the story's latest recording (the one a reporter
    /// just made), if it has one.
    pub recording_id: Option<RecordingId>,
}

impl NewNote {
    pub fn note(text: impl Into<String>, at: Option<AudioPosition>) -> Self {
        NewNote {
            kind: NoteKind::Note,
            text: text.into(),
            at,
            question_id: None,
            recording_id: None,
        }
    }

    pub fn marker(text: impl Into<String>, at: AudioPosition, question_id: Option<&str>) -> Self {
        NewNote {
            kind: NoteKind::Marker,
            text: text.into(),
            at: Some(at),
            question_id: question_id.map(str::to_string),
            recording_id: None,
        }
    }

    /// The same, at a position in `recording`.
    pub fn in_recording(mut self, recording: RecordingId) -> Self {
        self.recording_id = Some(recording);
        self
    }
}
