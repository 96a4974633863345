//! The storytellers' portal's storage (issue 21, portal/): personal codes' salted
//! hashes, withdrawals waiting for a code the server does not know yet, and what a
//! storyteller sees of and does to their own story. Changes of consent go through the
//! one path a reporter's event takes (`routes::stories::accept_event`).

use std::collections::BTreeSet;

use tellus_protocol::{ConsentEventDoc, ConsentForm, ConsentSummary, Representation};

use crate::error::Result;
pub use crate::portal::codes::ProjectHash;
use crate::routes::stories::Purge;

/// What a code was found to open: the (project, story) if any, and the code's hash
/// under every project's salt.
#[derive(Debug, Clone)]
pub struct CodeLookup {
    pub found: Option<(String, String)>,
    pub hashes: Vec<ProjectHash>,
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

    /// The best copy of a recording of the story that was delivered, in
    /// `Representation::ALL`'s order (lossless, then listening).
    fn storyteller_best_copy(
        &self,
        story_id: &str,
        recording_id: &str,
    ) -> Result<Option<Representation>>;
}
