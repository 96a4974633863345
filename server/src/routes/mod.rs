//! The JSON routes of DESIGN.md §4, by who calls them.

pub mod basic;
pub mod lead;
pub mod stories;

use crate::error::{Error, Result};

/// Checks that a path id is a UUID (ids are made on the device, DESIGN.md §3) and
/// returns it in its canonical hyphenated form.
pub fn parse_id(text: &str, what: &str) -> Result<String> {
    uuid::Uuid::parse_str(text)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| {
            Error::bad_request(
                "invalid_id",
                format!("'{text}' is not a {what} id (a UUID)"),
            )
        })
}
