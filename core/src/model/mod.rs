//! The things Tellus keeps: the project's configuration, stories, participants, consent,
//! notes and markers, tags and recordings.

mod capture;
mod consent;
mod ids;
mod note;
mod project;
mod recording;
mod sample;
mod story;
mod timestamp;

pub use capture::{Capture, CaptureEvent, CaptureEventKind, CaptureStats, StopReason};
pub use consent::{
    ConsentDraft, ConsentEvent, ConsentKind, ConsentMethod, ConsentState, ConsentStatus, Identity,
};
pub use ids::{ConsentEventId, NoteId, ParticipantId, RecordingId, StoryId};
pub use note::{NewNote, Note, NoteKind};
pub use project::{
    ConsentForm, ConsentItem, FieldDef, ProjectConfig, Question, UploadPolicy, items,
};
pub use recording::{Recording, RecordingFile, RecordingState};
pub use sample::{SAMPLE_PROJECT_JSON, sample_project};
pub use story::{NewStory, Participant, Story, StoryEdit, StoryStatus, StorySummary};
pub use timestamp::Timestamp;
