//! The lead's changes feed and the delivery receipt.

use serde::{Deserialize, Serialize};

use crate::Representation;

/// `GET /api/v1/recordings/{id}/receipt[?representation=listening]`: what the server
/// holds of one representation, verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub recording_id: String,
    pub story_id: String,
    /// Lowercase hex SHA-256 of the whole file, computed by the server.
    pub sha256: String,
    pub bytes: u64,
    /// RFC 3339.
    pub received_at: String,
    /// Which copy this receipt is for; absent (older servers) = lossless.
    #[serde(default)]
    pub representation: Representation,
    /// "wav", "flac" or "opus" (`AudioFormat::as_str`); absent from older servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// For a lossless copy: the PCM identity the server computed by decoding the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcm_sha256: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A story document arrived or changed (see `revision`).
    Story,
    /// A recording's representation (see `representation`) was delivered and verified.
    Recording,
    /// The storyteller withdrew: the audio is gone; delete every copy.
    Withdrawal,
    /// A recording's transcript was drafted or corrected (see `recording_id`,
    /// `revision`); fetch `/recordings/{id}/transcript`.
    Transcript,
    /// A kind this client does not know (from a newer server): skip it.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Position in the feed; pass the last one seen as `after`.
    pub cursor: String,
    pub kind: ChangeKind,
    pub story_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// For a recording: which copy arrived (absent from older servers = lossless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representation: Option<Representation>,
    /// For a recording: "wav", "flac" or "opus".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// For a lossless recording: its PCM identity, as the server computed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcm_sha256: Option<String>,
    /// RFC 3339.
    pub at: String,
}

/// `GET /api/v1/changes?after=CURSOR&limit=N`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangesPage {
    pub changes: Vec<Change>,
    /// Pass as `after` for the next page (unchanged when there was nothing new).
    pub next_cursor: String,
    /// More changes are waiting beyond this page.
    pub more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transcript_change_is_read_and_a_kind_from_a_newer_server_is_skippable() {
        let page: ChangesPage = serde_json::from_str(
            r#"{"changes":[
                {"cursor":"1","kind":"transcript","story_id":"s","recording_id":"r","revision":2,"at":"2026-01-01T00:00:00Z"},
                {"cursor":"2","kind":"something_new","story_id":"s","at":"2026-01-01T00:00:00Z"}
            ],"next_cursor":"2","more":false}"#,
        )
        .unwrap();
        assert_eq!(page.changes[0].kind, ChangeKind::Transcript);
        assert_eq!(page.changes[0].revision, Some(2));
        assert_eq!(page.changes[1].kind, ChangeKind::Unknown);
    }
}
