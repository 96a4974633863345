//! Consent in SQLite: the append-only log `consent_events`, and the one path every new
//! event takes (`accept_event`), with the withdrawal it may bring.

use rusqlite::{Connection, params};
use tellus_protocol::{
    ConsentEventDoc, ConsentForm, ConsentKind, ConsentSummary, IdentityDoc, Representation,
};

use super::visibility::record_visibility;
use crate::clock::now_ms;
use crate::data::stories::Purge;
use crate::error::{Error, Result};
use crate::portal::codes;
use crate::routes::parse_id;
use crate::rules::{check_event, storyteller_event};

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
            .map_err(|e| Error::internal(format!("a stored consent event cannot be read: {e}")))?;
        events.push(event);
    }
    Ok(events)
}

/// The story's current consent: the fold of its events in the order they arrived.
pub fn load_consent(conn: &Connection, story_id: &str) -> Result<ConsentSummary> {
    Ok(ConsentSummary::fold(&load_consent_events(conn, story_id)?))
}

/// The consent forms of a project's configuration (every version a storyteller may
/// have seen).
pub fn project_forms(conn: &Connection, project_id: &str) -> Result<Vec<ConsentForm>> {
    let config: String = conn.query_row(
        "SELECT config FROM projects WHERE id = ?1",
        [project_id],
        |r| r.get(0),
    )?;
    serde_json::from_str(&config)
        .map_err(|e| e.to_string())
        .and_then(|config| crate::admin::consent_forms(&config))
        .map_err(|why| Error::internal(format!("project {project_id}: {why}")))
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
    let event_id = parse_id(&event.id, "consent event")?;
    tx.execute(
        "INSERT INTO consent_events (id, story_id, body, received_at) VALUES (?1, ?2, ?3, ?4)",
        params![event_id, story_id, event_text, now_ms()],
    )?;
    let after = before.apply(event);
    record_visibility(tx, story_id, &after)?;
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
        .map_err(|e| Error::internal(format!("cannot serialise consent: {e}")))?;
    tracing::info!(story = %story_id, "a withdrawal the storyteller asked for before the story arrived is applied");
    accept_event(tx, project_id, story_id, &withdrawal, &text)
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

/// The database half of a withdrawal: the story's text, identity, recordings and uploads
/// are forgotten and a tombstone enters the feed.
fn withdraw(tx: &Connection, project_id: &str, story_id: &str) -> Result<Purge> {
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
    let uploads = {
        let mut stmt = tx.prepare("SELECT id FROM uploads WHERE story_id = ?1")?;
        let rows = stmt.query_map([story_id], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<Vec<String>>>()?
    };
    tx.execute("DELETE FROM recordings WHERE story_id = ?1", [story_id])?;
    tx.execute("DELETE FROM uploads WHERE story_id = ?1", [story_id])?;
    super::search::forget_story(tx, story_id)?;
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
