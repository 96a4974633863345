//! The JSON routes of DESIGN.md §4, by who calls them.

pub mod basic;
pub mod lead;
pub mod stories;

use axum::http::StatusCode;
use tellus_protocol::{Limits, OverLimit};

use crate::error::{Error, Result};

/// Something beyond the limits the phone was told (`limits` in the project
/// configuration): 413, which a phone parks at once, since sending it again cannot help.
pub fn over_limit(e: OverLimit) -> Error {
    Error::refused(StatusCode::PAYLOAD_TOO_LARGE, "over_limit", e.0)
}

/// The project configuration as phones get it: the project's own keys, and the limits
/// this server enforces under `limits`.
pub fn project_with_limits(config: &str, limits: &Limits) -> Result<serde_json::Value> {
    let mut value: serde_json::Value = serde_json::from_str(config).map_err(|e| {
        Error::internal(format!(
            "a stored project configuration cannot be read: {e}"
        ))
    })?;
    if let Some(object) = value.as_object_mut() {
        let limits = serde_json::to_value(limits)
            .map_err(|e| Error::internal(format!("the limits cannot be written: {e}")))?;
        object.insert("limits".into(), limits);
    }
    Ok(value)
}

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
