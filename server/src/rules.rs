//! The decisions about stories, consent and uploads, written once as pure functions:
//! every backend of the data layer reads what it needs, asks these, and writes inside
//! the same transaction, so both backends apply the same rule (data/mod.rs). What a lead
//! may see is the rule of `visibility`.

use axum::http::StatusCode;
use tellus_protocol::{
    AudioFormat, ConsentEventDoc, ConsentForm, ConsentKind, ConsentMethod, ConsentProblem,
    ConsentStatus, ConsentSummary, IdentityDoc, RecordingMeta, Representation, RepresentationMeta,
    items,
};

use crate::data::stories::StoryRow;
use crate::error::{Error, Result};
use crate::visibility::Visibility;

/// What a story document's PUT does, when it is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoryWrite {
    /// Store it as the story's new revision.
    Store,
    /// The same document is already stored under this revision (a retry): nothing to do.
    AlreadyHeld,
}

fn another_reporters() -> Error {
    Error::forbidden("this story belongs to another reporter")
}

/// True when `row` is a story of `reporter_id` in `project_id`.
pub fn owned_by(row: &StoryRow, project_id: &str, reporter_id: &str) -> bool {
    row.reporter_id == reporter_id && row.project_id == project_id
}

/// Whether a reporter may store `text` as revision `revision` of a story (`existing`,
/// when the server holds it), under the consent in force.
pub fn story_write(
    existing: Option<&StoryRow>,
    project_id: &str,
    reporter_id: &str,
    consent: &ConsentSummary,
    identity: &IdentityDoc,
    revision: u32,
    text: &str,
) -> Result<StoryWrite> {
    if existing.is_some_and(|row| !owned_by(row, project_id, reporter_id)) {
        return Err(another_reporters());
    }
    if consent.status == ConsentStatus::Withdrawn {
        return Err(Error::refused(
            StatusCode::GONE,
            "withdrawn",
            "the storyteller withdrew this story; the server keeps only its tombstone",
        ));
    }
    // The server keeps no story its storyteller has not agreed to be recorded
    // (docs/consent.md): a lead could never see it, and it should not sit here.
    if !consent.grants(items::RECORD) {
        return Err(Error::refused(
            StatusCode::FORBIDDEN,
            "consent_required",
            "the server keeps a story only with the storyteller's 'record' consent; send the consent event first",
        ));
    }
    check_identity(identity, consent)?;
    if let Some(row) = existing {
        if let Some(stored) = &row.document {
            if revision < row.revision {
                return Err(Error::conflict(
                    "stale_revision",
                    format!(
                        "the server holds revision {}; this is {revision}",
                        row.revision
                    ),
                ));
            }
            if revision == row.revision {
                // A retry of what is already stored is fine; a different document
                // under the same revision is a conflict.
                return if stored == text {
                    Ok(StoryWrite::AlreadyHeld)
                } else {
                    Err(Error::conflict(
                        "stale_revision",
                        format!("the server already holds a different revision {revision}"),
                    ))
                };
            }
        }
    }
    Ok(StoryWrite::Store)
}

/// A real name or contact is kept only as far as the consent allows.
pub fn check_identity(identity: &IdentityDoc, consent: &ConsentSummary) -> Result<()> {
    let given = |t: &Option<String>| t.as_deref().is_some_and(|t| !t.trim().is_empty());
    match consent.refuses_identity(given(&identity.name), given(&identity.contact)) {
        Some(why) => Err(Error::refused(
            StatusCode::FORBIDDEN,
            "consent_required",
            why,
        )),
        None => Ok(()),
    }
}

/// A reporter's consent event whose id the server already holds (`known`: its story and
/// stored body): a retry of the same event is answered again, anything else is 409.
pub fn consent_retry(
    known_story: &str,
    known_body: &str,
    story_id: &str,
    event: &ConsentEventDoc,
) -> Result<()> {
    let same = known_story == story_id
        && serde_json::from_str::<ConsentEventDoc>(known_body).is_ok_and(|stored| stored == *event);
    if same {
        Ok(())
    } else {
        Err(Error::conflict(
            "event_conflict",
            "a different consent event already has this id",
        ))
    }
}

/// Whether a reporter may add a consent event to `existing` (None: the story is not
/// here yet, and a stub is kept for it).
pub fn consent_owner(
    existing: Option<&StoryRow>,
    project_id: &str,
    reporter_id: &str,
) -> Result<()> {
    match existing {
        Some(row) if !owned_by(row, project_id, reporter_id) => Err(another_reporters()),
        _ => Ok(()),
    }
}

/// A retried event is answered only to the reporter whose story it is.
pub fn retry_owner(existing: Option<&StoryRow>, reporter_id: &str) -> Result<()> {
    if existing.is_some_and(|r| r.reporter_id != reporter_id) {
        return Err(another_reporters());
    }
    Ok(())
}

