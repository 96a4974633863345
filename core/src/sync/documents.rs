//! The core's model as the protocol's wire types (tellus-protocol), field by field.

use sha2::{Digest, Sha256};
use tellus_protocol::{
    ConsentEventDoc, IdentityDoc, NoteDoc, RecordingMeta, Representation, RepresentationMeta,
    StoryDocument, StorytellerDoc,
};

use crate::error::{Error, Result};
use crate::model::{ConsentEvent, Identity, Note, Recording, RecordingFile, Story};

/// The story document the server keeps. The identity goes only as far as the store
/// keeps it, which is only while consent grants it; `revision` is the wire revision
/// (set where the document is sent, in `engine.rs`: the story's revision, raised past
/// the last one the server accepted).
pub fn story_document(
    story: &Story,
    notes: &[Note],
    recordings: &[Recording],
    files: &[RecordingFile],
    identity: &Identity,
    revision: u32,
) -> StoryDocument {
    let identity = (identity.name.is_some() || identity.contact.is_some()).then(|| IdentityDoc {
        name: identity.name.clone(),
        contact: identity.contact.clone(),
    });
    StoryDocument {
        id: story.id.to_string(),
        revision,
        title: story.title.clone(),
        summary: story.summary.clone(),
        status: story.status.as_str().to_string(),
        tags: story.tags.clone(),
        demographics: story.demographics.clone(),
        storyteller: StorytellerDoc {
            id: story.participant.id.to_string(),
            label: story.participant.label.clone(),
        },
        notes: notes.iter().map(note).collect(),
        // Audio erased at the storyteller's request is never mentioned again.
        recordings: recordings
            .iter()
            .filter(|r| r.state != crate::model::RecordingState::Erased)
            .map(|r| recording(r, files))
            .collect(),
        identity,
        created_at: story.created_at.to_string(),
        updated_at: story.updated_at.to_string(),
        consent: None,
    }
}

fn note(note: &Note) -> NoteDoc {
    NoteDoc {
        id: note.id.to_string(),
        kind: note.kind.as_str().to_string(),
        text: note.text.clone(),
        at_ms: note.at.map(|p| p.as_millis()),
        question_id: note.question_id.clone(),
        created_at: note.created_at.to_string(),
        recording_id: note.recording_id.map(|r| r.to_string()),
    }
}

fn recording(r: &Recording, files: &[RecordingFile]) -> RecordingMeta {
    RecordingMeta {
        id: r.id.to_string(),
        format: r.format.clone(),
        sample_rate: r.sample_rate,
        channels: r.channels,
        frames: r.frames,
        bytes: r.bytes,
        sha256: r.sha256.clone(),
        duration_ms: r.duration_ms(),
        created_at: r.created_at.to_string(),
        delivered: false,
        pcm_sha256: r.pcm_sha256.clone(),
        // The files made from it, lossless first; one removed from this phone (delivered,
        // freed) is still the file the server holds or will hold no more of.
        representations: Representation::ALL
            .iter()
            .filter_map(|want| {
                files
                    .iter()
                    .find(|f| f.recording_id == r.id && f.representation == *want)
            })
            .map(|f| RepresentationMeta {
                representation: f.representation,
                format: f.format.as_str().to_string(),
                bytes: f.bytes,
                sha256: f.sha256.clone(),
                delivered: false,
            })
            .collect(),
    }
}

/// A consent event on the wire. The core's JSON and the protocol's are the same shape
/// (tested in `cli/tests/protocol_matches_core.rs`), so the event goes through serde.
pub fn consent_event(event: &ConsentEvent) -> Result<ConsentEventDoc> {
    let value = serde_json::to_value(event)
        .map_err(|e| Error::invalid(format!("a consent event cannot be encoded: {e}")))?;
    serde_json::from_value(value)
        .map_err(|e| Error::invalid(format!("a consent event does not fit the protocol: {e}")))
}

/// The SHA-256 of a document's content without its revision: what tells whether the
/// server already holds this version.
pub fn content_sha256(doc: &StoryDocument) -> String {
    let mut without_revision = doc.clone();
    without_revision.revision = 0;
    let bytes = serde_json::to_vec(&without_revision).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}
