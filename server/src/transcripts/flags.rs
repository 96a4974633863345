//! A storyteller's flag on their transcript: "at this moment, I said something else".
//! Made from the portal (the storyteller's own story only), seen by the project's leads
//! on the story page, and accepted (the segment's text becomes the suggestion, as a new
//! revision) or rejected. Forgotten with the story on withdrawal. Stored by the data
//! layer (data::transcripts); the rules of a suggestion and of accepting one are here.

use serde::Serialize;

use super::model::{Save, Transcript};
use crate::error::{Error, Result};

/// Longest suggestion, and most open flags per story (a bound on what a code can add).
pub const MAX_SUGGESTION_CHARS: usize = 2000;
pub const MAX_OPEN_PER_STORY: i64 = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    pub id: String,
    pub recording_id: String,
    pub segment_start_ms: u64,
    pub suggested: String,
}

/// The suggestion as it is kept (trimmed), or why it cannot be.
pub fn check_suggestion(suggested: &str) -> Result<&str> {
    let suggested = suggested.trim();
    if suggested.is_empty() || suggested.chars().count() > MAX_SUGGESTION_CHARS {
        return Err(Error::bad_request(
            "invalid_suggestion",
            format!("write what you said, in at most {MAX_SUGGESTION_CHARS} characters"),
        ));
    }
    Ok(suggested)
}

/// A flag names a passage the transcript has.
pub fn check_passage(transcript: &Transcript, segment_start_ms: u64) -> Result<()> {
    if !transcript
        .segments
        .iter()
        .any(|s| s.start_ms == segment_start_ms)
    {
        return Err(Error::bad_request(
            "invalid_segment",
            "there is no passage starting at that moment",
        ));
    }
    Ok(())
}

/// Refused once a story has `MAX_OPEN_PER_STORY` open flags.
pub fn check_room(open: i64) -> Result<()> {
    if open >= MAX_OPEN_PER_STORY {
        return Err(Error::refused(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too_many_flags",
            "this story has many open suggestions already; wait until the project has looked at them",
        ));
    }
    Ok(())
}

/// The save that accepting a flag makes: the passage's text becomes the suggestion.
pub fn accepted(current: &Transcript, segment_start_ms: u64, suggested: String) -> Result<Save> {
    let mut segments = current.segments.clone();
    let segment = segments
        .iter_mut()
        .find(|s| s.start_ms == segment_start_ms)
        .ok_or_else(|| {
            Error::conflict(
                "segment_gone",
                "the transcript no longer has a passage at that moment; reject this suggestion and edit by hand",
            )
        })?;
    segment.text = suggested;
    Ok(Save {
        base_revision: current.revision,
        segments,
        language: None,
        reviewed: None,
    })
}
