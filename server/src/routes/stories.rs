//! Stories and consent: a reporter PUTs its own stories and POSTs consent events; a lead
//! reads a story of its project. A withdrawal purges the audio and the story's text and
//! leaves a tombstone in the feed.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rusqlite::{Connection, OptionalExtension, params};
use tellus_protocol::{
    AudioFormat, ConsentAccepted, ConsentEventDoc, ConsentForm, ConsentKind, ConsentLog,
    ConsentMethod, ConsentProblem, ConsentStatus, ConsentSummary, IdentityDoc, Representation,
    RepresentationMeta, StoryAccepted, StoryDocument, items,
};

use super::{over_limit, parse_id};
use crate::App;
use crate::auth::Principal;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::json::JsonBody;
use crate::portal::codes;
use crate::visibility::Visibility;

/// A story row as the server keeps it.
pub struct StoryRow {
    pub project_id: String,
    pub reporter_id: String,
    pub revision: u32,
    pub document: Option<String>,
    pub identity: Option<String>,
}

pub fn load_story(conn: &Connection, id: &str) -> Result<Option<StoryRow>> {
    Ok(conn
        .query_row(
            "SELECT project_id, reporter_id, revision, document, identity FROM stories WHERE id = ?1",
            [id],
            |r| {
                Ok(StoryRow {
                    project_id: r.get(0)?,
                    reporter_id: r.get(1)?,
                    revision: r.get(2)?,
                    document: r.get(3)?,
                    identity: r.get(4)?,
                })
            },
        )
        .optional()?)
}

