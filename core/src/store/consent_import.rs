//! Consent changes made elsewhere, brought into the phone's log (issue 21): the server
//! answers a story's whole consent log (`GET /api/v1/stories/{id}/consent`), and the
//! events this phone does not have (by id) are appended here, each checked by the one
//! consent engine against the log as it stands, as the server checked it. An event the
//! engine refuses is reported and not applied; the rest of the log stays as it was.
//!
//! An event brought in applies as if recorded here: the identity is kept only while the
//! consent that results grants it, a withdrawal makes the story withdrawn (a draft again,
//! its personal code erased) and its audio is erased when the event asks (the sync does
//! that next, before anything else of the story is sent). Events the server took before
//! one of this phone's own (sent while the phone could not read the log) are left out:
//! the phone's later event followed them there, so both folds agree without them.
//! Consent events recorded here but not yet sent are rebased on what came in (the
//! storyteller's latest decision wins): a withdrawal, and a `given`/`amended` captured
//! after the newest event brought in, are appended again (new id, same content) to be
//! sent after it when the engine accepts them there; the rest are not sent (sending an
//! older change after the storyteller's later word would undo it on the server). The
//! originals stay in the phone's log, marked as not delivered with the reason.

use std::collections::BTreeSet;

use rusqlite::params;
use tellus_protocol::ConsentEventDoc;

use super::{Store, consent, project};
use crate::error::Result;
use crate::model::{
    ConsentEvent, ConsentEventId, ConsentKind, ConsentMethod, ConsentState, ConsentStatus, StoryId,
};

/// Why a consent event recorded here was not sent, once one came in from the server.
pub const SUPERSEDED: &str =
    "not sent: the storyteller changed their consent themself in the meantime, which stands";

/// Why a consent event recorded here was not sent as it was: it goes after the change
/// made elsewhere, as the event named after this.
pub const REBASED: &str =
    "not sent as it was: sent after the storyteller's change made elsewhere, as event";

/// What bringing in a story's consent log did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentImport {
    /// Events appended to the phone's log.
    pub imported: usize,
    /// Events the consent engine refused, with why (not applied).
    pub refused: Vec<String>,
    /// Events the server holds before one of this phone's own, which already followed
    /// them there (not applied: the phone's consent is the server's without them).
    pub superseded: usize,
    /// This phone's unsent events appended again after the events brought in, to be
    /// sent after them.
    pub rebased: usize,
    /// This phone's unsent events not sent: the storyteller's word from elsewhere is
    /// newer, or the engine refuses them after it (`SUPERSEDED`).
    pub dropped: usize,
    /// The story's consent is withdrawn after the events brought in.
    pub withdrawn: bool,
}

fn to_event(doc: &ConsentEventDoc) -> std::result::Result<ConsentEvent, String> {
    let value = serde_json::to_value(doc).map_err(|e| e.to_string())?;
    serde_json::from_value(value).map_err(|e| format!("it does not fit the phone's log: {e}"))
}

/// The outbox state of a consent event not delivered yet (`pending`, `parked`, or
/// `unqueued` when its story is not in the outbox yet); `None` once delivered or dropped.
fn unsent_state(tx: &rusqlite::Transaction<'_>, id: &str) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    let state: Option<String> = tx
        .query_row("SELECT state FROM outbox WHERE item_id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(match state.as_deref() {
        None => Some("unqueued".into()),
        Some("pending" | "parked") => state,
        Some(_) => None,
    })
}

