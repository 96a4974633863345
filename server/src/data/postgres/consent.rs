//! Consent in PostgreSQL: the append-only log `consent_events`, and the one path every
//! new event takes (`accept_event`, as in SQLite), with the withdrawal it may bring.
//! Callers hold the story's lock (`stories::lock_story`) for the whole transaction.

use futures_util::future::BoxFuture;
use sqlx_core::row::Row;
use sqlx_postgres::PgConnection;
use tellus_protocol::{
    ConsentEventDoc, ConsentForm, ConsentKind, ConsentSummary, IdentityDoc, Representation,
};

use super::visibility::record_visibility;
use super::{feed, hooks, q};
use crate::clock::now_ms;
use crate::data::stories::Purge;
use crate::error::{Error, Result};
use crate::routes::parse_id;
use crate::rules::{check_event, storyteller_event};

/// The story's consent events in the order they arrived (the append-only log).
pub async fn load_consent_events(
    conn: &mut PgConnection,
    story_id: &str,
) -> Result<Vec<ConsentEventDoc>> {
    let rows = q("SELECT body FROM consent_events WHERE story_id = $1 ORDER BY seq")
        .bind(story_id)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            let body: String = r.try_get(0)?;
            serde_json::from_str(&body)
                .map_err(|e| Error::internal(format!("a stored consent event cannot be read: {e}")))
        })
        .collect()
}

/// The story's current consent: the fold of its events in the order they arrived.
pub async fn load_consent(conn: &mut PgConnection, story_id: &str) -> Result<ConsentSummary> {
    Ok(ConsentSummary::fold(
        &load_consent_events(conn, story_id).await?,
    ))
}

/// The consent forms of a project's configuration.
pub async fn project_forms(conn: &mut PgConnection, project_id: &str) -> Result<Vec<ConsentForm>> {
    let config: String = q("SELECT config FROM projects WHERE id = $1")
        .bind(project_id)
        .fetch_one(conn)
        .await?
        .try_get(0)?;
    serde_json::from_str(&config)
        .map_err(|e| e.to_string())
        .and_then(|config| crate::admin::consent_forms(&config))
        .map_err(|why| Error::internal(format!("project {project_id}: {why}")))
}

/// Accepts one new consent event for a story that exists (or its stub), whoever sends
/// it (a reporter's phone, or the storyteller on the portal): the same steps as SQLite's
/// `accept_event` — the engine's check, the append to the log, what a lead may see, on
/// withdrawal the purge and tombstone, and a code hash remembered with any withdrawal
/// waiting for it applied at once, in the same transaction.
pub fn accept_event<'a>(
    tx: &'a mut PgConnection,
    project_id: &'a str,
    story_id: &'a str,
    event: &'a ConsentEventDoc,
    event_text: &'a str,
) -> BoxFuture<'a, Result<(ConsentSummary, Option<Purge>)>> {
    // Boxed: a waiting withdrawal is accepted through this same path (recursion).
    Box::pin(async move {
        let before = load_consent(tx, story_id).await?;
        check_event(&before, &project_forms(tx, project_id).await?, event)?;
        let event_id = parse_id(&event.id, "consent event")?;
        q("INSERT INTO consent_events (id, story_id, body, received_at) VALUES ($1, $2, $3, $4)")
            .bind(&event_id)
            .bind(story_id)
            .bind(event_text)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        let after = before.apply(event);
        record_visibility(tx, story_id, &after).await?;
        let purge = match event.kind {
            ConsentKind::Withdrawn => Some(withdraw(tx, project_id, story_id).await?),
            _ => {
                q("UPDATE stories SET withdrawn_at = NULL WHERE id = $1")
                    .bind(story_id)
                    .execute(&mut *tx)
                    .await?;
                forget_identity_beyond(tx, story_id, &after).await?;
                announce_consent_change(tx, story_id).await?;
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
        hooks::remember(tx, project_id, story_id, hash).await?;
        let Some(erase_audio) = hooks::take_pending(tx, project_id, hash).await? else {
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
        accept_event(tx, project_id, story_id, &withdrawal, &text).await
    })
}

/// A new consent event on a story whose document leads can read enters the feed as a
/// `story` change (same revision), as in SQLite; a stub needs none.
async fn announce_consent_change(tx: &mut PgConnection, story_id: &str) -> Result<()> {
    let row = q("SELECT project_id, revision FROM stories WHERE id = $1 AND document IS NOT NULL")
        .bind(story_id)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(row) = row {
        let project_id: String = row.try_get(0)?;
        let revision = super::unsigned(row.try_get::<i64, _>(1)?, "revision")?;
        feed::append_story(tx, &project_id, story_id, revision, now_ms()).await?;
    }
    Ok(())
}

/// Erases a stored real name or contact that the consent no longer allows.
async fn forget_identity_beyond(
    tx: &mut PgConnection,
    story_id: &str,
    consent: &ConsentSummary,
) -> Result<()> {
    let stored: Option<String> = q("SELECT identity FROM stories WHERE id = $1")
        .bind(story_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    let Some(identity) = stored.and_then(|t| serde_json::from_str::<IdentityDoc>(&t).ok()) else {
        return Ok(());
    };
    let identity = identity.allowed_by(consent);
    let text = (!identity.is_empty()).then(|| serde_json::to_string(&identity).unwrap_or_default());
    q("UPDATE stories SET identity = $2 WHERE id = $1")
        .bind(story_id)
        .bind(text)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The database half of a withdrawal: the story's text, identity, recordings and uploads
/// are forgotten and a tombstone enters the feed.
async fn withdraw(tx: &mut PgConnection, project_id: &str, story_id: &str) -> Result<Purge> {
    // Every copy of every recording: the lossless and the listening one.
    let recordings = q("SELECT id, representation FROM recordings WHERE story_id = $1")
        .bind(story_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            let id: String = r.try_get(0)?;
            let representation: String = r.try_get(1)?;
            // A row of another kind cannot exist (CHECK); lossless is the fallback.
            let representation = Representation::parse(&representation).unwrap_or_default();
            Ok(crate::storage::key(&id, representation))
        })
        .collect::<Result<Vec<String>>>()?;
    let uploads = q("SELECT id FROM uploads WHERE story_id = $1")
        .bind(story_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| Ok(r.try_get::<String, _>(0)?))
        .collect::<Result<Vec<String>>>()?;
    for sql in [
        "DELETE FROM recordings WHERE story_id = $1",
        "DELETE FROM uploads WHERE story_id = $1",
    ] {
        q(sql).bind(story_id).execute(&mut *tx).await?;
    }
    super::search::forget_story(tx, story_id).await?;
    hooks::on_withdrawn(tx, story_id).await?;
    let now = now_ms();
    q("UPDATE stories SET document = NULL, identity = NULL, withdrawn_at = $2, updated_at = $2 WHERE id = $1")
        .bind(story_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    feed::lock_for_append(tx).await?;
    q("INSERT INTO changes (project_id, kind, story_id, at) VALUES ($1, 'withdrawal', $2, $3)")
        .bind(project_id)
        .bind(story_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    Ok(Purge {
        recordings,
        uploads,
    })
}
