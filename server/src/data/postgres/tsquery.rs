//! What a person typed as a PostgreSQL text-search query, matching as the SQLite index
//! does (`crate::search::match_expression`): every word must occur, as a word or the
//! start of one, and nothing typed is query syntax. The index is `to_tsvector('simple',
//! …)`: lower-cased words, no stemming, no stop words, like FTS5's unicode61.
//!
//! Differences from SQLite, documented in docs/server.md: accents are kept (FTS5 removes
//! them: `cafe` finds `café` there, not here), and PostgreSQL's parser also indexes a
//! hyphenated word whole (`well-known`), besides its parts.

/// The `to_tsquery('simple', …)` text for `typed`: each word a prefix term (`'word':*`),
/// a word with an apostrophe a phrase of its parts (`'don' <-> 't':*`); None when there
/// is nothing to search for.
pub fn prefix_query(typed: &str) -> Option<String> {
    let terms: Vec<String> = typed
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter_map(|word| {
            let parts: Vec<&str> = word.split('\'').filter(|p| !p.is_empty()).collect();
            let (last, first) = parts.split_last()?;
            let mut phrase: Vec<String> = first.iter().map(|p| format!("'{p}'")).collect();
            phrase.push(format!("'{last}':*"));
            Some(phrase.join(" <-> "))
        })
        .take(16)
        .collect();
    (!terms.is_empty()).then(|| terms.join(" & "))
}

/// The same query for an FTS5 expression made by `match_expression` (the story list's
/// filter carries that): its quoted words (which never hold a quote: it splits on
/// them), unquoted, are what was typed.
pub fn from_match_expression(expression: &str) -> Option<String> {
    prefix_query(&expression.replace(['"', '*'], " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_words_become_prefix_terms_and_syntax_is_text() {
        assert_eq!(
            prefix_query(" damp flat ").as_deref(),
            Some("'damp':* & 'flat':*")
        );
        assert_eq!(
            prefix_query("a|b & !c:* <-> (d)").as_deref(),
            Some("'a':* & 'b':* & 'c':* & 'd':*")
        );
        assert_eq!(prefix_query("don't").as_deref(), Some("'don' <-> 't':*"));
        assert_eq!(prefix_query("'quoted'").as_deref(), Some("'quoted':*"));
        assert_eq!(prefix_query(" -- ' \"* "), None);
        assert_eq!(prefix_query("Ünïcode").as_deref(), Some("'Ünïcode':*"));
    }

    #[test]
    fn the_story_lists_expression_gives_the_same_query_as_the_typed_words() {
        for typed in [
            "damp flat",
            "don't stop",
            "title:x OR \"NEAR(",
            "say \"\"hi\"\"",
        ] {
            let expression = crate::search::match_expression(typed);
            assert_eq!(
                expression.as_deref().and_then(from_match_expression),
                prefix_query(typed),
                "{typed}"
            );
        }
    }
}
