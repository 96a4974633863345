//! THE rule of what a lead may see of a story, written once (issue 15). Every
//! lead-facing path (the story API, the changes feed, receipts, audio, every export, the
//! web list, search and story page, and so `tellus pull`) asks it:
//!
//! - **visible** while the storyteller's consent grants `record`;
//! - **withdrawn** once they withdrew: a tombstone (the id and when), nothing else;
//! - **hidden** while there is no consent at all: stored, perhaps, but nothing of it
//!   reaches a lead (not its title, not that it exists).
//!
//! The answer is kept per story in `stories.lead_visibility` so that lists filter by it
//! in SQL; it is written only by `record`, which every consent event goes through.

use rusqlite::{Connection, OptionalExtension, params};
use tellus_protocol::{ConsentStatus, ConsentSummary, items};

use crate::error::Result;

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

    fn parse(text: &str) -> Visibility {
        match text {
            "visible" => Visibility::Visible,
            "withdrawn" => Visibility::Withdrawn,
            // Anything unexpected shows nothing.
            _ => Visibility::Hidden,
        }
    }
}

/// Keeps the story's visibility in step with its consent (called with every consent
/// event the server accepts, in the same transaction).
pub fn record(conn: &Connection, story_id: &str, consent: &ConsentSummary) -> Result<()> {
    conn.execute(
        "UPDATE stories SET lead_visibility = ?2 WHERE id = ?1",
        params![story_id, Visibility::of(consent).as_str()],
    )?;
    Ok(())
}

impl Visibility {
    /// What a lead of `project_id` may see of the story; `Hidden` for an unknown story
    /// or another project's.
    pub fn of_story(conn: &Connection, project_id: &str, story_id: &str) -> Result<Visibility> {
        let text: Option<String> = conn
            .query_row(
                "SELECT lead_visibility FROM stories WHERE id = ?1 AND project_id = ?2",
                params![story_id, project_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.map_or(Visibility::Hidden, |t| Visibility::parse(&t)))
    }
}

/// The SQL condition, on a `stories` row aliased `s`, of a story a lead may see in full.
pub const VISIBLE_SQL: &str = "s.lead_visibility = 'visible'";
/// The SQL condition of a story a lead may see at least as a tombstone.
pub const LISTED_SQL: &str = "s.lead_visibility IN ('visible', 'withdrawn')";
