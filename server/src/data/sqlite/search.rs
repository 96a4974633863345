//! The stories' full-text index in SQLite (FTS5, table `story_search`, schema step 2) and
//! the story's date (`stories.story_date`); see `crate::search`.

use rusqlite::{Connection, params};
use tellus_protocol::StoryDocument;

use crate::error::Result;

/// Replaces the story's row in the index with the text of `doc`, and notes its date
/// for sorting and filtering.
pub fn index_story(conn: &Connection, story_id: &str, doc: &StoryDocument) -> Result<()> {
    forget_story(conn, story_id)?;
    conn.execute(
        "UPDATE stories SET story_date = ?2 WHERE id = ?1",
        params![story_id, doc.created_at],
    )?;
    conn.execute(
        "INSERT INTO story_search (story_id, title, summary, notes) VALUES (?1, ?2, ?3, ?4)",
        params![
            story_id,
            doc.title,
            doc.summary,
            crate::search::notes_text(doc)
        ],
    )?;
    Ok(())
}

/// Removes every word of the story (and its date) from the index.
pub fn forget_story(conn: &Connection, story_id: &str) -> Result<()> {
    conn.execute("DELETE FROM story_search WHERE story_id = ?1", [story_id])?;
    conn.execute(
        "UPDATE stories SET story_date = NULL WHERE id = ?1",
        [story_id],
    )?;
    Ok(())
}
