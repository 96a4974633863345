//! The story document a phone PUTs and a lead reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ConsentSummary, RepresentationMeta, items};

/// One story, as delivered. Built on the phone from the core's `Story`, its `Note`s,
/// `Recording`s and (only as consent allows) its `Identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoryDocument {
    pub id: String,
    /// Bumped by the phone on every change; the server refuses an older one (409).
    pub revision: u32,
    pub title: String,
    #[serde(default)]
    pub summary: String,
    /// "draft" or "ready".
    pub status: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub demographics: BTreeMap<String, String>,
    pub storyteller: StorytellerDoc,
    #[serde(default)]
    pub notes: Vec<NoteDoc>,
    #[serde(default)]
    pub recordings: Vec<RecordingMeta>,
    /// The storyteller's real name and contact: only while `credit_by_name` /
    /// `recontact` is granted; the server refuses them otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityDoc>,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
    /// Filled by the server when a lead reads the story; ignored on PUT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<ConsentSummary>,
}

/// The storyteller as the story names them: a label, never a real name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorytellerDoc {
    pub id: String,
    pub label: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

impl IdentityDoc {
    /// What of it the storyteller's consent allows to be kept or shown: a name only with
    /// `credit_by_name`, contact details only with `recontact`.
    pub fn allowed_by(mut self, consent: &ConsentSummary) -> Self {
        if !consent.grants(items::CREDIT_BY_NAME) {
            self.name = None;
        }
        if !consent.grants(items::RECONTACT) {
            self.contact = None;
        }
        self
    }

    /// Neither a name nor contact details.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.contact.is_none()
    }
}

/// A note or a marker (mirrors the core's `Note`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteDoc {
    pub id: String,
    /// "note" or "marker".
    pub kind: String,
    #[serde(default)]
    pub text: String,
    /// Position in the story's audio, in milliseconds: within `recording_id` when it is
    /// given, else (documents from phones before it existed) within the first recording.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question_id: Option<String>,
    pub created_at: String,
    /// The recording `at_ms` is in (one of the document's `recordings`). Optional both
    /// ways: older phones do not send it, and servers that do not know it ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_id: Option<String>,
}

/// A recording's metadata (mirrors the core's `Recording`); the audio goes over tus.
/// `format`, `bytes` and `sha256` describe the recording as the recorder wrote it (the
/// WAV); `representations` lists the files made from it and delivered separately.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingMeta {
    pub id: String,
    /// "wav" (16-bit PCM), as recorded.
    pub format: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub frames: u64,
    pub bytes: u64,
    pub sha256: String,
    pub duration_ms: u64,
    pub created_at: String,
    /// Filled by the server for a lead: the lossless copy is delivered and verified.
    #[serde(default)]
    pub delivered: bool,
    /// The PCM identity of the recorded audio (see `representation`); absent from
    /// phones before issue 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcm_sha256: Option<String>,
    /// The files made from the recording (lossless FLAC or the WAV itself, listening
    /// Opus); empty from phones before issue 20, whose one file is the WAV above.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub representations: Vec<RepresentationMeta>,
}

#[cfg(test)]
mod tests {
    use super::NoteDoc;

    /// Issue 18: a note from a phone that does not know `recording_id` is read as before
    /// (no recording: the first), and a note without one is written without the field,
    /// so a server that does not know it sees exactly what it saw before.
    #[test]
    fn a_note_without_its_recording_reads_and_writes_as_before() {
        let old = r#"{"id":"n1","kind":"note","text":"hi","at_ms":500,"created_at":"2026-12-04T10:00:00Z"}"#;
        let note: NoteDoc = serde_json::from_str(old).unwrap();
        assert_eq!(note.recording_id, None);
        assert_eq!(note.at_ms, Some(500));
        assert_eq!(
            serde_json::to_value(&note).unwrap(),
            serde_json::from_str::<serde_json::Value>(old).unwrap()
        );
        let new = r#"{"id":"n2","kind":"marker","at_ms":9,"created_at":"2026-12-04T10:00:00Z","recording_id":"r2"}"#;
        let note: NoteDoc = serde_json::from_str(new).unwrap();
        assert_eq!(note.recording_id.as_deref(), Some("r2"));
    }
}
