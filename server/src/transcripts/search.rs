//! Full-text search over transcripts: one indexed row per segment so that a hit names
//! the moment (story, recording and the segment's start). Rewritten with every saved
//! revision, emptied on withdrawal; results only of stories a lead may see
//! (visibility.rs). Stored and searched by the data layer (data::transcripts).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    pub story_id: String,
    pub recording_id: String,
    pub start_ms: u64,
    /// The segment's text.
    pub text: String,
}
