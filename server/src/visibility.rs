//! THE rule of what a lead may see of a story, written once (issue 15). Every
//! lead-facing path (the story API, the changes feed, receipts, audio, every export, the
//! web list, search and story page, and so `tellus pull`) asks it:
//!
//! - **visible** while the storyteller's consent grants `record`;
//! - **withdrawn** once they withdrew: a tombstone (the id and when), nothing else;
//! - **hidden** while there is no consent at all: stored, perhaps, but nothing of it
//!   reaches a lead (not its title, not that it exists).
//!
//! The answer is kept per story beside it so that lists filter by it (in SQLite,
//! `stories.lead_visibility`, data/sqlite/visibility.rs); it is written only with a
//! consent event, on the one path every event goes through (`accept_event`).

use tellus_protocol::{ConsentStatus, ConsentSummary, items};

pub use crate::data::sqlite::visibility::{LISTED_SQL, VISIBLE_SQL};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Visible,
    Withdrawn,
    Hidden,
}

impl Visibility {
    /// The rule.
    pub fn of(consent: &ConsentSummary) -> Visibility {
        match consent.status {
            ConsentStatus::Withdrawn => Visibility::Withdrawn,
            _ if consent.grants(items::RECORD) => Visibility::Visible,
            _ => Visibility::Hidden,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Visible => "visible",
            Visibility::Withdrawn => "withdrawn",
            Visibility::Hidden => "hidden",
        }
    }

    pub fn parse(text: &str) -> Visibility {
        match text {
            "visible" => Visibility::Visible,
            "withdrawn" => Visibility::Withdrawn,
            // Anything unexpected shows nothing.
            _ => Visibility::Hidden,
        }
    }
}
