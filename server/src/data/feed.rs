//! What leads read: the changes feed (every story revision, delivered recording,
//! transcript and withdrawal of a project, in one order), delivered recordings and their
//! receipts, and the CSV export. Only what `visibility` lets a lead see goes out.

use tellus_protocol::{ChangesPage, ExportScope, Representation};

use crate::error::Result;

/// One delivered copy of a recording, as its receipt and its audio are served.
#[derive(Debug, Clone)]
pub struct StoredRecording {
    pub story_id: String,
    pub project_id: String,
    pub reporter_id: String,
    pub sha256: String,
    pub bytes: u64,
    pub content_type: String,
    pub pcm_sha256: Option<String>,
    pub received_at: i64,
}

pub trait Feed {
    /// The project's changes after the cursor `after`, at most `limit`, oldest first:
    /// withdrawals always (tombstones), anything else only about a story a lead may see
    /// now, transcript changes only `with_transcripts`.
    fn changes(
        &self,
        project_id: &str,
        after: i64,
        limit: u32,
        with_transcripts: bool,
    ) -> Result<ChangesPage>;

    /// That copy of a recording, when it is delivered.
    fn recording(
        &self,
        id: &str,
        representation: Representation,
    ) -> Result<Option<StoredRecording>>;

    /// Every story of the project that `scope` allows, as CSV (`export::CSV_HEADER`).
    fn project_csv(&self, project_id: &str, scope: ExportScope) -> Result<String>;
}
