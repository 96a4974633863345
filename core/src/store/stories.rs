use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Transaction, params};

use tellus_protocol::{Limits, TextField};

use super::rows::{parse_enum, parse_json, to_json};
use super::{Store, consent, limits, project};
use crate::error::{Error, Result};
use crate::model::{
    ConsentState, ConsentStatus, NewStory, Participant, ParticipantId, Story, StoryEdit, StoryId,
    StoryStatus, StorySummary, Timestamp, items,
};

/// The most stories one page of the list may hold.
pub const MAX_PAGE: u32 = 500;

pub(super) fn insert(tx: &Transaction<'_>, new: &NewStory, limits: &Limits) -> Result<Story> {
    let title = limits::text(limits, TextField::Title, &new.title, true)?;
    let summary = limits::text(limits, TextField::Summary, &new.summary, false)?;
    let label = limits::text(
        limits,
        TextField::StorytellerLabel,
        &new.storyteller_label,
        false,
    )?;
    let label = if label.is_empty() {
        "Storyteller".to_string()
    } else {
        label
    };
    let now = Timestamp::now();
    let participant = Participant {
        id: ParticipantId::new(),
        label,
        created_at: now,
    };
    tx.execute(
        "INSERT INTO participants (id, label, created_at) VALUES (?1, ?2, ?3)",
        params![participant.id, participant.label, participant.created_at],
    )?;
    let id = StoryId::new();
    tx.execute(
        "INSERT INTO stories (id, participant_id, title, summary, status, revision, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'draft', 1, ?5, ?5)",
        params![id, participant.id, title, summary, now],
    )?;
    Ok(Story {
        id,
        participant,
        title,
        summary,
        status: StoryStatus::Draft,
        revision: 1,
        tags: Vec::new(),
        demographics: BTreeMap::new(),
        consent: ConsentState::default(),
        created_at: now,
        updated_at: now,
    })
}

pub(super) fn load(tx: &Transaction<'_>, id: StoryId) -> Result<Story> {
    let story = tx
        .query_row(
            "SELECT s.id, s.title, s.summary, s.status, s.revision, s.demographics_json,
                    s.created_at, s.updated_at, p.id, p.label, p.created_at
             FROM stories s JOIN participants p ON p.id = s.participant_id
             WHERE s.id = ?1",
            [id],
            |r| {
                Ok(Story {
                    id: r.get(0)?,
                    title: r.get(1)?,
                    summary: r.get(2)?,
                    status: parse_enum(r, 3, StoryStatus::parse)?,
                    revision: r.get(4)?,
                    demographics: parse_json(r, 5)?,
                    created_at: r.get(6)?,
                    updated_at: r.get(7)?,
                    participant: Participant {
                        id: r.get(8)?,
                        label: r.get(9)?,
                        created_at: r.get(10)?,
                    },
                    tags: Vec::new(),
                    consent: ConsentState::default(),
                })
            },
        )
        .optional()?
        .ok_or_else(|| not_found(id))?;
    let mut stmt =
        tx.prepare_cached("SELECT tag FROM story_tags WHERE story_id = ?1 ORDER BY tag")?;
    let tags = stmt
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let consent = ConsentState::fold(&consent::events(tx, id)?);
    let status = if consent.status == ConsentStatus::Withdrawn {
        StoryStatus::Withdrawn
    } else {
        story.status
    };
    Ok(Story {
        tags,
        consent,
        status,
        ..story
    })
}

/// Fails unless the story may take more: after a withdrawal nothing is recorded, noted
/// or marked ready until the storyteller gives consent again.
pub(super) fn ensure_open(tx: &Transaction<'_>, id: StoryId) -> Result<()> {
    ensure_exists(tx, id)?;
    let last: Option<String> = tx
        .query_row(
            "SELECT kind FROM consent_events WHERE story_id = ?1 ORDER BY seq DESC LIMIT 1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    if last.as_deref() == Some("withdrawn") {
        return Err(Error::ConsentRequired(
            "the storyteller withdrew consent for this story; record their consent again before recording, adding notes or marking it ready".into(),
        ));
    }
    Ok(())
}

/// Fails with NotFound unless the story exists.
pub(crate) fn ensure_exists(tx: &Transaction<'_>, id: StoryId) -> Result<()> {
    let found: Option<i64> = tx
        .query_row("SELECT 1 FROM stories WHERE id = ?1", [id], |r| r.get(0))
        .optional()?;
    found.map(|_| ()).ok_or_else(|| not_found(id))
}

pub(super) fn not_found(id: StoryId) -> Error {
    Error::NotFound {
        what: StoryId::WHAT,
        id: id.to_string(),
    }
}

fn touch(tx: &Transaction<'_>, id: StoryId) -> Result<()> {
    tx.execute(
        "UPDATE stories SET revision = revision + 1, updated_at = ?2 WHERE id = ?1",
        params![id, Timestamp::now()],
    )?;
    Ok(())
}

