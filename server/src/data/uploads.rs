//! Uploads and recordings: the state of each tus upload in progress (its offset is what
//! was received and fsynced), and the recordings delivered by completed ones, each with
//! its receipt and its entry in the feed. The spool files and stored audio are `tus`'s
//! and `storage`'s; the decisions are `rules`.

use tellus_protocol::{AudioFormat, Representation};

use crate::error::Result;

#[derive(Debug, Clone)]
pub struct Upload {
    pub id: String,
    pub reporter_id: String,
    pub project_id: String,
    pub story_id: String,
    pub recording_id: String,
    pub sha256: String,
    /// The canonical type of an allowed format (`AudioFormat::content_type`).
    pub content_type: String,
    /// Which copy of the recording this upload carries.
    pub representation: Representation,
    /// The PCM identity the phone declared for a lossless copy.
    pub pcm_sha256: Option<String>,
    /// None until a deferred length is declared.
    pub length: Option<u64>,
    /// Bytes received and fsynced.
    pub offset: u64,
    pub expires_at: i64,
}

/// What a completed upload delivered, verified.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub sha256: String,
    pub bytes: u64,
    pub format: AudioFormat,
    pub pcm_sha256: Option<String>,
    pub at: i64,
}

/// An upload as crash recovery sees it.
#[derive(Debug, Clone)]
pub struct UploadProgress {
    pub id: String,
    pub offset: u64,
    pub expires_at: i64,
}

pub trait Uploads {
    /// Keeps a new upload, if its reporter may upload audio of its story
    /// (`rules::upload_allowed`) and that copy of the recording is not delivered yet
    /// (409 `already_delivered`).
    fn create_upload(&self, upload: &Upload, at: i64) -> Result<()>;

    fn upload(&self, id: &str) -> Result<Option<Upload>>;

    /// Notes what was received; false when the upload no longer exists.
    fn set_upload_offset(&self, id: &str, offset: u64) -> Result<bool>;

    /// Declares a deferred length; false when the upload no longer exists or already
    /// has one.
    fn set_upload_length(&self, id: &str, length: u64) -> Result<bool>;

    /// Forgets an upload (a missing one is fine).
    fn remove_upload(&self, id: &str) -> Result<()>;

    /// The SHA-256 of that copy of a recording, when it is delivered.
    fn delivered_sha256(
        &self,
        recording_id: &str,
        representation: Representation,
    ) -> Result<Option<String>>;

    /// Turns a verified upload into its recording, in one transaction: the receipt, the
    /// feed's entry, the transcription queue, and the upload forgotten. False (nothing
    /// kept) when the upload is gone or its story's consent no longer lets audio be kept
    /// (`rules::may_keep_audio`): a withdrawal won the race.
    fn complete_upload(&self, upload: &Upload, delivery: &Delivery) -> Result<bool>;

    /// Every upload in progress, for crash recovery.
    fn uploads_in_progress(&self) -> Result<Vec<UploadProgress>>;

    /// The uploads that expired by `now`.
    fn expired_uploads(&self, now: i64) -> Result<Vec<String>>;
}
