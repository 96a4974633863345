//! Wire types of the Tellus protocol (v1), shared by the phone's sync client and the
//! project server so that the two cannot drift apart. See DESIGN.md §4.
//!
//! Serde only: ids are UUID strings and timestamps RFC 3339 strings, exactly as
//! tellus-core serialises its own model, so the phone can fill these from
//! `core/src/model/*` field by field.

mod consent;
mod consent_form;
mod feed;
pub mod headers;
mod limits;
pub mod representation;
mod scope;
mod story;
pub mod storyteller_code;

use serde::{Deserialize, Serialize};

pub use consent::{
    ConsentEventDoc, ConsentFacts, ConsentKind, ConsentMethod, ConsentStatus, ConsentSummary,
    RECORD_REQUIRED,
};
pub use consent_form::{ConsentForm, ConsentItem, ConsentProblem, FormProblem, FormShown};
pub use feed::{Change, ChangeKind, ChangesPage, Receipt};
pub use limits::{Limits, OverLimit, TextField, json_len};
pub use representation::{AudioFormat, Representation, RepresentationMeta};
pub use scope::{ExportScope, csv_field};
pub use story::{IdentityDoc, NoteDoc, RecordingMeta, StoryDocument, StorytellerDoc};

/// Path prefix of every v1 route.
pub const API_PREFIX: &str = "/api/v1";

/// Keys of the `Upload-Metadata` pairs a Tellus upload carries.
pub mod metadata {
    pub const STORY_ID: &str = "story_id";
    pub const RECORDING_ID: &str = "recording_id";
    /// The whole file's SHA-256, lowercase hex.
    pub const SHA256: &str = "sha256";
    pub const CONTENT_TYPE: &str = "content_type";
    /// "lossless" or "listening" (`Representation`); absent = lossless (every phone
    /// before issue 20 uploaded its WAV so).
    pub const REPRESENTATION: &str = "representation";
    /// The PCM identity of the audio (see `representation`), lowercase hex; sent with a
    /// lossless upload. The server decodes the file and refuses it if they differ.
    pub const PCM_SHA256: &str = "pcm_sha256";
}

/// Consent item keys the server acts on (the same keys as the core's `items`).
pub mod items {
    pub const RECORD: &str = "record";
    pub const SHARE_PUBLICLY: &str = "share_publicly";
    pub const RESEARCH_USE: &str = "research_use";
    pub const QUOTE_ANONYMOUSLY: &str = "quote_anonymously";
    pub const CREDIT_BY_NAME: &str = "credit_by_name";
    pub const RECONTACT: &str = "recontact";
}

/// The body of every error response: a stable machine-readable code and a sentence a
/// person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

/// What a role may do; carried in the enrol response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages projects and invites.
    Admin,
    /// Reads and exports one project.
    Lead,
    /// Writes its own stories and nothing else.
    Reporter,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Lead => "lead",
            Role::Reporter => "reporter",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Role::Admin),
            "lead" => Some(Role::Lead),
            "reporter" => Some(Role::Reporter),
            _ => None,
        }
    }
}

/// `POST /api/v1/enrol`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolRequest {
    pub invite_code: String,
    /// A name for the device that the operator will recognise ("Amina's phone").
    pub device_label: String,
    /// The role this device enrols as (a phone: reporter; the lead's pull: lead). An
    /// invite for another role is refused and NOT spent, so a lead's code typed into a
    /// phone neither gives the phone a lead's reach nor wastes the code. Absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrolResponse {
    /// The bearer token; shown once, stored hashed on the server.
    pub token: String,
    /// The id of this device's reporter (or lead); stories are owned by it.
    pub reporter_id: String,
    pub role: Role,
    pub project_id: String,
    /// The project's configuration as JSON (tellus-core's `ProjectConfig`).
    pub project: serde_json::Value,
}

/// `POST /api/v1/admin/invites` (the operator's CLI does the same locally).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteRequest {
    pub project_id: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteResponse {
    pub invite_id: String,
    /// The code to hand over; shown once, stored hashed.
    pub code: String,
    pub project_id: String,
    pub role: Role,
    pub expires_at: String,
}

/// `PUT /api/v1/stories/{id}` answers with the revision the server now holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoryAccepted {
    pub id: String,
    pub revision: u32,
}

/// `GET /api/v1/stories/{id}/consent` answers the story's whole append-only consent log
/// in the order the server accepted it: the reporter's own events and those the
/// storyteller made on the portal (method `storyteller`), so the phone can bring changes
/// made elsewhere into its store (issue 21).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentLog {
    pub events: Vec<ConsentEventDoc>,
}

/// `POST /api/v1/stories/{id}/consent` answers with the story's consent after the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentAccepted {
    pub event_id: String,
    /// False when the event was already there (a retry).
    pub new: bool,
    pub consent: ConsentSummary,
}