pub(crate) fn list(
    tx: &Transaction<'_>,
    limit: u32,
    before: Option<StoryId>,
) -> Result<Vec<StorySummary>> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(Error::invalid(format!(
            "a page holds from 1 to {MAX_PAGE} stories"
        )));
    }
    // A withdrawn story reads `withdrawn` (its consent says so, not a stored status), and
    // audio erased at the storyteller's request is no recording of it any more.
    const COLUMNS: &str = "SELECT s.id, s.title, p.label,
            CASE (SELECT c.kind FROM consent_events c WHERE c.story_id = s.id
                  ORDER BY c.seq DESC LIMIT 1)
                WHEN 'withdrawn' THEN 'withdrawn' ELSE s.status END,
            s.created_at, s.updated_at,
            (SELECT count(*) FROM notes n WHERE n.story_id = s.id),
            (SELECT count(*) FROM recordings r WHERE r.story_id = s.id AND r.erased_at IS NULL)
         FROM stories s JOIN participants p ON p.id = s.participant_id";
    // Ids are UUIDv7, so id order is creation order and a page is a range of the key.
    let (sql, cursor) = match before {
        Some(id) => (
            format!("{COLUMNS} WHERE s.id < ?1 ORDER BY s.id DESC LIMIT ?2"),
            Some(id),
        ),
        None => (
            format!("{COLUMNS} WHERE ?1 IS NULL ORDER BY s.id DESC LIMIT ?2"),
            None,
        ),
    };
    let mut stmt = tx.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![cursor, limit], |r| {
        Ok(StorySummary {
            id: r.get(0)?,
            title: r.get(1)?,
            storyteller_label: r.get(2)?,
            status: parse_enum(r, 3, StoryStatus::parse)?,
            created_at: r.get(4)?,
            updated_at: r.get(5)?,
            note_count: r.get(6)?,
            recording_count: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

impl Store {
    /// Creates a draft story with its storyteller.
    pub fn create_story(&self, new: &NewStory) -> Result<Story> {
        let story = self.write(|tx| {
            // A story only exists inside a project.
            let limits = limits::load(tx)?;
            let story = insert(tx, new, &limits)?;
            limits::check_story(tx, story.id, &limits)?;
            Ok(story)
        })?;
        self.story_changed(story.id);
        Ok(story)
    }

    /// The story with its storyteller, tags and current consent.
    pub fn story(&self, id: StoryId) -> Result<Story> {
        self.read(|tx| load(tx, id))
    }

    /// Up to `limit` stories, newest first, older than `before` when given.
    pub fn list_stories(&self, limit: u32, before: Option<StoryId>) -> Result<Vec<StorySummary>> {
        self.read(|tx| list(tx, limit, before))
    }

    pub fn count_stories(&self) -> Result<i64> {
        self.read(|tx| Ok(tx.query_row("SELECT count(*) FROM stories", [], |r| r.get(0))?))
    }

    pub fn edit_story(&self, id: StoryId, edit: &StoryEdit) -> Result<Story> {
        let story = self.write(|tx| {
            let limits = limits::load(tx)?;
            let project = project::load(tx)?;
            let mut story = load(tx, id)?;
            if let Some(title) = &edit.title {
                story.title = limits::text(&limits, TextField::Title, title, true)?;
            }
            if let Some(summary) = &edit.summary {
                story.summary = limits::text(&limits, TextField::Summary, summary, false)?;
            }
            for (key, value) in &edit.demographics {
                let key = limits::text(&limits, TextField::FieldName, key, true)?;
                match value {
                    Some(value) => {
                        let value = limits::text(&limits, TextField::FieldValue, value, true)?;
                        project.check_field(&key, &value).map_err(Error::invalid)?;
                        story.demographics.insert(key, value);
                    }
                    None => {
                        story.demographics.remove(&key);
                    }
                }
            }
            tx.execute(
                "UPDATE stories SET title = ?2, summary = ?3, demographics_json = ?4 WHERE id = ?1",
                params![id, story.title, story.summary, to_json(&story.demographics)],
            )?;
            touch(tx, id)?;
            limits::check_story(tx, id, &limits)?;
            load(tx, id)
        })?;
        self.story_changed(id);
        Ok(story)
    }

    /// Fails with one clear line when the story may take nothing more (its storyteller
    /// withdrew): what a recorder asks before it opens a microphone.
    pub fn ensure_story_open(&self, id: StoryId) -> Result<()> {
        self.read(|tx| ensure_open(tx, id))
    }

    /// Marks a story finished and deliverable. Refused unless the storyteller's current
    /// consent grants `record`.
    pub fn mark_ready(&self, id: StoryId) -> Result<Story> {
        let story = self.write(|tx| {
            ensure_open(tx, id)?;
            let story = load(tx, id)?;
            if !story.consent.grants(items::RECORD) {
                return Err(Error::ConsentRequired(format!(
                    "this story cannot be marked ready: the storyteller has not granted '{}'",
                    items::RECORD
                )));
            }
            if story.status == StoryStatus::Ready {
                return Ok(story);
            }
            tx.execute("UPDATE stories SET status = 'ready' WHERE id = ?1", [id])?;
            touch(tx, id)?;
            load(tx, id)
        })?;
        self.story_changed(id);
        Ok(story)
    }

    /// Adds theme tags from the project's vocabulary; tags already there are kept once.
    pub fn add_tags(&self, id: StoryId, tags: &[String]) -> Result<Story> {
        let story = self.write(|tx| {
            let project = project::load(tx)?;
            ensure_exists(tx, id)?;
            if tags.is_empty() {
                return Err(Error::invalid("name at least one tag"));
            }
            let mut added = 0;
            for tag in tags {
                let tag = tag.trim();
                if !project.has_tag(tag) {
                    return Err(Error::invalid(format!(
                        "'{tag}' is not one of this project's tags ({})",
                        project.tags.join(", ")
                    )));
                }
                added += tx.execute(
                    "INSERT OR IGNORE INTO story_tags (story_id, tag) VALUES (?1, ?2)",
                    params![id, tag],
                )?;
            }
            if added > 0 {
                touch(tx, id)?;
                limits::check_story(tx, id, &project.limits)?;
            }
            load(tx, id)
        })?;
        self.story_changed(id);
        Ok(story)
    }
}
