use rusqlite::{OptionalExtension, Transaction, params};

use super::rows::{optional_text, parse_enum, parse_json, required_text, to_json};
use super::{Store, project, stories};
use crate::error::Result;
use crate::model::{
    ConsentDraft, ConsentEvent, ConsentEventId, ConsentKind, ConsentState, Identity, ParticipantId,
    StoryId, Timestamp, items,
};

const MAX_NAME: usize = 200;
const MAX_CONTACT: usize = 500;

pub(crate) fn events(tx: &Transaction<'_>, story: StoryId) -> Result<Vec<ConsentEvent>> {
    events_between(tx, story, story)
}

/// The consent events of the stories with ids from `first` to `last` (a page of the
/// story list), by story, each story's in the order they were recorded.
pub(crate) fn events_between(
    tx: &Transaction<'_>,
    first: StoryId,
    last: StoryId,
) -> Result<Vec<ConsentEvent>> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, story_id, participant_id, kind, form_id, form_version, language, text_sha256,
                granted_json, method_json, captured_by, captured_at, erase_audio, code_hash
         FROM consent_events WHERE story_id BETWEEN ?1 AND ?2 ORDER BY story_id, seq",
    )?;
    let rows = stmt.query_map([first, last], |r| {
        Ok(ConsentEvent {
            id: r.get(0)?,
            story_id: r.get(1)?,
            participant_id: r.get(2)?,
            kind: parse_enum(r, 3, ConsentKind::parse)?,
            form_id: r.get(4)?,
            form_version: r.get(5)?,
            language: r.get(6)?,
            text_sha256: r.get(7)?,
            granted: parse_json(r, 8)?,
            method: parse_json(r, 9)?,
            captured_by: r.get(10)?,
            captured_at: r.get(11)?,
            erase_audio: r.get(12)?,
            code_hash: r.get(13)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// What a withdrawal does to the story on this phone, whichever way it came (recorded
/// here, or brought in from the storyteller's portal): the story is no longer ready
/// (given consent again, it starts over as a draft the reporter finishes anew; withdrawn
/// is read from the consent), and the storyteller's code is erased. Audio the withdrawal
/// asks to erase goes at the next `erase_withdrawn_audio`.
pub(super) fn after_withdrawal(tx: &Transaction<'_>, story: StoryId) -> Result<()> {
    tx.execute("UPDATE stories SET status = 'draft' WHERE id = ?1", [story])?;
    super::storyteller_code::forget(tx, story)
}

/// Appends `event` to the story's log (append-only: the triggers refuse the rest).
pub(super) fn insert_event(tx: &Transaction<'_>, event: &ConsentEvent) -> Result<()> {
    tx.execute(
        "INSERT INTO consent_events (id, story_id, participant_id, kind, form_id, form_version,
            language, text_sha256, granted_json, method_json, captured_by, captured_at, erase_audio,
            code_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            event.id,
            event.story_id,
            event.participant_id,
            event.kind.as_str(),
            event.form_id,
            event.form_version,
            event.language,
            event.text_sha256,
            to_json(&event.granted),
            to_json(&event.method),
            event.captured_by,
            event.captured_at,
            event.erase_audio,
            event.code_hash,
        ],
    )?;
    Ok(())
}

pub(super) fn participant_of(tx: &Transaction<'_>, story: StoryId) -> Result<ParticipantId> {
    tx.query_row(
        "SELECT participant_id FROM stories WHERE id = ?1",
        [story],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| stories::not_found(story))
}

/// The storyteller's identity as kept for `story`.
pub(super) fn identity_of(tx: &Transaction<'_>, story: StoryId) -> Result<Identity> {
    load_identity(tx, participant_of(tx, story)?)
}

pub(super) fn load_identity(tx: &Transaction<'_>, participant: ParticipantId) -> Result<Identity> {
    Ok(tx
        .query_row(
            "SELECT name, contact FROM participant_identities WHERE participant_id = ?1",
            [participant],
            |r| {
                Ok(Identity {
                    name: r.get(0)?,
                    contact: r.get(1)?,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

/// Keeps only what `state` allows of `identity`, and stores it (or removes the row).
pub(super) fn save_identity(
    tx: &Transaction<'_>,
    participant: ParticipantId,
    state: &ConsentState,
    mut identity: Identity,
) -> Result<()> {
    if !state.grants(items::CREDIT_BY_NAME) {
        identity.name = None;
    }
    if !state.grants(items::RECONTACT) {
        identity.contact = None;
    }
    if identity.name.is_none() && identity.contact.is_none() {
        tx.execute(
            "DELETE FROM participant_identities WHERE participant_id = ?1",
            [participant],
        )?;
    } else {
        tx.execute(
            "INSERT INTO participant_identities (participant_id, name, contact) VALUES (?1, ?2, ?3)
             ON CONFLICT (participant_id) DO UPDATE SET name = ?2, contact = ?3",
            params![participant, identity.name, identity.contact],
        )?;
    }
    Ok(())
}

fn non_empty(text: Option<&str>, what: &str, max: usize) -> Result<Option<String>> {
    match text {
        None => Ok(None),
        Some(t) => {
            let t = optional_text(what, t, max)?;
            Ok((!t.is_empty()).then_some(t))
        }
    }
}

impl Store {
    /// Whether `draft` would be recorded as it stands, writing nothing: what a consent
    /// screen asks of a half-filled form (the same checks as `record_consent`).
    pub fn check_consent(&self, story: StoryId, draft: &ConsentDraft) -> Result<()> {
        let name = non_empty(draft.name.as_deref(), "a name", MAX_NAME)?;
        let contact = non_empty(draft.contact.as_deref(), "contact details", MAX_CONTACT)?;
        self.read(|tx| {
            let project = project::load(tx)?;
            let participant = participant_of(tx, story)?;
            let before = ConsentState::fold(&events(tx, story)?);
            let kept = load_identity(tx, participant)?;
            before.check_draft(&project, draft, name.is_some() || kept.name.is_some())?;
            // The identity is judged under the consent the draft would leave in force.
            let mut after = before.current.clone();
            after = after.apply(draft);
            crate::model::ConsentState {
                current: after,
                since: None,
            }
            .check_identity(name.as_deref(), contact.as_deref())
        })
    }

    /// Appends one consent event for the story's storyteller, after checking it against
    /// the project's forms and the current consent. A name or contact details offered
    /// with it are kept only if the consent that results grants the matching item; any
    /// kept before are erased as soon as it no longer does.
    pub fn record_consent(&self, story: StoryId, draft: &ConsentDraft) -> Result<ConsentEvent> {
        let captured_by = required_text("who captured the consent", &draft.captured_by, MAX_NAME)?;
        let name = non_empty(draft.name.as_deref(), "a name", MAX_NAME)?;
        let contact = non_empty(draft.contact.as_deref(), "contact details", MAX_CONTACT)?;
        let event = self.write(|tx| {
            let project = project::load(tx)?;
            let participant = participant_of(tx, story)?;
            let before = ConsentState::fold(&events(tx, story)?);
            let kept = load_identity(tx, participant)?;
            let resolved =
                before.check_draft(&project, draft, name.is_some() || kept.name.is_some())?;
            let code_hash = match draft.kind {
                ConsentKind::Withdrawn => None,
                _ => super::storyteller_code::for_consent(tx, story, &project.id)?,
            };
            let event = ConsentEvent {
                id: ConsentEventId::new(),
                story_id: story,
                participant_id: participant,
                kind: draft.kind,
                form_id: resolved.form_id,
                form_version: resolved.form_version,
                language: resolved.language,
                text_sha256: resolved.text_sha256,
                granted: draft.granted.clone(),
                method: draft.method,
                captured_by,
                captured_at: Timestamp::now(),
                erase_audio: draft.erase_audio,
                code_hash,
            };
            let after = before.apply(&event);
            after.check_identity(name.as_deref(), contact.as_deref())?;
            insert_event(tx, &event)?;
            let mut identity = kept;
            identity.name = name.clone().or(identity.name);
            identity.contact = contact.clone().or(identity.contact);
            save_identity(tx, participant, &after, identity)?;
            if draft.kind == ConsentKind::Withdrawn {
                after_withdrawal(tx, story)?;
            }
            // A name or contact kept now goes out with the story: it must still fit. A
            // withdrawal is never refused.
            if draft.kind != ConsentKind::Withdrawn {
                super::limits::check_story(tx, story, &super::limits::load(tx)?)?;
            }
            Ok(event)
        })?;
        self.story_changed(story);
        Ok(event)
    }

    /// Every consent event of the story, oldest first.
    pub fn consent_events(&self, story: StoryId) -> Result<Vec<ConsentEvent>> {
        self.read(|tx| {
            stories::ensure_exists(tx, story)?;
            events(tx, story)
        })
    }

    /// The storyteller's current consent: the fold of their events.
    pub fn consent(&self, story: StoryId) -> Result<ConsentState> {
        Ok(ConsentState::fold(&self.consent_events(story)?))
    }

    /// The storyteller's name and contact details, as far as their consent lets us keep
    /// them.
    pub fn identity(&self, story: StoryId) -> Result<Identity> {
        self.read(|tx| load_identity(tx, participant_of(tx, story)?))
    }
}
