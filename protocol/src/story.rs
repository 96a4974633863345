//! The story document a phone PUTs and a lead reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ConsentSummary, items};

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
    /// Position in the story's audio, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question_id: Option<String>,
    pub created_at: String,
}

/// A recording's metadata (mirrors the core's `Recording`); the audio goes over tus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingMeta {
    pub id: String,
    /// "wav" (16-bit PCM).
    pub format: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub frames: u64,
    pub bytes: u64,
    pub sha256: String,
    pub duration_ms: u64,
    pub created_at: String,
    /// Filled by the server for a lead: the audio is delivered and verified.
    #[serde(default)]
    pub delivered: bool,
}