/// The story's consent events in the order they arrived (the append-only log).
pub fn load_consent_events(conn: &Connection, story_id: &str) -> Result<Vec<ConsentEventDoc>> {
    let mut stmt =
        conn.prepare_cached("SELECT body FROM consent_events WHERE story_id = ?1 ORDER BY seq")?;
    let bodies = stmt
        .query_map([story_id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    let mut events = Vec::with_capacity(bodies.len());
    for body in bodies {
        let event: ConsentEventDoc = serde_json::from_str(&body)
            .map_err(|e| Error::Config(format!("a stored consent event cannot be read: {e}")))?;
        events.push(event);
    }
    Ok(events)
}

/// The story's current consent: the fold of its events in the order they arrived.
pub fn load_consent(conn: &Connection, story_id: &str) -> Result<ConsentSummary> {
    Ok(ConsentSummary::fold(&load_consent_events(conn, story_id)?))
}

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
        .db
        .call(move |conn| {
            match load_story(conn, &story_id)? {
                Some(row) if row.reporter_id == reporter_id && row.project_id == project_id => {}
                _ => return Err(Error::not_found("story")),
            }
            load_consent_events(conn, &story_id)
        })
        .await?;
    Ok(Json(ConsentLog { events }))
}

fn check_identity(identity: &IdentityDoc, consent: &ConsentSummary) -> Result<()> {
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
    let reporter_id = who.id.clone();
    let revision = doc.revision;
    let story_id = id.clone();
    app.db
        .call_write(move |tx| {
            let existing = load_story(tx, &id)?;
            if let Some(row) = &existing {
                if row.reporter_id != reporter_id || row.project_id != project_id {
                    return Err(Error::forbidden("this story belongs to another reporter"));
                }
            }
            let consent = load_consent(tx, &id)?;
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
            check_identity(&identity, &consent)?;
            let text = serde_json::to_string(&doc)
                .map_err(|e| Error::Config(format!("cannot serialise a story: {e}")))?;
            if let Some(row) = &existing {
                if let Some(stored) = &row.document {
                    if revision < row.revision {
                        return Err(Error::conflict(
                            "stale_revision",
                            format!("the server holds revision {}; this is {revision}", row.revision),
                        ));
                    }
                    if revision == row.revision {
                        // A retry of what is already stored is fine; a different
                        // document under the same revision is a conflict.
                        return if *stored == text {
                            Ok(())
                        } else {
                            Err(Error::conflict(
                                "stale_revision",
                                format!("the server already holds a different revision {revision}"),
                            ))
                        };
                    }
                }
            }
            let identity_text = (!identity.is_empty())
                .then(|| serde_json::to_string(&identity).unwrap_or_default());
            tx.execute(
                "INSERT INTO stories (id, project_id, reporter_id, revision, document, identity, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO UPDATE SET revision = ?4, document = ?5, identity = ?6, updated_at = ?7",
                params![id, project_id, reporter_id, revision, text, identity_text, now_ms()],
            )?;
            crate::search::index_story(tx, &id, &doc)?;
            tx.execute(
                "INSERT INTO changes (project_id, kind, story_id, revision, at) VALUES (?1, 'story', ?2, ?3, ?4)",
                params![project_id, id, revision, now_ms()],
            )?;
            Ok(())
        })
        .await?;
    tracing::info!(story = %story_id, revision, "story stored");
    Ok(Json(StoryAccepted {
        id: story_id,
        revision,
    }))
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
    let reporter_id = who.id.clone();
    let event_text = serde_json::to_string(&event)
        .map_err(|e| Error::Config(format!("cannot serialise consent: {e}")))?;
    let (accepted, purge) = app
        .db
        .call_write(move |tx| {
            let known: Option<(String, String)> = tx
                .query_row("SELECT story_id, body FROM consent_events WHERE id = ?1", [&event_id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            if let Some((known_story, body)) = known {
                let same = known_story == story_id
                    && serde_json::from_str::<ConsentEventDoc>(&body).is_ok_and(|stored| stored == event);
                if !same {
                    return Err(Error::conflict("event_conflict", "a different consent event already has this id"));
                }
                let row = load_story(tx, &story_id)?;
                if row.is_some_and(|r| r.reporter_id != reporter_id) {
                    return Err(Error::forbidden("this story belongs to another reporter"));
                }
                let consent = load_consent(tx, &story_id)?;
                return Ok((ConsentAccepted { event_id, new: false, consent }, None));
            }
            match load_story(tx, &story_id)? {
                Some(row) if row.reporter_id != reporter_id || row.project_id != project_id => {
                    return Err(Error::forbidden("this story belongs to another reporter"));
                }
                Some(_) => {}
                None => {
                    // Consent may arrive before the story document (DESIGN.md §3 sends
                    // metadata and consent first, in either order): keep a stub.
                    tx.execute(
                        "INSERT INTO stories (id, project_id, reporter_id, revision, updated_at) VALUES (?1, ?2, ?3, 0, ?4)",
                        params![story_id, project_id, reporter_id, now_ms()],
                    )?;
                }
            }
            let (after, purge) = accept_event(tx, &project_id, &story_id, &event, &event_text)?;
            Ok((ConsentAccepted { event_id, new: true, consent: after }, purge))
        })
        .await?;
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

/// Accepts one new consent event for a story that exists (or its stub), whoever sends
/// it: a reporter's phone (`post_consent`) or the storyteller on the portal. The one
/// path, so that propagation is the same for both: the engine's check against the
/// project's forms (and, for the storyteller's own changes, that they only narrow), the
/// append to the log, what a lead may see, and on withdrawal the purge and tombstone.
/// An event carrying a code hash makes that the story's code, and a withdrawal asked
/// for with that code before the story arrived is applied at once, in the same
/// transaction, so no audio is ever accepted under the consent it withdraws.
pub fn accept_event(
    tx: &Connection,
    project_id: &str,
    story_id: &str,
    event: &ConsentEventDoc,
    event_text: &str,
) -> Result<(ConsentSummary, Option<Purge>)> {
    let before = load_consent(tx, story_id)?;
    check_event(&before, &project_forms(tx, project_id)?, event)?;
    if event.method == ConsentMethod::Storyteller {
        if let Some(why) = before.refuses_storyteller_change(event) {
            return Err(Error::conflict("invalid_consent", why));
        }
    }
    let event_id = parse_id(&event.id, "consent event")?;
    tx.execute(
        "INSERT INTO consent_events (id, story_id, body, received_at) VALUES (?1, ?2, ?3, ?4)",
        params![event_id, story_id, event_text, now_ms()],
    )?;
    let after = before.apply(event);
    crate::visibility::record(tx, story_id, &after)?;
    let purge = match event.kind {
        ConsentKind::Withdrawn => Some(withdraw(tx, project_id, story_id)?),
        _ => {
            tx.execute(
                "UPDATE stories SET withdrawn_at = NULL WHERE id = ?1",
                [story_id],
            )?;
            forget_identity_beyond(tx, story_id, &after)?;
            announce_consent_change(tx, story_id)?;
            None
        }
    };
    let Some(hash) = event
        .code_hash
        .as_deref()
        .filter(|_| event.kind != ConsentKind::Withdrawn)
    else {
        return Ok((after, purge));
    };
    codes::remember(tx, project_id, story_id, hash)?;
    let Some(erase_audio) = codes::take_pending(tx, project_id, hash)? else {
        return Ok((after, purge));
    };
    let withdrawal = storyteller_event(
        event,
        ConsentKind::Withdrawn,
        Default::default(),
        erase_audio,
    );
    let text = serde_json::to_string(&withdrawal)
        .map_err(|e| Error::Config(format!("cannot serialise consent: {e}")))?;
    tracing::info!(story = %story_id, "a withdrawal the storyteller asked for before the story arrived is applied");
    accept_event(tx, project_id, story_id, &withdrawal, &text)
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

/// The consent engine's check of a new event (`ConsentSummary::check_event`, the one
/// the phone's core runs before it stores one): 409 `invalid_consent` when it cannot
/// follow the consent in force, 422 with the problem's code when it does not fit the
/// project's forms. The name to credit comes later, with the story document, so the name
/// rule is not checked here (`check_identity` keeps a name only with `credit_by_name`).
fn check_event(
    before: &ConsentSummary,
    forms: &[ConsentForm],
    event: &ConsentEventDoc,
) -> Result<()> {
    match before.check_event(forms, event, None) {
        Ok(_) => Ok(()),
        Err(ConsentProblem::Sequence(why)) => Err(Error::conflict("invalid_consent", why)),
        Err(problem) => Err(Error::refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            problem.code(),
            problem.to_string(),
        )),
    }
}

/// The consent forms of a project's configuration (every version a storyteller may
/// have seen).
pub(crate) fn project_forms(conn: &Connection, project_id: &str) -> Result<Vec<ConsentForm>> {
    let config: String = conn.query_row(
        "SELECT config FROM projects WHERE id = ?1",
        [project_id],
        |r| r.get(0),
    )?;
    serde_json::from_str(&config)
        .map_err(|e| e.to_string())
        .and_then(|config| crate::admin::consent_forms(&config))
        .map_err(|why| Error::Config(format!("project {project_id}: {why}")))
}

/// A new consent event on a story whose document leads can read enters the feed as a
/// `story` change (same revision): a lead's pulled copy keeps the consent beside the
/// story, and a narrowed consent must reach it before the next export. A stub (consent
/// before the document) needs none; its document's own change follows.
fn announce_consent_change(tx: &Connection, story_id: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO changes (project_id, kind, story_id, revision, at)
         SELECT project_id, 'story', id, revision, ?2 FROM stories WHERE id = ?1 AND document IS NOT NULL",
        params![story_id, now_ms()],
    )?;
    Ok(())
}

/// Erases a stored real name or contact that the consent no longer allows.
fn forget_identity_beyond(tx: &Connection, story_id: &str, consent: &ConsentSummary) -> Result<()> {
    let stored: Option<String> = tx.query_row(
        "SELECT identity FROM stories WHERE id = ?1",
        [story_id],
        |r| r.get(0),
    )?;
    let Some(identity) = stored.and_then(|t| serde_json::from_str::<IdentityDoc>(&t).ok()) else {
        return Ok(());
    };
    let identity = identity.allowed_by(consent);
    let text = (!identity.is_empty()).then(|| serde_json::to_string(&identity).unwrap_or_default());
    tx.execute(
        "UPDATE stories SET identity = ?2 WHERE id = ?1",
        params![story_id, text],
    )?;
    Ok(())
}

/// Files to delete once the withdrawal is committed.
pub struct Purge {
    /// Storage keys of every copy of every recording (`storage::key`).
    recordings: Vec<String>,
    uploads: Vec<String>,
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

/// The database half of a withdrawal: the story's text, identity, recordings and uploads
/// are forgotten and a tombstone enters the feed.
fn withdraw(tx: &Connection, project_id: &str, story_id: &str) -> Result<Purge> {
    let ids = |sql: &str| -> Result<Vec<String>> {
        let mut stmt = tx.prepare(sql)?;
        let rows = stmt.query_map([story_id], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    };
    // Every copy of every recording: the lossless and the listening one.
    let recordings = {
        let mut stmt =
            tx.prepare("SELECT id, representation FROM recordings WHERE story_id = ?1")?;
        let rows = stmt.query_map([story_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        rows.map(|row| {
            row.map(|(id, representation)| {
                // A row of another kind cannot exist (CHECK); lossless is the fallback.
                let representation = Representation::parse(&representation).unwrap_or_default();
                crate::storage::key(&id, representation)
            })
        })
        .collect::<rusqlite::Result<Vec<String>>>()?
    };
    let uploads = ids("SELECT id FROM uploads WHERE story_id = ?1")?;
    tx.execute("DELETE FROM recordings WHERE story_id = ?1", [story_id])?;
    tx.execute("DELETE FROM uploads WHERE story_id = ?1", [story_id])?;
    crate::search::forget_story(tx, story_id)?;
    crate::transcripts::on_withdrawn(tx, story_id)?;
    tx.execute(
        "UPDATE stories SET document = NULL, identity = NULL, withdrawn_at = ?2, updated_at = ?2 WHERE id = ?1",
        params![story_id, now_ms()],
    )?;
    tx.execute(
        "INSERT INTO changes (project_id, kind, story_id, at) VALUES (?1, 'withdrawal', ?2, ?3)",
        params![project_id, story_id, now_ms()],
    )?;
    Ok(Purge {
        recordings,
        uploads,
    })
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
    let doc = app
        .db
        .call(move |conn| lead_view(conn, &project_id, &id))
        .await?;
    Ok(Json(doc))
}

/// A story of `project_id` as a lead sees it: the document with the server's view of
/// consent, delivered flags on recordings, and the real name and contact only as that
/// consent allows now. 404 for another project's story, 410 after a withdrawal.
pub fn lead_view(conn: &Connection, project_id: &str, id: &str) -> Result<StoryDocument> {
    match Visibility::of_story(conn, project_id, id)? {
        Visibility::Visible => {}
        Visibility::Hidden => return Err(Error::not_found("story")),
        Visibility::Withdrawn => {
            return Err(Error::refused(
                StatusCode::GONE,
                "withdrawn",
                "the storyteller withdrew this story; delete every copy you hold",
            ));
        }
    }
    let row = load_story(conn, id)?
        .filter(|r| r.project_id == project_id)
        .ok_or_else(|| Error::not_found("story"))?;
    let consent = load_consent(conn, id)?;
    let text = row.document.ok_or_else(|| Error::not_found("story"))?;
    let mut doc: StoryDocument = serde_json::from_str(&text)
        .map_err(|e| Error::Config(format!("a stored story cannot be read: {e}")))?;
    let identity = row
        .identity
        .and_then(|t| serde_json::from_str::<IdentityDoc>(&t).ok())
        .unwrap_or_default()
        .allowed_by(&consent);
    doc.identity = (!identity.is_empty()).then_some(identity);
    fill_delivered(conn, id, &mut doc)?;
    doc.consent = Some(consent);
    Ok(doc)
}

/// Marks what the server holds of each recording of `doc`: `delivered` (the lossless
/// copy) and each representation's `delivered`. A copy delivered that the document does
/// not list (a phone that sent its story before making it) is listed, with the size and
/// SHA-256 of the file the server holds.
fn fill_delivered(conn: &Connection, story_id: &str, doc: &mut StoryDocument) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT representation, sha256, bytes, content_type FROM recordings WHERE id = ?1 AND story_id = ?2",
    )?;
    for recording in &mut doc.recordings {
        let held = stmt
            .query_map([&recording.id, story_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for meta in &mut recording.representations {
            meta.delivered = false;
        }
        recording.delivered = false;
        for (representation, sha256, bytes, content_type) in held {
            let Some(representation) = Representation::parse(&representation) else {
                continue;
            };
            if representation == Representation::Lossless {
                recording.delivered = true;
            }
            let format = AudioFormat::from_content_type(&content_type)
                .map_or("", |f| f.as_str())
                .to_string();
            // What the server holds is what a lead can fetch: its facts win.
            let held = RepresentationMeta {
                representation,
                format,
                bytes,
                sha256,
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
    Ok(())
}
