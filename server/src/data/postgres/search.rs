//! The stories' full-text index in PostgreSQL (table `story_search`, a generated
//! tsvector `words` with a GIN index) and the story's date (`stories.story_date`); the
//! same contract as SQLite's FTS5 table (`crate::search`): one row per story that has
//! text, rewritten with every stored revision and deleted on withdrawal.

use sqlx_postgres::PgConnection;
use tellus_protocol::StoryDocument;

use super::q;
use crate::error::Result;

/// Replaces the story's row in the index with the text of `doc`, and notes its date.
pub async fn index_story(
    conn: &mut PgConnection,
    story_id: &str,
    doc: &StoryDocument,
) -> Result<()> {
    forget_story(conn, story_id).await?;
    q("UPDATE stories SET story_date = $2 WHERE id = $1")
        .bind(story_id)
        .bind(&doc.created_at)
        .execute(&mut *conn)
        .await?;
    q("INSERT INTO story_search (story_id, title, summary, notes) VALUES ($1, $2, $3, $4)")
        .bind(story_id)
        .bind(&doc.title)
        .bind(&doc.summary)
        .bind(crate::search::notes_text(doc))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Removes every word of the story (and its date) from the index.
pub async fn forget_story(conn: &mut PgConnection, story_id: &str) -> Result<()> {
    q("DELETE FROM story_search WHERE story_id = $1")
        .bind(story_id)
        .execute(&mut *conn)
        .await?;
    q("UPDATE stories SET story_date = NULL WHERE id = $1")
        .bind(story_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A tsquery (for `to_tsquery('simple', …)`) for what a person typed: every word must
/// occur, as a word or the start of one, like `crate::search::match_expression` for
/// FTS5. Each word is a quoted lexeme, so tsquery's own syntax (`&`, `|`, `!`, `:`,
/// quotes) in the input is just text. None when there is nothing to search for.
pub fn prefix_query(typed: &str) -> Option<String> {
    let terms: Vec<String> = typed
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| format!("'{}':*", w.to_lowercase()))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" & "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_words_become_quoted_prefix_lexemes() {
        assert_eq!(
            prefix_query("  Damp flat ").as_deref(),
            Some("'damp':* & 'flat':*")
        );
        assert_eq!(
            prefix_query("title:x | !'NEAR(").as_deref(),
            Some("'title':* & 'x':* & 'near':*")
        );
        assert_eq!(prefix_query(" -- '* "), None);
        assert_eq!(
            prefix_query("don't").as_deref(),
            Some("'don':* & 't':*"),
            "split as the 'simple' parser splits the text it indexes"
        );
    }
}
