//! The portal's sessions on PostgreSQL (migration 0002): `portal_sessions`, keyed by the
//! hash of the cookie's id, shared by every replica; expired rows are forgotten whenever
//! one is opened. Replicas opening sessions at once may each make room for one before
//! inserting, so the table may briefly hold a few more than the bound: one per
//! concurrent opening, never more.

use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_postgres::{PgConnection, Postgres};

use crate::data::portal::{SessionRow, StoredSession, opened_columns, session_from_row};
use crate::error::Result;

pub async fn open(
    conn: &mut PgConnection,
    session: &StoredSession,
    now: i64,
    most: usize,
) -> Result<()> {
    query::<Postgres>("DELETE FROM portal_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    // Every session lives as long, so the oldest closes first: room is made for one.
    let keep = i64::try_from(most.saturating_sub(1)).unwrap_or(i64::MAX);
    query::<Postgres>(
        "DELETE FROM portal_sessions WHERE id_hash IN
           (SELECT id_hash FROM portal_sessions ORDER BY expires_at DESC, id_hash OFFSET $1)",
    )
    .bind(keep)
    .execute(&mut *conn)
    .await?;
    let (project_id, story_id, hashes) = opened_columns(&session.opened)?;
    query::<Postgres>(
        "INSERT INTO portal_sessions (id_hash, project_id, story_id, hashes, csrf, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&session.id_hash)
    .bind(project_id)
    .bind(story_id)
    .bind(hashes)
    .bind(&session.csrf)
    .bind(session.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn find(
    conn: &mut PgConnection,
    id_hash: &str,
    now: i64,
) -> Result<Option<StoredSession>> {
    let row: Option<SessionRow> = query_as::<Postgres, SessionRow>(
        "SELECT project_id, story_id, hashes, csrf, expires_at FROM portal_sessions
         WHERE id_hash = $1 AND expires_at > $2",
    )
    .bind(id_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| session_from_row(id_hash, row)).transpose()
}

pub async fn close(conn: &mut PgConnection, id_hash: &str) -> Result<()> {
    query::<Postgres>("DELETE FROM portal_sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
