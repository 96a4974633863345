//! The leads' web page's storage (web/): one-time sign-in links, the project's settings
//! as the page shows them, the filtered and searched story list, one story with its
//! consent history and transcripts, and the transcript search with story titles. Every
//! read of a story goes through the visibility rule (visibility.rs).

use serde_json::Value;
use tellus_protocol::{ConsentEventDoc, ConsentSummary, StoryDocument};

use crate::data::transcripts::{Hit, ShownTranscript};
use crate::error::Result;

/// Stories on one page of the list.
pub const PAGE_SIZE: usize = 50;

/// The list's filters, resolved (None means "any").
#[derive(Debug, Clone, Default)]
pub struct StoryFilter {
    /// The FTS5 expression of the search words (`search::match_expression`).
    pub matching: Option<String>,
    pub reporter: Option<String>,
    pub tag: Option<String>,
    /// Days as YYYY-MM-DD, inclusive.
    pub from: Option<String>,
    pub to: Option<String>,
    /// A consent item key that must be granted, or "withdrawn".
    pub consent: Option<String>,
    /// 1-based; clamped to the pages there are.
    pub page: usize,
}

/// One line of the story list.
pub struct ListedStory {
    pub id: String,
    /// None after a withdrawal (the text is gone).
    pub doc: Option<StoryDocument>,
    pub reporter: String,
    pub consent: ConsentSummary,
    pub withdrawn_at: Option<i64>,
    pub delivered: u32,
    /// Where the search words matched, with \u{2} and \u{3} around each match.
    pub snippet: Option<String>,
}

/// One page of the stories that pass the filters.
pub struct Listing {
    pub stories: Vec<ListedStory>,
    /// How many stories pass the filters in all.
    pub total: usize,
    /// 1-based, clamped to the pages there are.
    pub page: usize,
    pub pages: usize,
}

/// What the story page needs besides the lead's view of the document.
pub struct StoryExtras {
    pub reporter: String,
    pub withdrawn_at: Option<i64>,
    /// The consent events in the order they arrived.
    pub events: Vec<ConsentEventDoc>,
    /// The delivered recordings' transcripts and open flags.
    pub transcripts: Vec<(String, ShownTranscript)>,
}

/// A story as a lead's page shows it.
pub enum LeadStory {
    /// A tombstone: when it was withdrawn.
    Withdrawn { withdrawn_at: Option<i64> },
    Visible {
        doc: Box<StoryDocument>,
        extras: StoryExtras,
    },
}

/// A sign-in link as it is kept: the secret only as a hash, the token only sealed.
#[derive(Debug, Clone)]
pub struct StoredLink {
    pub secret_hash: String,
    pub principal_id: String,
    pub sealed_token: String,
    pub expires_at: i64,
}

pub trait WebPages {
    /// The project's configuration (Null when there is none or it cannot be read).
    fn project_settings(&self, project_id: &str) -> Result<Value>;

    /// The project's stories that pass every filter, one page of them: newest first, or
    /// best match first when searching. Stubs are left out; withdrawn stories appear
    /// as tombstones, which no search, tag or date matches.
    fn list_stories(&self, project_id: &str, filter: &StoryFilter) -> Result<Listing>;

    /// The reporters of the project, for the filter: (id, device label).
    fn project_reporters(&self, project_id: &str) -> Result<Vec<(String, String)>>;

    /// One story for a lead of `project_id`: 404 when hidden or not there.
    fn lead_story_page(&self, project_id: &str, story_id: &str) -> Result<LeadStory>;

    /// The story's line of the export (after the same checks as the document); None
    /// when its consent does not allow exporting it.
    fn lead_story_csv_row(&self, project_id: &str, story_id: &str) -> Result<Option<String>>;

    /// Transcript search hits with their story's title.
    fn titled_transcript_hits(
        &self,
        project_id: &str,
        typed: &str,
        limit: u32,
    ) -> Result<Vec<(String, Hit)>>;

    /// Keeps a new sign-in link, forgetting those expired at `now`.
    fn store_sign_in_link(&self, link: &StoredLink, now: i64) -> Result<()>;

    /// Takes (deletes) the link whose secret hashes to `secret_hash`: its sealed token
    /// and expiry, once.
    fn take_sign_in_link(&self, secret_hash: &str) -> Result<Option<(String, i64)>>;
}