/// The consent engine's check of a new event (`ConsentSummary::check_event`, the one
/// the phone's core runs before it stores one): 409 `invalid_consent` when it cannot
/// follow the consent in force, 422 with the problem's code when it does not fit the
/// project's forms. The name to credit comes later, with the story document, so the name
/// rule is not checked here (`check_identity` keeps a name only with `credit_by_name`).
/// A storyteller's own change on the portal may only narrow.
pub fn check_event(
    before: &ConsentSummary,
    forms: &[ConsentForm],
    event: &ConsentEventDoc,
) -> Result<()> {
    match before.check_event(forms, event, None) {
        Ok(_) => {}
        Err(ConsentProblem::Sequence(why)) => return Err(Error::conflict("invalid_consent", why)),
        Err(problem) => {
            return Err(Error::refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                problem.code(),
                problem.to_string(),
            ));
        }
    }
    if event.method == ConsentMethod::Storyteller {
        if let Some(why) = before.refuses_storyteller_change(event) {
            return Err(Error::conflict("invalid_consent", why));
        }
    }
    Ok(())
}

/// A consent event the storyteller makes themself on the portal, following `last` (an
/// event of the same story, for its participant).
pub fn storyteller_event(
    last: &ConsentEventDoc,
    kind: ConsentKind,
    granted: std::collections::BTreeSet<String>,
    erase_audio: bool,
) -> ConsentEventDoc {
    ConsentEventDoc {
        id: uuid::Uuid::now_v7().to_string(),
        story_id: last.story_id.clone(),
        participant_id: last.participant_id.clone(),
        kind,
        form_id: None,
        form_version: None,
        language: None,
        text_sha256: None,
        granted,
        method: ConsentMethod::Storyteller,
        captured_by: "storyteller".into(),
        captured_at: crate::clock::now_rfc3339(),
        erase_audio,
        code_hash: None,
    }
}

/// Whether a reporter may start uploading audio of `story` (None: the server has no
/// consent for it): its own story, with `record` granted.
pub fn upload_allowed(
    story: Option<&StoryRow>,
    project_id: &str,
    reporter_id: &str,
    consent: &ConsentSummary,
) -> Result<()> {
    match story {
        Some(s) if !owned_by(s, project_id, reporter_id) => return Err(another_reporters()),
        Some(_) => {}
        None => {
            return Err(Error::refused(
                StatusCode::FORBIDDEN,
                "consent_required",
                "the server has no consent for this story; send its consent event (with 'record' granted) first",
            ));
        }
    }
    if !may_keep_audio(consent) {
        let why = if consent.status == ConsentStatus::Withdrawn {
            "the storyteller withdrew consent for this story; its audio is not accepted"
        } else {
            "the storyteller has not granted 'record' for this story; no audio is accepted"
        };
        return Err(Error::refused(
            StatusCode::FORBIDDEN,
            "consent_required",
            why,
        ));
    }
    Ok(())
}

/// Audio of a story is accepted and kept only while its consent grants `record`.
pub fn may_keep_audio(consent: &ConsentSummary) -> bool {
    consent.grants(items::RECORD)
}

/// A lead reads a story only while it is visible: 404 while hidden, 410 once withdrawn.
pub fn lead_may_read(seen: Visibility) -> Result<()> {
    match seen {
        Visibility::Visible => Ok(()),
        Visibility::Hidden => Err(Error::not_found("story")),
        Visibility::Withdrawn => Err(Error::refused(
            StatusCode::GONE,
            "withdrawn",
            "the storyteller withdrew this story; delete every copy you hold",
        )),
    }
}

/// A copy of a recording the server holds.
#[derive(Debug, Clone)]
pub struct HeldCopy {
    pub representation: String,
    pub sha256: String,
    pub bytes: u64,
    pub content_type: String,
}

/// Marks what the server holds of a recording: `delivered` (the lossless copy) and each
/// representation's `delivered`. A copy delivered that the document does not list (a
/// phone that sent its story before making it) is listed, with the size and SHA-256 of
/// the file the server holds.
pub fn mark_delivered(recording: &mut RecordingMeta, held: Vec<HeldCopy>) {
    for meta in &mut recording.representations {
        meta.delivered = false;
    }
    recording.delivered = false;
    for copy in held {
        let Some(representation) = Representation::parse(&copy.representation) else {
            continue;
        };
        if representation == Representation::Lossless {
            recording.delivered = true;
        }
        let format = AudioFormat::from_content_type(&copy.content_type)
            .map_or("", |f| f.as_str())
            .to_string();
        // What the server holds is what a lead can fetch: its facts win.
        let held = RepresentationMeta {
            representation,
            format,
            bytes: copy.bytes,
            sha256: copy.sha256,
            delivered: true,
        };
        match recording
            .representations
            .iter_mut()
            .find(|m| m.representation == representation)
        {
            Some(meta) => *meta = held,
            None => recording.representations.push(held),
        }
    }
}
