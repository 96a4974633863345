//! What a lead may see of each story (the rule is `visibility::Visibility::of`), kept in
//! `stories.lead_visibility` so that every list filters by it in SQL.

use rusqlite::{Connection, OptionalExtension, params};
use tellus_protocol::ConsentSummary;

use crate::error::Result;
use crate::visibility::Visibility;

/// Keeps the story's visibility in step with its consent (called with every consent
/// event the server accepts, in the same transaction).
pub fn record_visibility(
    conn: &Connection,
    story_id: &str,
    consent: &ConsentSummary,
) -> Result<()> {
    conn.execute(
        "UPDATE stories SET lead_visibility = ?2 WHERE id = ?1",
        params![story_id, Visibility::of(consent).as_str()],
    )?;
    Ok(())
}

impl Visibility {
    /// What a lead of `project_id` may see of the story; `Hidden` for an unknown story
    /// or another project's.
    pub fn of_story(conn: &Connection, project_id: &str, story_id: &str) -> Result<Visibility> {
        let text: Option<String> = conn
            .query_row(
                "SELECT lead_visibility FROM stories WHERE id = ?1 AND project_id = ?2",
                params![story_id, project_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.map_or(Visibility::Hidden, |t| Visibility::parse(&t)))
    }
}

/// The SQL condition, on a `stories` row aliased `s`, of a story a lead may see in full.
pub const VISIBLE_SQL: &str = "s.lead_visibility = 'visible'";
/// The SQL condition of a story a lead may see at least as a tombstone.
pub const LISTED_SQL: &str = "s.lead_visibility IN ('visible', 'withdrawn')";
