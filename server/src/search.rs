//! Full-text search over stories' titles, summaries and notes (SQLite FTS5, table
//! `story_search`, schema step 2), and the story's date (`stories.story_date`) that the
//! web page sorts and filters by. The index holds one row per story that has text: it
//! is rewritten whenever a story document is stored and emptied when the storyteller
//! withdraws, so a withdrawn story's words can never be found again.

use tellus_protocol::StoryDocument;

/// Kept here for callers that write the index in a transaction of their own.
pub use crate::data::sqlite::search::{forget_story, index_story};

/// The notes of a story as one indexed text, one note a line.
pub fn notes_text(doc: &StoryDocument) -> String {
    doc.notes
        .iter()
        .map(|n| n.text.as_str())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
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
