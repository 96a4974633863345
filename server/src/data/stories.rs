//! Stories and consent: story documents (with the real name and contact kept apart),
//! the append-only consent log, what a lead may see of each story, and withdrawals. The
//! decisions are `rules` and `visibility`; a backend applies them in one transaction.

use tellus_protocol::{ConsentAccepted, ConsentEventDoc, IdentityDoc, StoryDocument};

use crate::error::Result;
use crate::visibility::Visibility;

/// A story as the server keeps it (`document` is None for a stub, made when consent
/// arrived first, and after a withdrawal).
#[derive(Debug, Clone)]
pub struct StoryRow {
    pub project_id: String,
    pub reporter_id: String,
    pub revision: u32,
    pub document: Option<String>,
    pub identity: Option<String>,
}

/// A reporter's story document, as `put_story` stores it.
#[derive(Debug, Clone)]
pub struct StoryPut {
    pub project_id: String,
    pub reporter_id: String,
    /// The document without its identity and consent, as JSON text and as read.
    pub document: StoryDocument,
    pub text: String,
    /// The real name and contact, kept apart from the text.
    pub identity: IdentityDoc,
}

/// A reporter's consent event, as `record_consent` keeps it.
#[derive(Debug, Clone)]
pub struct ConsentPost {
    pub project_id: String,
    pub reporter_id: String,
    pub story_id: String,
    /// The event's id in its canonical form (`routes::parse_id`).
    pub event_id: String,
    pub event: ConsentEventDoc,
    /// The event as JSON text, stored as it is.
    pub text: String,
}

/// Files to delete once a withdrawal is committed (`Purge::run`).
#[derive(Debug, Default)]
pub struct Purge {
    /// Storage keys of every copy of every recording (`storage::key`).
    pub recordings: Vec<String>,
    /// Uploads in progress (their spool files and locks).
    pub uploads: Vec<String>,
}

pub trait Stories {
    /// The whole consent log of a reporter's own story, in the order it arrived; None
    /// for an unknown story and for another reporter's.
    fn owned_consent_log(
        &self,
        project_id: &str,
        reporter_id: &str,
        story_id: &str,
    ) -> Result<Option<Vec<ConsentEventDoc>>>;

    /// Stores a revision of a reporter's story (`rules::story_write`), reindexes its
    /// text and announces it in the feed.
    fn put_story(&self, put: &StoryPut) -> Result<()>;

    /// Keeps a reporter's consent event (a stub story when it comes first; a retry is
    /// answered again, `rules::consent_retry`) through the one path every event takes.
    /// On withdrawal, returns what to delete once committed.
    fn record_consent(&self, post: &ConsentPost) -> Result<(ConsentAccepted, Option<Purge>)>;

    /// A story of `project_id` as a lead sees it: the document with the server's view of
    /// consent, delivered flags on recordings, and the real name and contact only as
    /// that consent allows now. 404 for another project's story, 410 after a withdrawal.
    fn lead_story(&self, project_id: &str, story_id: &str) -> Result<StoryDocument>;

    /// What a lead of `project_id` may see of the story; `Hidden` for an unknown story
    /// or another project's.
    fn visibility(&self, project_id: &str, story_id: &str) -> Result<Visibility>;
}
