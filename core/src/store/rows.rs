//! Small conversions between stored columns and model values.

use rusqlite::types::Type;

use crate::error::{Error, Result};

/// Reads a text column that holds one of an enum's names.
pub(super) fn parse_enum<T>(
    row: &rusqlite::Row<'_>,
    index: usize,
    parse: impl Fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            Type::Text,
            format!("unknown value {text:?}").into(),
        )
    })
}

/// Reads a JSON column.
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row<'_>,
    index: usize,
) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e)))
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("model values always serialise to JSON")
}

/// Trims `text` and checks it is present and not too long.
pub(super) fn required_text(what: &str, text: &str, max_chars: usize) -> Result<String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid(format!("{what} cannot be empty")));
    }
    optional_text(what, trimmed, max_chars)
}

/// Trims `text` and checks it is one line without control characters and not too long.
pub(super) fn optional_text(what: &str, text: &str, max_chars: usize) -> Result<String> {
    let trimmed = text.trim();
    if trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "{what} cannot contain control characters"
        )));
    }
    if trimmed.chars().count() > max_chars {
        return Err(Error::invalid(format!(
            "{what} is too long (at most {max_chars} characters)"
        )));
    }
    Ok(trimmed.to_string())
}