/// Rebases one of this phone's unsent events on the consent `state` brought in from the
/// server (whose newest event was captured at `newest_imported`), as the module says:
/// the event is appended again under a new id, to be sent after what came in, or, when
/// the storyteller's word from elsewhere is newer or the engine refuses it after the
/// change, not sent (`SUPERSEDED`). The original stays in the log, never sent.
fn rebase(
    tx: &rusqlite::Transaction<'_>,
    project: &crate::model::ProjectConfig,
    state: &ConsentState,
    event: &ConsentEvent,
    newest_imported: crate::model::Timestamp,
) -> Result<Option<ConsentEvent>> {
    let id = event.id.to_string();
    let queued = unsent_state(tx, &id)?.as_deref() != Some("unqueued");
    let newer = event.kind == ConsentKind::Withdrawn || event.captured_at > newest_imported;
    let refused = state
        .current
        .check_event(&project.consent_forms, event, None)
        .err()
        .map(|p| p.to_string());
    let copy = match (newer, refused) {
        (true, None) => ConsentEvent {
            id: ConsentEventId::new(),
            ..event.clone()
        },
        (newer, why) => {
            let why =
                why.unwrap_or_else(|| "the storyteller's change made elsewhere is newer".into());
            tracing::warn!(story = %event.story_id, event = %id, newer, %why, "a consent event recorded here is not sent: {SUPERSEDED}");
            mark_not_sent(tx, event, SUPERSEDED)?;
            return Ok(None);
        }
    };
    consent::insert_event(tx, &copy)?;
    mark_not_sent(tx, event, &format!("{REBASED} {}", copy.id))?;
    if queued {
        tx.execute(
            "INSERT INTO outbox (item_id, kind, story_id, state, updated_at)
             VALUES (?1, 'consent', ?2, 'pending', ?3)",
            params![copy.id, copy.story_id, crate::model::Timestamp::now()],
        )?;
    }
    tracing::info!(story = %event.story_id, event = %id, rebased_as = %copy.id, "a consent event recorded here is sent after the change made elsewhere");
    Ok(Some(copy))
}

/// Marks `event`'s outbox row dropped with `reason`, adding one when its story is not in
/// the outbox yet, so that it is never sent.
fn mark_not_sent(tx: &rusqlite::Transaction<'_>, event: &ConsentEvent, reason: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO outbox (item_id, kind, story_id, state, last_error, updated_at)
         VALUES (?1, 'consent', ?2, 'dropped', ?3, ?4)
         ON CONFLICT (item_id) DO UPDATE SET state = 'dropped', last_error = ?3, upload_path = NULL",
        params![event.id, event.story_id, reason, crate::model::Timestamp::now()],
    )?;
    Ok(())
}

/// Whether `id` is already the id of an outbox item or a consent event of any story.
fn id_taken(tx: &rusqlite::Transaction<'_>, id: &str) -> Result<bool> {
    Ok(tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE item_id = ?1)
             OR EXISTS (SELECT 1 FROM consent_events WHERE id = ?1)",
        [id],
        |r| r.get(0),
    )?)
}

impl Store {
    /// Appends the events of `log` (the server's whole consent log of `story`, oldest
    /// first) that this phone does not have, as the module says.
    pub fn import_consent_events(
        &self,
        story: StoryId,
        log: &[ConsentEventDoc],
    ) -> Result<ConsentImport> {
        let outcome = self.write(|tx| {
            let project = project::load(tx)?;
            let participant = consent::participant_of(tx, story)?;
            let local = consent::events(tx, story)?;
            let known: BTreeSet<String> = local.iter().map(|e| e.id.to_string()).collect();
            let on_server: BTreeSet<&str> = log.iter().map(|d| d.id.as_str()).collect();
            // This phone's events the server has not got: what came in is checked
            // against the consent without them (as the server did), and they are
            // rebased on it afterwards.
            let mut unsent = Vec::new();
            for event in &local {
                if !on_server.contains(event.id.to_string().as_str())
                    && unsent_state(tx, &event.id.to_string())?.is_some()
                {
                    unsent.push(event.clone());
                }
            }
            let mut state = ConsentState::fold(
                local
                    .iter()
                    .filter(|e| !unsent.iter().any(|u| u.id == e.id)),
            );
            let mut outcome = ConsentImport::default();
            // Only what follows the last event this phone has counts: an event the server
            // took before one of the phone's own (sent while the phone could not read the
            // log) was already followed there by it, and appending it now would fold to
            // a consent the server does not hold.
            let after_known = log
                .iter()
                .rposition(|d| known.contains(&d.id))
                .map_or(0, |i| i + 1);
            outcome.superseded = log[..after_known]
                .iter()
                .filter(|d| !known.contains(&d.id))
                .count();
            let mut newest_imported = None;
            for doc in &log[after_known..] {
                let event = match to_event(doc) {
                    Ok(event) => event,
                    Err(why) => {
                        outcome.refused.push(format!("event {}: {why}", doc.id));
                        continue;
                    }
                };
                let refusal = if event.story_id != story || event.participant_id != participant {
                    Some("it is of another story or storyteller".to_string())
                } else if id_taken(tx, &doc.id)? {
                    // An id this phone already uses (a story's document, a recording,
                    // another story's consent event): taking it would mark that item
                    // delivered, never to be sent, or fail the story's every sync.
                    Some("its id is already used by something else on this phone".to_string())
                } else if event.method != ConsentMethod::Storyteller {
                    // This phone's own events are known by id; the only other source of
                    // a story's consent is the storyteller on the portal.
                    Some("it is not the storyteller's own change on the portal".to_string())
                } else if let Err(problem) =
                    state
                        .current
                        .check_event(&project.consent_forms, &event, None)
                {
                    Some(problem.to_string())
                } else {
                    state
                        .current
                        .refuses_storyteller_change(&event)
                        .map(str::to_string)
                };
                if let Some(why) = refusal {
                    outcome.refused.push(format!("event {}: {why}", doc.id));
                    continue;
                }
                consent::insert_event(tx, &event)?;
                // Already on the server: never sent back.
                tx.execute(
                    "INSERT INTO outbox (item_id, kind, story_id, state, updated_at)
                     VALUES (?1, 'consent', ?2, 'delivered', ?3)
                     ON CONFLICT (item_id) DO NOTHING",
                    params![event.id, story, crate::model::Timestamp::now()],
                )?;
                newest_imported = newest_imported.max(Some(event.captured_at));
                state = state.apply(&event);
                outcome.imported += 1;
            }
            let Some(newest_imported) = newest_imported else {
                return Ok(outcome);
            };
            for event in &unsent {
                match rebase(tx, &project, &state, event, newest_imported)? {
                    Some(copy) => {
                        state = state.apply(&copy);
                        outcome.rebased += 1;
                    }
                    None => outcome.dropped += 1,
                }
            }
            let identity = consent::load_identity(tx, participant)?;
            consent::save_identity(tx, participant, &state, identity)?;
            if state.status == ConsentStatus::Withdrawn {
                consent::after_withdrawal(tx, story)?;
                outcome.withdrawn = true;
            }
            Ok(outcome)
        })?;
        if outcome.imported > 0 {
            self.story_changed(story);
        }
        Ok(outcome)
    }

