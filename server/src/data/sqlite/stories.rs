//! Stories in SQLite: table `stories` (the document, and the identity apart from it),
//! with the consent log (`consent.rs`), the search index and the feed written beside it.

use rusqlite::{Connection, OptionalExtension, params};
use tellus_protocol::{ConsentAccepted, ConsentEventDoc, IdentityDoc, StoryDocument};

use super::SqliteData;
use super::consent::{accept_event, load_consent, load_consent_events};
use crate::clock::now_ms;
use crate::data::stories::{ConsentPost, Purge, Stories, StoryPut, StoryRow};
use crate::error::{Error, Result};
use crate::rules::{self, HeldCopy, StoryWrite};
use crate::visibility::Visibility;

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

/// A story of `project_id` as a lead sees it (`Stories::lead_story`).
pub fn lead_view(conn: &Connection, project_id: &str, id: &str) -> Result<StoryDocument> {
    rules::lead_may_read(Visibility::of_story(conn, project_id, id)?)?;
    let row = load_story(conn, id)?
        .filter(|r| r.project_id == project_id)
        .ok_or_else(|| Error::not_found("story"))?;
    let consent = load_consent(conn, id)?;
    let text = row.document.ok_or_else(|| Error::not_found("story"))?;
    let mut doc: StoryDocument = serde_json::from_str(&text)
        .map_err(|e| Error::internal(format!("a stored story cannot be read: {e}")))?;
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

/// Marks what the server holds of each recording of `doc` (`rules::mark_delivered`).
fn fill_delivered(conn: &Connection, story_id: &str, doc: &mut StoryDocument) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT representation, sha256, bytes, content_type FROM recordings WHERE id = ?1 AND story_id = ?2",
    )?;
    for recording in &mut doc.recordings {
        let held = stmt
            .query_map([&recording.id, story_id], |r| {
                Ok(HeldCopy {
                    representation: r.get(0)?,
                    sha256: r.get(1)?,
                    bytes: r.get(2)?,
                    content_type: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rules::mark_delivered(recording, held);
    }
    Ok(())
}

impl Stories for SqliteData {
    fn owned_consent_log(
        &self,
        project_id: &str,
        reporter_id: &str,
        story_id: &str,
    ) -> Result<Option<Vec<ConsentEventDoc>>> {
        self.db().with(|conn| {
            match load_story(conn, story_id)? {
                Some(row) if rules::owned_by(&row, project_id, reporter_id) => {}
                _ => return Ok(None),
            }
            load_consent_events(conn, story_id).map(Some)
        })
    }

    fn put_story(&self, put: &StoryPut) -> Result<()> {
        let id = &put.document.id;
        let revision = put.document.revision;
        self.db().write(|tx| {
            let existing = load_story(tx, id)?;
            let consent = load_consent(tx, id)?;
            let write = rules::story_write(
                existing.as_ref(),
                &put.project_id,
                &put.reporter_id,
                &consent,
                &put.identity,
                revision,
                &put.text,
            )?;
            if write == StoryWrite::AlreadyHeld {
                return Ok(());
            }
            let identity_text = (!put.identity.is_empty())
                .then(|| serde_json::to_string(&put.identity).unwrap_or_default());
            tx.execute(
                "INSERT INTO stories (id, project_id, reporter_id, revision, document, identity, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO UPDATE SET revision = ?4, document = ?5, identity = ?6, updated_at = ?7",
                params![id, put.project_id, put.reporter_id, revision, put.text, identity_text, now_ms()],
            )?;
            super::search::index_story(tx, id, &put.document)?;
            tx.execute(
                "INSERT INTO changes (project_id, kind, story_id, revision, at) VALUES (?1, 'story', ?2, ?3, ?4)",
                params![put.project_id, id, revision, now_ms()],
            )?;
            Ok(())
        })
    }

    fn record_consent(&self, post: &ConsentPost) -> Result<(ConsentAccepted, Option<Purge>)> {
        let (project_id, story_id) = (&post.project_id, &post.story_id);
        let event_id = &post.event_id;
        self.db().write(|tx| {
            let known: Option<(String, String)> = tx
                .query_row(
                    "SELECT story_id, body FROM consent_events WHERE id = ?1",
                    [event_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((known_story, body)) = known {
                rules::consent_retry(&known_story, &body, story_id, &post.event)?;
                rules::retry_owner(load_story(tx, story_id)?.as_ref(), &post.reporter_id)?;
                let consent = load_consent(tx, story_id)?;
                let accepted = ConsentAccepted {
                    event_id: event_id.clone(),
                    new: false,
                    consent,
                };
                return Ok((accepted, None));
            }
            let existing = load_story(tx, story_id)?;
            rules::consent_owner(existing.as_ref(), project_id, &post.reporter_id)?;
            if existing.is_none() {
                // Consent may arrive before the story document (DESIGN.md §3 sends
                // metadata and consent first, in either order): keep a stub.
                tx.execute(
                    "INSERT INTO stories (id, project_id, reporter_id, revision, updated_at) VALUES (?1, ?2, ?3, 0, ?4)",
                    params![story_id, project_id, post.reporter_id, now_ms()],
                )?;
            }
            let (after, purge) = accept_event(tx, project_id, story_id, &post.event, &post.text)?;
            let accepted = ConsentAccepted {
                event_id: event_id.clone(),
                new: true,
                consent: after,
            };
            Ok((accepted, purge))
        })
    }

    fn lead_story(&self, project_id: &str, story_id: &str) -> Result<StoryDocument> {
        self.db().with(|conn| lead_view(conn, project_id, story_id))
    }

    fn visibility(&self, project_id: &str, story_id: &str) -> Result<Visibility> {
        self.db()
            .with(|conn| Visibility::of_story(conn, project_id, story_id))
    }
}
