//! Stories in PostgreSQL: table `stories` (the document, and the identity apart from
//! it), with the consent log (`consent.rs`), the search index and the feed written
//! beside it. Every write to a story holds its lock (`lock_story`) to the end of its
//! transaction, so a story's writes happen one at a time across replicas, as SQLite's
//! single writer makes them happen.

use sqlx_core::row::Row;
use sqlx_postgres::PgConnection;
use tellus_protocol::{ConsentAccepted, ConsentEventDoc, IdentityDoc, StoryDocument};

use super::consent::{accept_event, load_consent, load_consent_events};
use super::{PgData, feed, q, unsigned};
use crate::clock::now_ms;
use crate::data::stories::{ConsentPost, Purge, Stories, StoryPut, StoryRow};
use crate::error::{Error, Result};
use crate::rules::{self, HeldCopy, StoryWrite};
use crate::visibility::Visibility;

/// The advisory-lock namespace of per-story locks (two-key form; the feed's lock is a
/// one-key lock, a space of its own).
const STORY_LOCKS: i32 = 0x7465_6c6c;

/// Takes the story's transaction-scoped lock (the story need not exist yet: a PUT and
/// a consent event for a new story must not both make it). Take it before reading what
/// a decision rests on, and before the feed's lock (`feed::lock_for_append`).
pub async fn lock_story(tx: &mut PgConnection, story_id: &str) -> Result<()> {
    q("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(STORY_LOCKS)
        .bind(story_id)
        .execute(tx)
        .await?;
    Ok(())
}

pub async fn load_story(conn: &mut PgConnection, id: &str) -> Result<Option<StoryRow>> {
    let row = q(
        "SELECT project_id, reporter_id, revision, document, identity FROM stories WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(StoryRow {
            project_id: r.try_get(0)?,
            reporter_id: r.try_get(1)?,
            revision: unsigned(r.try_get::<i64, _>(2)?, "revision")?,
            document: r.try_get(3)?,
            identity: r.try_get(4)?,
        })
    })
    .transpose()
}

/// A story of `project_id` as a lead sees it (`Stories::lead_story`).
pub async fn lead_view(
    conn: &mut PgConnection,
    project_id: &str,
    id: &str,
) -> Result<StoryDocument> {
    rules::lead_may_read(super::visibility::of_story(conn, project_id, id).await?)?;
    let row = load_story(conn, id)
        .await?
        .filter(|r| r.project_id == project_id)
        .ok_or_else(|| Error::not_found("story"))?;
    let consent = load_consent(conn, id).await?;
    let text = row.document.ok_or_else(|| Error::not_found("story"))?;
    let mut doc: StoryDocument = serde_json::from_str(&text)
        .map_err(|e| Error::internal(format!("a stored story cannot be read: {e}")))?;
    let identity = row
        .identity
        .and_then(|t| serde_json::from_str::<IdentityDoc>(&t).ok())
        .unwrap_or_default()
        .allowed_by(&consent);
    doc.identity = (!identity.is_empty()).then_some(identity);
    fill_delivered(conn, id, &mut doc).await?;
    doc.consent = Some(consent);
    Ok(doc)
}

