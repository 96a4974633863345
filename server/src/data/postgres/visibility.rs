//! What a lead may see of each story (the rule is `visibility::Visibility::of`), kept in
//! `stories.lead_visibility` as in SQLite, so that every list filters by it in SQL (the
//! conditions `visibility::VISIBLE_SQL` and `LISTED_SQL` read the same here).

use sqlx_core::row::Row;
use sqlx_postgres::PgConnection;
use tellus_protocol::ConsentSummary;

use super::q;
use crate::error::Result;
use crate::visibility::Visibility;

/// Keeps the story's visibility in step with its consent (called with every consent
/// event the server accepts, in the same transaction).
pub async fn record_visibility(
    conn: &mut PgConnection,
    story_id: &str,
    consent: &ConsentSummary,
) -> Result<()> {
    q("UPDATE stories SET lead_visibility = $2 WHERE id = $1")
        .bind(story_id)
        .bind(Visibility::of(consent).as_str())
        .execute(conn)
        .await?;
    Ok(())
}

/// What a lead of `project_id` may see of the story; `Hidden` for an unknown story or
/// another project's.
pub async fn of_story(
    conn: &mut PgConnection,
    project_id: &str,
    story_id: &str,
) -> Result<Visibility> {
    let row = q("SELECT lead_visibility FROM stories WHERE id = $1 AND project_id = $2")
        .bind(story_id)
        .bind(project_id)
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(r) => Visibility::parse(&r.try_get::<String, _>(0)?),
        None => Visibility::Hidden,
    })
}
