//! Stories and consent: a reporter PUTs its own stories and POSTs consent events; a lead
//! reads a story of its project. A withdrawal purges the audio and the story's text and
//! leaves a tombstone in the feed. The decisions are `rules`; the storage `data::Stories`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tellus_protocol::{
    ConsentAccepted, ConsentEventDoc, ConsentLog, ConsentMethod, StoryAccepted, StoryDocument,
};

use super::{over_limit, parse_id};
use crate::App;
use crate::auth::Principal;
use crate::data::stories::{ConsentPost, StoryPut};
use crate::error::{Error, Result};
use crate::json::JsonBody;
use crate::portal::codes;

pub use crate::data::stories::Purge;
// The portal and the web pages still run these in transactions of their own, until they
// move behind the data layer too.
pub use crate::data::sqlite::consent::{
    accept_event, load_consent, load_consent_events, project_forms,
};
pub use crate::data::sqlite::stories::lead_view;
pub use crate::rules::storyteller_event;

/// The reporter who owns a story reads its whole consent log, so that its phone learns
/// of changes the storyteller made on the portal (issue 21). Another reporter's story
/// answers exactly as an unknown one does.
pub async fn get_consent_log(
    State(app): State<App>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<ConsentLog>> {
    let project_id = who.reporter("read consent")?.to_string();
    let story_id = parse_id(&id, "story")?;
    let reporter_id = who.id.clone();
    let events = app
        .data(move |d| d.owned_consent_log(&project_id, &reporter_id, &story_id))
        .await?
        .ok_or_else(|| Error::not_found("story"))?;
    Ok(Json(ConsentLog { events }))
}

fn validate(doc: &StoryDocument, id: &str) -> Result<()> {
    if parse_id(&doc.id, "story")? != id {
        return Err(Error::bad_request(
            "id_mismatch",
            "the document's id is not the id in the path",
        ));
    }
    if doc.status != "draft" && doc.status != "ready" {
        return Err(Error::bad_request(
            "invalid_status",
            "status must be 'draft' or 'ready'",
        ));
    }
    if let Some(note) = doc
        .notes
        .iter()
        .find(|n| n.kind != "note" && n.kind != "marker")
    {
        return Err(Error::bad_request(
            "invalid_note",
            format!(
                "note {} has kind '{}'; it must be 'note' or 'marker'",
                note.id, note.kind
            ),
        ));
    }
    for recording in &doc.recordings {
        parse_id(&recording.id, "recording")?;
    }
    Ok(())
}

pub async fn put_story(
    State(app): State<App>,
    who: Principal,
    Path(id): Path<String>,
    JsonBody(mut doc): JsonBody<StoryDocument>,
) -> Result<Json<StoryAccepted>> {
    let project_id = who.reporter("write stories")?.to_string();
    let id = parse_id(&id, "story")?;
    validate(&doc, &id)?;
    // The body's bytes are already within `document_bytes` (the route's body limit).
    app.config
        .limits
        .check_document(&doc, tellus_protocol::json_len(&doc))
        .map_err(over_limit)?;
    doc.id = id.clone();
    let identity = doc.identity.take().unwrap_or_default();
    // Leads are shown the server's own view of consent, never the phone's.
    doc.consent = None;
    let revision = doc.revision;
    let text = serde_json::to_string(&doc)
        .map_err(|e| Error::internal(format!("cannot serialise a story: {e}")))?;
    let put = StoryPut {
        project_id,
        reporter_id: who.id.clone(),
        document: doc,
        text,
        identity,
    };
    app.data(move |d| d.put_story(&put)).await?;
    tracing::info!(story = %id, revision, "story stored");
    Ok(Json(StoryAccepted { id, revision }))
}

pub async fn post_consent(
    State(app): State<App>,
    who: Principal,
    Path(id): Path<String>,
    JsonBody(event): JsonBody<ConsentEventDoc>,
) -> Result<(StatusCode, Json<ConsentAccepted>)> {
    let project_id = who.reporter("record consent")?.to_string();
    let story_id = parse_id(&id, "story")?;
    if parse_id(&event.story_id, "story")? != story_id {
        return Err(Error::bad_request(
            "id_mismatch",
            "the event's story_id is not the story in the path",
        ));
    }
    let event_id = parse_id(&event.id, "consent event")?;
    if event.method == ConsentMethod::Storyteller {
        // The log says such an event was made "by the storyteller with their personal
        // code": only the portal's path (`accept_event` behind a code's session) may
        // write that, or a reporter's token could forge the audit trail.
        return Err(Error::refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "storyteller_method_reserved",
            "only the storyteller, on the portal with their code, records events with method 'storyteller'",
        ));
    }
    if event
        .code_hash
        .as_deref()
        .is_some_and(|h| !codes::valid_hash(h))
    {
        return Err(Error::bad_request(
            "invalid_code_hash",
            "code_hash must be the storyteller code's hash: 64 lowercase hex digits",
        ));
    }
    let text = serde_json::to_string(&event)
        .map_err(|e| Error::internal(format!("cannot serialise consent: {e}")))?;
    let post = ConsentPost {
        project_id,
        reporter_id: who.id.clone(),
        story_id,
        event_id,
        event,
        text,
    };
    let (accepted, purge) = app.data(move |d| d.record_consent(&post)).await?;
    if let Some(purge) = purge {
        purge.run(&app).await;
        tracing::info!(story = %id, "consent withdrawn: audio purged, tombstone kept");
    }
    let status = if accepted.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(accepted)))
}

impl Purge {
    /// Deletes the audio and any upload in progress. The database already forgot them,
    /// so a crash here leaves only orphans, which the next start sweeps away.
    pub async fn run(self, app: &App) {
        for upload in &self.uploads {
            app.uploads.forget(upload);
            crate::tus::delete_spool(app, upload);
        }
        let mut result = Ok(());
        for key in &self.recordings {
            result = result.and(app.storage.delete(key).await);
        }
        if result.is_err() {
            tracing::error!("deleting withdrawn audio failed; the next start sweeps the orphans");
        }
    }
}

/// A lead reads one story of its project, with the server's view of its consent; the
/// real name and contact only as that consent allows.
pub async fn get_story(
    State(app): State<App>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<StoryDocument>> {
    let project_id = who.lead("read stories")?.to_string();
    let id = parse_id(&id, "story")?;
    let doc = app.data(move |d| d.lead_story(&project_id, &id)).await?;
    Ok(Json(doc))
}
