//! The portal's sessions in SQLite (schema step 10): `portal_sessions`, keyed by the
//! hash of the cookie's id; expired rows are forgotten whenever one is opened.

use rusqlite::{Connection, OptionalExtension, params};

use crate::data::portal::{StoredSession, opened_columns, session_from_row};
use crate::error::Result;

pub fn open(tx: &Connection, session: &StoredSession, now: i64, most: usize) -> Result<()> {
    tx.execute("DELETE FROM portal_sessions WHERE expires_at <= ?1", [now])?;
    // Every session lives as long, so the oldest closes first: room is made for one.
    let keep = i64::try_from(most.saturating_sub(1)).unwrap_or(i64::MAX);
    tx.execute(
        "DELETE FROM portal_sessions WHERE id_hash IN
           (SELECT id_hash FROM portal_sessions ORDER BY expires_at DESC, id_hash
            LIMIT -1 OFFSET ?1)",
        [keep],
    )?;
    let (project_id, story_id, hashes) = opened_columns(&session.opened)?;
    tx.execute(
        "INSERT INTO portal_sessions (id_hash, project_id, story_id, hashes, csrf, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            session.id_hash,
            project_id,
            story_id,
            hashes,
            session.csrf,
            session.expires_at
        ],
    )?;
    Ok(())
}

pub fn find(conn: &Connection, id_hash: &str, now: i64) -> Result<Option<StoredSession>> {
    let row = conn
        .query_row(
            "SELECT project_id, story_id, hashes, csrf, expires_at FROM portal_sessions
             WHERE id_hash = ?1 AND expires_at > ?2",
            params![id_hash, now],
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            },
        )
        .optional()?;
    row.map(|row| session_from_row(id_hash, row)).transpose()
}

pub fn close(tx: &Connection, id_hash: &str) -> Result<()> {
    tx.execute("DELETE FROM portal_sessions WHERE id_hash = ?1", [id_hash])?;
    Ok(())
}
