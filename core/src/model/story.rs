use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ConsentState, ParticipantId, StoryId, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoryStatus {
    /// Being recorded or written up; stays on the phone.
    Draft,
    /// Finished by the reporter, with `record` consent: may be delivered.
    Ready,
    /// The storyteller withdrew consent: nothing may be added or delivered until they
    /// give it again (then the story starts over as a draft). Never stored: read from
    /// the consent.
    Withdrawn,
}

impl StoryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StoryStatus::Draft => "draft",
            StoryStatus::Ready => "ready",
            StoryStatus::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "draft" => Some(StoryStatus::Draft),
            "ready" => Some(StoryStatus::Ready),
            "withdrawn" => Some(StoryStatus::Withdrawn),
            _ => None,
        }
    }
}

/// The storyteller. Only a label the reporter chooses ("Participant 3", a first name)
/// lives here; a real name and contact details live apart, in `Identity`, and only while
/// the storyteller's consent allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub id: ParticipantId,
    pub label: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Story {
    pub id: StoryId,
    pub participant: Participant,
    pub title: String,
    pub summary: String,
    pub status: StoryStatus,
    /// Bumped on every change; the server refuses an older revision.
    pub revision: u32,
    pub tags: Vec<String>,
    /// The project's fields this story fills in ("age_band" → "25-34").
    pub demographics: BTreeMap<String, String>,
    pub consent: ConsentState,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A line of the story list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorySummary {
    pub id: StoryId,
    pub title: String,
    pub storyteller_label: String,
    pub status: StoryStatus,
    pub note_count: u32,
    pub recording_count: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewStory {
    pub title: String,
    pub summary: String,
    /// A label for the storyteller; "Storyteller" when empty.
    pub storyteller_label: String,
}

/// Changes to a story; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoryEdit {
    pub title: Option<String>,
    pub summary: Option<String>,
    /// Set (Some) or remove (None) each key.
    pub demographics: BTreeMap<String, Option<String>>,
}