    /// Whether the sync should ask the server for `story`'s consent log now: the server
    /// has the story's consent (something of it was delivered), the phone does not hold
    /// it withdrawn, and either something of the story is still to be sent (asked on
    /// every sync, before it is sent), or the phone still keeps the storyteller's code
    /// (the weeks after the interview, when a storyteller with a fresh receipt is most
    /// likely to use it: asked on every sync), or it was last asked more than `sweep_ms`
    /// ago.
    pub(crate) fn consent_check_due(
        &self,
        story: StoryId,
        now_ms: i64,
        sweep_ms: i64,
    ) -> Result<bool> {
        self.read(|tx| {
            Ok(tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE story_id = ?1 AND kind = 'consent'
                                  AND state = 'delivered')
                    AND COALESCE((SELECT kind FROM consent_events WHERE story_id = ?1
                                  ORDER BY seq DESC LIMIT 1), '') != 'withdrawn'
                    AND (EXISTS (SELECT 1 FROM outbox WHERE story_id = ?1
                                   AND state IN ('pending', 'parked'))
                         OR EXISTS (SELECT 1 FROM storyteller_codes WHERE story_id = ?1)
                         OR COALESCE((SELECT checked_at FROM consent_checks WHERE story_id = ?1), 0)
                            <= ?2 - ?3)",
                params![story, now_ms, sweep_ms],
                |r| r.get(0),
            )?)
        })
    }

    /// Notes that the server was asked for `story`'s consent log at `now_ms`.
    pub(crate) fn note_consent_checked(&self, story: StoryId, now_ms: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO consent_checks (story_id, checked_at) VALUES (?1, ?2)
                 ON CONFLICT (story_id) DO UPDATE SET checked_at = ?2",
                params![story, now_ms],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ConsentDraft, ConsentEventId, ConsentKind, NewStory, Timestamp, items, sample_project,
    };
    use crate::sync::documents::consent_event;

    fn store_with_story() -> (tempfile::TempDir, Store, StoryId, Vec<ConsentEventDoc>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.set_project(&sample_project()).unwrap();
        let story = store
            .create_story(&NewStory {
                title: "T".into(),
                ..Default::default()
            })
            .unwrap()
            .id;
        let mut give = ConsentDraft::give(
            "storyteller-consent",
            2,
            "en",
            &[items::RECORD, items::SHARE_PUBLICLY, items::RESEARCH_USE],
        );
        give.captured_by = "R".into();
        let given = store.record_consent(story, &give).unwrap();
        (dir, store, story, vec![consent_event(&given).unwrap()])
    }

    fn by_storyteller(
        after: &ConsentEventDoc,
        kind: ConsentKind,
        granted: &[&str],
    ) -> ConsentEventDoc {
        ConsentEventDoc {
            id: ConsentEventId::new().to_string(),
            kind,
            granted: granted.iter().map(|s| s.to_string()).collect(),
            method: ConsentMethod::Storyteller,
            captured_by: "storyteller".into(),
            captured_at: Timestamp::now().to_string(),
            form_id: None,
            form_version: None,
            language: None,
            text_sha256: None,
            code_hash: None,
            erase_audio: false,
            ..after.clone()
        }
    }

    #[test]
    fn new_events_are_checked_by_the_engine_applied_once_and_never_out_of_order() {
        let (_dir, store, story, mut log) = store_with_story();
        // A storyteller may narrow, never widen.
        let widen = by_storyteller(
            &log[0],
            ConsentKind::Amended,
            &[items::RECORD, items::RECONTACT],
        );
        let out = store
            .import_consent_events(story, &[log[0].clone(), widen])
            .unwrap();
        assert_eq!((out.imported, out.refused.len()), (0, 1), "{out:?}");
        assert!(out.refused[0].contains("never add"), "{out:?}");
        assert_eq!(store.consent_events(story).unwrap().len(), 1);

        let narrow = by_storyteller(
            &log[0],
            ConsentKind::Amended,
            &[items::RECORD, items::RESEARCH_USE],
        );
        log.push(narrow);
        let out = store.import_consent_events(story, &log).unwrap();
        assert_eq!((out.imported, out.withdrawn), (1, false));
        assert!(!store.consent(story).unwrap().grants(items::SHARE_PUBLICLY));
        // The same log again brings nothing.
        assert_eq!(
            store.import_consent_events(story, &log).unwrap().imported,
            0
        );

        // An event the server holds before one of the phone's own is left out.
        let mut amend = ConsentDraft::amend(&[items::RECORD]);
        amend.captured_by = "R".into();
        let ours = consent_event(&store.record_consent(story, &amend).unwrap()).unwrap();
        let theirs = by_storyteller(&log[0], ConsentKind::Withdrawn, &[]);
        let out = store
            .import_consent_events(story, &[log[0].clone(), log[1].clone(), theirs, ours])
            .unwrap();
        assert_eq!((out.imported, out.superseded), (0, 1), "{out:?}");
        assert_eq!(store.consent(story).unwrap().status, ConsentStatus::Active);

        // Another story's event is refused.
        let mut stray = by_storyteller(&log[0], ConsentKind::Withdrawn, &[]);
        stray.story_id = StoryId::new().to_string();
        let mut with_stray = log.clone();
        with_stray.push(consent_event(&store.consent_events(story).unwrap()[2]).unwrap());
        with_stray.push(stray);
        let out = store.import_consent_events(story, &with_stray).unwrap();
        assert_eq!((out.imported, out.refused.len()), (0, 1), "{out:?}");
    }

    fn outbox_state(store: &Store, item: &str) -> Option<String> {
        use rusqlite::OptionalExtension;
        store
            .read(|tx| {
                Ok(tx
                    .query_row(
                        "SELECT kind || ':' || state FROM outbox WHERE item_id = ?1",
                        [item],
                        |r| r.get(0),
                    )
                    .optional()?)
            })
            .unwrap()
    }

    #[test]
    fn an_event_whose_id_is_already_taken_is_refused_and_the_rest_goes_on() {
        let (_dir, store, story, log) = store_with_story();
        // The story's document and a recording waiting to be sent (what `fill_outbox`
        // puts there for a ready story).
        let recording = crate::model::RecordingId::new().to_string();
        store
            .write(|tx| {
                for (item, kind) in [
                    (story.to_string(), "document"),
                    (recording.clone(), "audio"),
                ] {
                    tx.execute(
                        "INSERT INTO outbox (item_id, kind, story_id, state, updated_at)
                         VALUES (?1, ?2, ?3, 'pending', 0)",
                        params![item, kind, story],
                    )?;
                }
                Ok(())
            })
            .unwrap();
        // Another story's consent event.
        let other = store
            .create_story(&NewStory {
                title: "Other".into(),
                ..Default::default()
            })
            .unwrap()
            .id;
        let mut give = ConsentDraft::give("storyteller-consent", 2, "en", &[items::RECORD]);
        give.captured_by = "R".into();
        let others = store.record_consent(other, &give).unwrap().id.to_string();

        let mut incoming = log.clone();
        for taken in [story.to_string(), recording.clone(), others] {
            let mut narrow = by_storyteller(&log[0], ConsentKind::Amended, &[items::RECORD]);
            narrow.id = taken;
            incoming.push(narrow);
        }
        let fine = by_storyteller(
            &log[0],
            ConsentKind::Amended,
            &[items::RECORD, items::RESEARCH_USE],
        );
        incoming.push(fine.clone());
        let out = store.import_consent_events(story, &incoming).unwrap();
        assert_eq!((out.imported, out.refused.len()), (1, 3), "{out:?}");
        assert!(out.refused.iter().all(|r| r.contains("already")), "{out:?}");
        assert_eq!(
            outbox_state(&store, &story.to_string()).as_deref(),
            Some("document:pending"),
            "the story's document is still to be sent"
        );
        assert_eq!(
            outbox_state(&store, &recording).as_deref(),
            Some("audio:pending"),
            "the recording is still to be uploaded"
        );
        let events = store.consent_events(story).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].id.to_string(), fine.id);
        assert_eq!(store.consent_events(other).unwrap().len(), 1);
    }

    /// The store after the given event was delivered (the outbox as a sync leaves it).
    fn delivered(store: &Store, story: StoryId, log: &[ConsentEventDoc]) {
        store
            .write(|tx| {
                tx.execute(
                    "INSERT INTO outbox (item_id, kind, story_id, state, updated_at)
                     VALUES (?1, 'document', ?1, 'delivered', 0)",
                    [story],
                )?;
                for doc in log {
                    tx.execute(
                        "INSERT INTO outbox (item_id, kind, story_id, state, updated_at)
                         VALUES (?1, 'consent', ?2, 'delivered', 0)",
                        params![doc.id, story],
                    )?;
                }
                Ok(())
            })
            .unwrap();
    }

    /// Records `draft` here and queues it, as `fill_outbox` does.
    fn recorded_unsent(store: &Store, story: StoryId, mut draft: ConsentDraft) -> ConsentEvent {
        draft.captured_by = "R".into();
        let event = store.record_consent(story, &draft).unwrap();
        store
            .write(|tx| {
                tx.execute(
                    "INSERT INTO outbox (item_id, kind, story_id, state, updated_at)
                     VALUES (?1, 'consent', ?2, 'pending', 0)",
                    params![event.id, story],
                )?;
                Ok(())
            })
            .unwrap();
        event
    }

    fn pending_consent(store: &Store, story: StoryId) -> Vec<String> {
        store
            .outbox_items(story)
            .unwrap()
            .into_iter()
            .filter(|i| {
                i.kind == crate::sync::ItemKind::Consent
                    && i.state == crate::sync::ItemState::Pending
            })
            .map(|i| i.item_id)
            .collect()
    }

    fn captured(doc: &mut ConsentEventDoc, ms: i64) {
        doc.captured_at = Timestamp::from_millis(ms).to_string();
    }

    #[test]
    fn an_in_person_amendment_newer_than_the_portal_change_is_sent_after_it() {
        let (_dir, store, story, mut log) = store_with_story();
        delivered(&store, story, &log);
        // On the portal, an hour ago, the storyteller stopped public sharing...
        let mut narrow = by_storyteller(
            &log[0],
            ConsentKind::Amended,
            &[items::RECORD, items::RESEARCH_USE],
        );
        captured(&mut narrow, Timestamp::now().as_millis() - 3_600_000);
        log.push(narrow.clone());
        // ...and then, in person, asked the reporter to be recontacted (offline, unsent).
        let mut amend =
            ConsentDraft::amend(&[items::RECORD, items::RESEARCH_USE, items::RECONTACT]);
        amend.contact = Some("amina@example.org".into());
        let ours = recorded_unsent(&store, story, amend);

        let out = store.import_consent_events(story, &log).unwrap();
        assert_eq!(
            (out.imported, out.rebased, out.dropped),
            (1, 1, 0),
            "{out:?}"
        );
        let consent = store.consent(story).unwrap();
        assert!(consent.grants(items::RECONTACT) && !consent.grants(items::SHARE_PUBLICLY));
        assert_eq!(
            store.identity(story).unwrap().contact.as_deref(),
            Some("amina@example.org"),
            "what the reporter typed is kept"
        );
        let events = store.consent_events(story).unwrap();
        let last = events.last().unwrap();
        assert_eq!(
            (last.granted.clone(), last.captured_at),
            (ours.granted.clone(), ours.captured_at)
        );
        assert_eq!(
            pending_consent(&store, story),
            [last.id.to_string()],
            "sent after the portal's change"
        );

        // An unsent amendment older than the storyteller's newest word is not sent.
        let stale = recorded_unsent(
            &store,
            story,
            ConsentDraft::amend(&[items::RECORD, items::SHARE_PUBLICLY]),
        );
        let mut newer = by_storyteller(&log[0], ConsentKind::Amended, &[items::RECORD]);
        captured(&mut newer, stale.captured_at.as_millis() + 60_000);
        // The rebased amendment was delivered meanwhile.
        store.mark_delivered(&last.id.to_string()).unwrap();
        let mut server = log.clone();
        server.push(consent_event(last).unwrap());
        server.push(newer);
        let out = store.import_consent_events(story, &server).unwrap();
        assert_eq!(
            (out.imported, out.rebased, out.dropped),
            (1, 0, 1),
            "{out:?}"
        );
        assert!(!store.consent(story).unwrap().grants(items::SHARE_PUBLICLY));
        assert!(pending_consent(&store, story).is_empty());
        let reason = store
            .outbox_items(story)
            .unwrap()
            .into_iter()
            .find(|i| i.item_id == stale.id.to_string())
            .unwrap();
        assert_eq!(reason.last_error.as_deref(), Some(SUPERSEDED));
    }

    #[test]
    fn an_unsent_withdrawal_is_sent_after_a_portal_narrowing() {
        let (_dir, store, story, mut log) = store_with_story();
        delivered(&store, story, &log);
        let mut narrow = by_storyteller(&log[0], ConsentKind::Amended, &[items::RECORD]);
        // Even a narrowing captured after the withdrawal does not undo it.
        captured(&mut narrow, Timestamp::now().as_millis() + 60_000);
        let withdrawal = recorded_unsent(&store, story, ConsentDraft::withdraw(true));
        log.push(narrow);

        let out = store.import_consent_events(story, &log).unwrap();
        assert_eq!(
            (out.imported, out.rebased, out.dropped, out.withdrawn),
            (1, 1, 0, true),
            "{out:?}"
        );
        assert_eq!(
            store.consent(story).unwrap().status,
            ConsentStatus::Withdrawn
        );
        let events = store.consent_events(story).unwrap();
        let last = events.last().unwrap();
        assert_eq!(
            (last.kind, last.erase_audio),
            (ConsentKind::Withdrawn, true)
        );
        assert_ne!(last.id, withdrawal.id);
        assert_eq!(
            pending_consent(&store, story),
            [last.id.to_string()],
            "the withdrawal still goes to the server"
        );
    }

    #[test]
    fn only_the_storytellers_own_changes_come_in_from_elsewhere() {
        let (_dir, store, story, log) = store_with_story();
        let mut incoming = log.clone();
        for method in [ConsentMethod::AppCheckbox, ConsentMethod::Signed] {
            let mut foreign = by_storyteller(&log[0], ConsentKind::Amended, &[items::RECORD]);
            foreign.method = method;
            foreign.captured_by = "someone".into();
            incoming.push(foreign);
        }
        let mut withdrawal = by_storyteller(&log[0], ConsentKind::Withdrawn, &[]);
        withdrawal.method = ConsentMethod::Verbal { at: 5 };
        incoming.push(withdrawal);
        let narrow = by_storyteller(
            &log[0],
            ConsentKind::Amended,
            &[items::RECORD, items::RESEARCH_USE],
        );
        incoming.push(narrow.clone());
        let out = store.import_consent_events(story, &incoming).unwrap();
        assert_eq!((out.imported, out.refused.len()), (1, 3), "{out:?}");
        assert!(out.refused.iter().all(|r| r.contains("portal")), "{out:?}");
        let events = store.consent_events(story).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].id.to_string(), narrow.id);
        assert_eq!(store.consent(story).unwrap().status, ConsentStatus::Active);
    }
}
