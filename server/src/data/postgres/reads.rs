//! Reads several areas share on PostgreSQL: what a lead may see of a story (the rule is
//! `visibility::Visibility::of`, kept in `stories.lead_visibility`), the consent log and
//! a project's consent forms, and the story's and the feed's locks. (Written beside the
//! portal, transcripts and web pages before the stories area's; to be merged with its
//! `visibility::of_story`, `consent::*`, `stories::lock_story`, `feed::lock_for_append`.)

use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use sqlx_postgres::{PgConnection, Postgres};
use tellus_protocol::{ConsentEventDoc, ConsentForm};

use crate::error::{Error, Result};
use crate::visibility::Visibility;

/// The per-story lock (the stories area's `lock_story`: same keys): taken before
/// reading what a decision about the story rests on, and before the feed's lock.
pub async fn lock_story(conn: &mut PgConnection, story_id: &str) -> Result<()> {
    query::<Postgres>("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(0x7465_6c6c_i32)
        .bind(story_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The feed's append lock (the feed area's `lock_for_append`: same key), taken before
/// inserting into `changes`, so changes commit in `seq` order across replicas.
pub async fn lock_for_append(conn: &mut PgConnection) -> Result<()> {
    query::<Postgres>("SELECT pg_advisory_xact_lock($1)")
        .bind(0x7465_6c6c_7573_0001_i64)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What a lead of `project_id` may see of the story; `Hidden` for an unknown story or
/// another project's. With `hold`, the story's lock is taken first and held until the
/// transaction ends, so a withdrawal waits for a write made under a `Visible` answer,
/// and then forgets what it wrote.
pub async fn visibility_of(
    conn: &mut PgConnection,
    project_id: &str,
    story_id: &str,
    hold: bool,
) -> Result<Visibility> {
    if hold {
        lock_story(conn, story_id).await?;
    }
    let sql = "SELECT lead_visibility FROM stories WHERE id = $1 AND project_id = $2";
    let text: Option<String> = query_scalar::<Postgres, String>(sql)
        .bind(story_id)
        .bind(project_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(text.map_or(Visibility::Hidden, |t| Visibility::parse(&t)))
}

/// The story's consent events in the order they arrived (the append-only log).
pub async fn consent_events(
    conn: &mut PgConnection,
    story_id: &str,
) -> Result<Vec<ConsentEventDoc>> {
    let bodies: Vec<(String,)> = query_as::<Postgres, (String,)>(
        "SELECT body FROM consent_events WHERE story_id = $1 ORDER BY seq",
    )
    .bind(story_id)
    .fetch_all(&mut *conn)
    .await?;
    bodies
        .into_iter()
        .map(|(body,)| {
            serde_json::from_str(&body)
                .map_err(|e| Error::internal(format!("a stored consent event cannot be read: {e}")))
        })
        .collect()
}

/// The consent forms of a project's configuration (every version a storyteller may
/// have seen).
pub async fn project_forms(conn: &mut PgConnection, project_id: &str) -> Result<Vec<ConsentForm>> {
    let config: String =
        query_scalar::<Postgres, String>("SELECT config FROM projects WHERE id = $1")
            .bind(project_id)
            .fetch_one(&mut *conn)
            .await?;
    serde_json::from_str(&config)
        .map_err(|e| e.to_string())
        .and_then(|config| crate::admin::consent_forms(&config))
        .map_err(|why| Error::internal(format!("project {project_id}: {why}")))
}

/// A stored count or revision as the unsigned number the interface carries.
pub fn unsigned<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T> {
    T::try_from(value)
        .map_err(|_| Error::internal(format!("a stored {what} is out of range: {value}")))
}

/// An unsigned number of the interface as PostgreSQL's BIGINT.
pub fn signed<T: TryInto<i64>>(value: T, what: &str) -> Result<i64> {
    value
        .try_into()
        .map_err(|_| Error::internal(format!("a {what} is too large to store")))
}