/// Marks what the server holds of each recording of `doc` (`rules::mark_delivered`).
async fn fill_delivered(
    conn: &mut PgConnection,
    story_id: &str,
    doc: &mut StoryDocument,
) -> Result<()> {
    for recording in &mut doc.recordings {
        let held = q("SELECT representation, sha256, bytes, content_type FROM recordings WHERE id = $1 AND story_id = $2")
            .bind(&recording.id)
            .bind(story_id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| {
                Ok(HeldCopy {
                    representation: r.try_get(0)?,
                    sha256: r.try_get(1)?,
                    bytes: unsigned(r.try_get::<i64, _>(2)?, "size")?,
                    content_type: r.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        rules::mark_delivered(recording, held);
    }
    Ok(())
}

async fn put_story(tx: &mut PgConnection, put: &StoryPut) -> Result<()> {
    let id = &put.document.id;
    let revision = put.document.revision;
    lock_story(tx, id).await?;
    let existing = load_story(tx, id).await?;
    let consent = load_consent(tx, id).await?;
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
    let now = now_ms();
    q("INSERT INTO stories (id, project_id, reporter_id, revision, document, identity, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO UPDATE SET revision = $4, document = $5, identity = $6, updated_at = $7")
    .bind(id)
    .bind(&put.project_id)
    .bind(&put.reporter_id)
    .bind(i64::from(revision))
    .bind(&put.text)
    .bind(identity_text)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    super::search::index_story(tx, id, &put.document).await?;
    feed::append_story(tx, &put.project_id, id, revision, now).await
}

async fn record_consent(
    tx: &mut PgConnection,
    post: &ConsentPost,
) -> Result<(ConsentAccepted, Option<Purge>)> {
    let (project_id, story_id) = (&post.project_id, &post.story_id);
    let event_id = &post.event_id;
    lock_story(tx, story_id).await?;
    let known = q("SELECT story_id, body FROM consent_events WHERE id = $1")
        .bind(event_id)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(known) = known {
        let (known_story, body): (String, String) = (known.try_get(0)?, known.try_get(1)?);
        rules::consent_retry(&known_story, &body, story_id, &post.event)?;
        rules::retry_owner(load_story(tx, story_id).await?.as_ref(), &post.reporter_id)?;
        let consent = load_consent(tx, story_id).await?;
        let accepted = ConsentAccepted {
            event_id: event_id.clone(),
            new: false,
            consent,
        };
        return Ok((accepted, None));
    }
    let existing = load_story(tx, story_id).await?;
    rules::consent_owner(existing.as_ref(), project_id, &post.reporter_id)?;
    if existing.is_none() {
        // Consent may arrive before the story document (DESIGN.md §3): keep a stub.
        q("INSERT INTO stories (id, project_id, reporter_id, revision, updated_at) VALUES ($1, $2, $3, 0, $4)")
            .bind(story_id)
            .bind(project_id)
            .bind(&post.reporter_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
    }
    let (after, purge) = accept_event(tx, project_id, story_id, &post.event, &post.text).await?;
    let accepted = ConsentAccepted {
        event_id: event_id.clone(),
        new: true,
        consent: after,
    };
    Ok((accepted, purge))
}

impl Stories for PgData {
    fn owned_consent_log(
        &self,
        project_id: &str,
        reporter_id: &str,
        story_id: &str,
    ) -> Result<Option<Vec<ConsentEventDoc>>> {
        in_tx!(self, |tx| {
            match load_story(tx, story_id).await? {
                Some(row) if rules::owned_by(&row, project_id, reporter_id) => {
                    Some(load_consent_events(tx, story_id).await?)
                }
                _ => None,
            }
        })
    }

    fn put_story(&self, put: &StoryPut) -> Result<()> {
        in_tx!(self, |tx| put_story(tx, put).await?)
    }

    fn record_consent(&self, post: &ConsentPost) -> Result<(ConsentAccepted, Option<Purge>)> {
        in_tx!(self, |tx| record_consent(tx, post).await?)
    }

    fn lead_story(&self, project_id: &str, story_id: &str) -> Result<StoryDocument> {
        // One transaction: the visibility checked and the story read are one snapshot
        // of the story only because it is locked against a withdrawal meanwhile.
        in_tx!(self, |tx| {
            q("SELECT 1 FROM stories WHERE id = $1 FOR SHARE")
                .bind(story_id)
                .execute(&mut *tx)
                .await?;
            lead_view(tx, project_id, story_id).await?
        })
    }

    fn visibility(&self, project_id: &str, story_id: &str) -> Result<Visibility> {
        with_conn!(self, |conn| super::visibility::of_story(
            conn, project_id, story_id
        )
        .await?)
    }
}
