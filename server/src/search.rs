//! Full-text search over stories' titles, summaries and notes (SQLite FTS5, table
//! `story_search`, schema step 2), and the story's date (`stories.story_date`) that the
//! web page sorts and filters by. The index holds one row per story that has text: it
//! is rewritten whenever a story document is stored and emptied when the storyteller
//! withdraws, so a withdrawn story's words can never be found again.

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
    let notes = doc
        .notes
        .iter()
        .map(|n| n.text.as_str())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    conn.execute(
        "INSERT INTO story_search (story_id, title, summary, notes) VALUES (?1, ?2, ?3, ?4)",
        params![story_id, doc.title, doc.summary, notes],
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

/// An FTS5 query for what a person typed: every word must occur (as a word or the start
/// of one). Each word is quoted, so FTS5's own syntax (AND, NEAR, column filters, stray
/// quotes) in the input is just text. None when there is nothing to search for.
pub fn match_expression(typed: &str) -> Option<String> {
    let terms: Vec<String> = typed
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_words_become_quoted_prefix_terms() {
        assert_eq!(
            match_expression("  damp flat ").as_deref(),
            Some("\"damp\"* \"flat\"*")
        );
        assert_eq!(
            match_expression("title:x OR \"NEAR(").as_deref(),
            Some("\"title\"* \"x\"* \"OR\"* \"NEAR\"*")
        );
        assert_eq!(match_expression(" -- \"* "), None);
        assert_eq!(
            match_expression("don't").as_deref(),
            Some("\"don't\"*"),
            "an apostrophe inside a word stays"
        );
    }
}
