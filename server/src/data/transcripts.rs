//! Transcripts' storage (issue 22, transcripts/): the current text and revisions of each
//! recording's transcript, the machine-draft queue with its leases, storytellers' flags
//! and the search index. Every lead-facing operation asks the visibility rule itself;
//! merging and checking a save stay pure functions (transcripts::model, ::flags) that
//! each backend calls.

use crate::error::Result;
pub use crate::transcripts::flags::Flag;
pub use crate::transcripts::model::{Save, Saved, Segment, Transcript};
pub use crate::transcripts::queue::Job;
pub use crate::transcripts::search::Hit;

/// A recording's transcript and its open flags, as the leads' story page shows them.
#[derive(Debug, Clone)]
pub struct ShownTranscript {
    pub transcript: Transcript,
    pub flags: Vec<Flag>,
}

/// A decided flag: where its recording is shown (story, recording).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecidedFlag {
    pub story_id: String,
    pub recording_id: String,
}

pub trait Transcripts {
    /// The transcript of a recording of `project_id` whose story a lead may see: 404
    /// (`not_found`) for a recording that is not, 404 `no_transcript` when it has none.
    fn lead_transcript(&self, project_id: &str, recording_id: &str) -> Result<Transcript>;

    /// A person's save of a visible recording's transcript, merged over a newer
    /// revision when the edits touch different segments (model::plan_save).
    fn save_lead_transcript(
        &self,
        project_id: &str,
        recording_id: &str,
        save: &Save,
        by: &str,
    ) -> Result<Saved>;

    /// Segments of the project's visible stories holding every typed word, best first.
    fn search_transcripts(&self, project_id: &str, typed: &str, limit: u32) -> Result<Vec<Hit>>;

    /// A lead accepts (a new revision with the suggestion) or rejects an open flag.
    fn decide_transcript_flag(
        &self,
        project_id: &str,
        flag_id: &str,
        accept: bool,
        by: &str,
    ) -> Result<DecidedFlag>;

    /// The transcript of a recording of the storyteller's own story, while a lead may
    /// see the story (as their audio); 404 otherwise.
    fn storyteller_transcript(
        &self,
        project_id: &str,
        story_id: &str,
        recording_id: &str,
    ) -> Result<Transcript>;

    /// Files the storyteller's suggestion for one passage of their visible transcript.
    /// Returns the flag's id.
    fn suggest_transcript_flag(
        &self,
        project_id: &str,
        story_id: &str,
        recording_id: &str,
        segment_start_ms: u64,
        suggested: &str,
    ) -> Result<String>;

    /// Claims the oldest due job not held by a live lease (transcripts::queue).
    fn claim_transcript_job(&self, worker: &str, now: i64, lease_ms: i64) -> Result<Option<Job>>;

    /// Keeps a draft and closes the job, if `worker` still holds it; whether it was kept.
    fn finish_transcript_job(
        &self,
        worker: &str,
        recording_id: &str,
        language: &str,
        segments: &[Segment],
    ) -> Result<bool>;

    /// Gives a job back after a failed run, to be retried after a growing delay.
    fn fail_transcript_job(
        &self,
        worker: &str,
        recording_id: &str,
        error: &str,
        now: i64,
        retry_ms: i64,
    ) -> Result<()>;

    /// The project of a job `worker` holds, if it does.
    fn held_transcript_job(&self, worker: &str, recording_id: &str) -> Result<Option<String>>;
}
