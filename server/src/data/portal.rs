//! The storytellers' portal's storage (issue 21, portal/): personal codes' salted
//! hashes, withdrawals waiting for a code the server does not know yet, the short
//! sessions a code opens (any replica serves any session), and what a storyteller sees
//! of and does to their own story. Changes of consent go through the
//! one path a reporter's event takes (`routes::stories::accept_event`).

use std::collections::BTreeSet;

use tellus_protocol::{ConsentEventDoc, ConsentForm, ConsentSummary, Representation};

use crate::error::{Error, Result};
pub use crate::portal::codes::ProjectHash;
use crate::routes::stories::Purge;

/// What a code was found to open: the (project, story) if any, and the code's hash
/// under every project's salt.
#[derive(Debug, Clone)]
pub struct CodeLookup {
    pub found: Option<(String, String)>,
    pub hashes: Vec<ProjectHash>,
}

/// What an entered code opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    Story {
        project_id: String,
        story_id: String,
    },
    /// No story (yet): the code's hash in every project, for a withdrawal asked for
    /// before the story arrives.
    Nothing { hashes: Vec<ProjectHash> },
}

/// A portal session as it is kept: the cookie's id only as its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub id_hash: String,
    pub opened: Opened,
    /// The session's CSRF token, sent back in every form.
    pub csrf: String,
    pub expires_at: i64,
}

/// Everything the storyteller's story page shows.
#[derive(Debug, Clone)]
pub struct StorytellerStory {
    pub project_name: String,
    /// The form the consent in force was given on, when the project still has it.
    pub form: Option<ConsentForm>,
    pub consent: ConsentSummary,
    pub events: Vec<ConsentEventDoc>,
    /// Delivered recordings the storyteller may play (none unless `record` is granted).
    pub recordings: Vec<String>,
    /// Those of them that have a transcript (portal/transcript.rs).
    pub transcribed: Vec<String>,
}

pub trait Portal {
    /// The story `code` (normalised) opens, and its hash under every project's salt:
    /// the same work for every code, all hashes made and all looked up.
    fn find_story_by_code(&self, code: &str) -> Result<CodeLookup>;

    /// The storyteller's view of their story.
    fn storyteller_story(&self, project_id: &str, story_id: &str) -> Result<StorytellerStory>;

    /// Narrows the consent in force to what is granted now and in `keep` (`record`
    /// always stays), as a storyteller's `amended` event; false when nothing changed.
    fn narrow_storyteller_consent(
        &self,
        project_id: &str,
        story_id: &str,
        keep: &BTreeSet<String>,
    ) -> Result<bool>;

    /// Withdraws the story as its storyteller, unless it already is; the files to
    /// delete once committed.
    fn withdraw_as_storyteller(
        &self,
        project_id: &str,
        story_id: &str,
        erase_audio: bool,
    ) -> Result<Option<Purge>>;

    /// A withdrawal asked for with a code that opened nothing: the story withdrawn if it
    /// has arrived since, else the request kept waiting for it (503 `busy` when too
    /// many wait).
    fn withdraw_by_code(&self, hashes: &[ProjectHash], erase_audio: bool) -> Result<Vec<Purge>>;

    /// Keeps a new session, forgetting those expired at `now` and, beyond `most - 1`
    /// others, the oldest: at most `most` are kept.
    fn open_portal_session(&self, session: &StoredSession, now: i64, most: usize) -> Result<()>;

    /// The session whose id hashes to `id_hash`, unless it has expired at `now`.
    fn find_portal_session(&self, id_hash: &str, now: i64) -> Result<Option<StoredSession>>;

    /// Forgets the session whose id hashes to `id_hash`.
    fn close_portal_session(&self, id_hash: &str) -> Result<()>;

    /// The best copy of a recording of the story that was delivered, in
    /// `Representation::ALL`'s order (lossless, then listening).
    fn storyteller_best_copy(
        &self,
        story_id: &str,
        recording_id: &str,
    ) -> Result<Option<Representation>>;
}

/// `Opened::Nothing`'s hashes as they are kept (JSON text).
fn hashes_text(hashes: &[ProjectHash]) -> Result<String> {
    serde_json::to_string(hashes)
        .map_err(|e| Error::internal(format!("portal session hashes: {e}")))
}

/// A session's row as both backends read it: project_id, story_id, hashes (JSON text),
/// csrf, expires_at.
pub type SessionRow = (Option<String>, Option<String>, Option<String>, String, i64);

/// The session `id_hash`'s row read back: `Opened` from its story columns, or its
/// hashes' text.
pub fn session_from_row(id_hash: &str, row: SessionRow) -> Result<StoredSession> {
    let (project_id, story_id, hashes, csrf, expires_at) = row;
    let opened = match (project_id, story_id, hashes) {
        (Some(project_id), Some(story_id), None) => Opened::Story {
            project_id,
            story_id,
        },
        (None, None, Some(text)) => Opened::Nothing {
            hashes: serde_json::from_str(&text)
                .map_err(|e| Error::internal(format!("a stored portal session's hashes: {e}")))?,
        },
        _ => {
            return Err(Error::internal(
                "a stored portal session names neither a story nor hashes",
            ));
        }
    };
    Ok(StoredSession {
        id_hash: id_hash.to_string(),
        opened,
        csrf,
        expires_at,
    })
}

/// A session's story columns and hashes' text, as both backends store them.
pub fn opened_columns(opened: &Opened) -> Result<(Option<&str>, Option<&str>, Option<String>)> {
    Ok(match opened {
        Opened::Story {
            project_id,
            story_id,
        } => (Some(project_id.as_str()), Some(story_id.as_str()), None),
        Opened::Nothing { hashes } => (None, None, Some(hashes_text(hashes)?)),
    })
}
