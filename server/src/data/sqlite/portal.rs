//! The portal in SQLite (schema steps 5–7): `storyteller_codes` and
//! `pending_withdrawals`, both keyed by project. `remember` and `take_pending` run
//! inside the transaction of a consent event (routes::stories).

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, params};
use subtle::ConstantTimeEq;
use tellus_protocol::storyteller_code::code_hash;
use tellus_protocol::{ConsentKind, ConsentStatus, ConsentSummary, Representation, items};

use super::SqliteData;
use super::portal_sessions;
use crate::clock::now_ms;
use crate::data::portal::{CodeLookup, Portal, ProjectHash, StoredSession, StorytellerStory};
use crate::error::{Error, Result};
use crate::portal::codes::{MAX_PENDING, PENDING_MS};
use crate::routes::stories::{
    Purge, accept_event, load_consent_events, project_forms, storyteller_event,
};

/// Keeps `hash` as the code of `story_id`, replacing the story's earlier code. A hash
/// that already names another story is refused (409 `code_in_use`): a code opens one
/// story only.
pub fn remember(tx: &Connection, project_id: &str, story_id: &str, hash: &str) -> Result<()> {
    let owner: Option<String> = tx
        .query_row(
            "SELECT story_id FROM storyteller_codes WHERE project_id = ?1 AND code_hash = ?2",
            [project_id, hash],
            |r| r.get(0),
        )
        .optional()?;
    if owner.is_some_and(|o| o != story_id) {
        return Err(Error::conflict(
            "code_in_use",
            "this storyteller's code already belongs to another story; make a new code",
        ));
    }
    tx.execute(
        "DELETE FROM storyteller_codes WHERE story_id = ?1",
        [story_id],
    )?;
    tx.execute(
        "INSERT INTO storyteller_codes (code_hash, story_id, project_id, set_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash, story_id, project_id, now_ms()],
    )?;
    Ok(())
}

/// The story `hash` (the code's hash under `project_id`'s salt) opens in that project,
/// if any. The row is found by the index and its hash then compared in constant time, so
/// nothing of a near miss shows in timing.
pub fn story_of(conn: &Connection, project_id: &str, hash: &str) -> Result<Option<String>> {
    let row: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT code_hash, story_id FROM storyteller_codes WHERE project_id = ?1 AND code_hash = ?2",
        )?
        .query_row([project_id, hash], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.and_then(|(stored, story)| {
        bool::from(stored.as_bytes().ct_eq(hash.as_bytes())).then_some(story)
    }))
}

/// Asks for the withdrawal of the story `hashes` (the code's hash under each project's
/// salt) will name once it arrives in that project. Refused (503 `busy`) when
/// [`MAX_PENDING`] wait already; asking again for the same hash keeps one row (the
/// newest choice about the audio).
pub fn ask_pending(tx: &Connection, hashes: &[ProjectHash], erase_audio: bool) -> Result<()> {
    let now = now_ms();
    tx.execute(
        "DELETE FROM pending_withdrawals WHERE expires_at <= ?1",
        [now],
    )?;
    let waiting: i64 =
        tx.query_row("SELECT COUNT(*) FROM pending_withdrawals", [], |r| r.get(0))?;
    let mut fresh = 0;
    for (project, hash) in hashes {
        let known: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM pending_withdrawals WHERE project_id = ?1 AND code_hash = ?2",
                [project, hash],
                |r| r.get(0),
            )
            .optional()?;
        fresh += i64::from(known.is_none());
    }
    if waiting + fresh > MAX_PENDING {
        return Err(Error::refused(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the server cannot take more requests like this now; try again later",
        ));
    }
    for (project, hash) in hashes {
        tx.execute(
            "INSERT INTO pending_withdrawals (project_id, code_hash, erase_audio, asked_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(project_id, code_hash) DO UPDATE SET erase_audio = ?3, asked_at = ?4, expires_at = ?5",
            params![project, hash, erase_audio, now, now + PENDING_MS],
        )?;
    }
    Ok(())
}

/// The waiting withdrawal for `hash` in `project_id` (or asked for before waiting rows
/// had a project: schema step 7), taken (deleted) so it is applied once: whether the
/// audio is to be erased.
pub fn take_pending(tx: &Connection, project_id: &str, hash: &str) -> Result<Option<bool>> {
    let erase: Option<bool> = tx
        .query_row(
            "SELECT erase_audio FROM pending_withdrawals
             WHERE project_id IN (?1, '') AND code_hash = ?2 AND expires_at > ?3
             ORDER BY asked_at DESC LIMIT 1",
            params![project_id, hash, now_ms()],
            |r| r.get(0),
        )
        .optional()?;
    tx.execute(
        "DELETE FROM pending_withdrawals WHERE project_id IN (?1, '') AND code_hash = ?2",
        [project_id, hash],
    )?;
    Ok(erase)
}

/// Every project's id: a code is looked up under each one's salt.
fn project_ids(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT id FROM projects ORDER BY id")?;
    let ids = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(ids)
}

fn look_up(conn: &Connection, code: &str) -> Result<CodeLookup> {
    let mut found = None;
    let mut hashes = Vec::new();
    for project in project_ids(conn)? {
        let Some(hash) = code_hash(&project, code) else {
            continue;
        };
        let hit = story_of(conn, &project, &hash)?;
        if found.is_none() {
            found = hit.map(|story| (project.clone(), story));
        }
        hashes.push((project, hash));
    }
    Ok(CodeLookup { found, hashes })
}

fn load_view(conn: &Connection, project_id: &str, story_id: &str) -> Result<StorytellerStory> {
    let project_name: String = conn.query_row(
        "SELECT name FROM projects WHERE id = ?1",
        [project_id],
        |r| r.get(0),
    )?;
    let events = load_consent_events(conn, story_id)?;
    let consent = ConsentSummary::fold(&events);
    let form = project_forms(conn, project_id)?.into_iter().find(|f| {
        Some(f.id.as_str()) == consent.form_id.as_deref() && Some(f.version) == consent.form_version
    });
    let recordings = if consent.grants(items::RECORD) {
        let mut stmt = conn.prepare_cached(
            "SELECT id FROM recordings WHERE story_id = ?1 GROUP BY id ORDER BY min(received_at), id",
        )?;
        stmt.query_map([story_id], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?
    } else {
        Vec::new()
    };
    let mut transcribed = Vec::new();
    for id in &recordings {
        if super::transcripts::load(conn, id)?.is_some() {
            transcribed.push(id.clone());
        }
    }
    Ok(StorytellerStory {
        project_name,
        form,
        consent,
        events,
        recordings,
        transcribed,
    })
}

fn narrow(
    tx: &Connection,
    project_id: &str,
    story_id: &str,
    keep: &BTreeSet<String>,
) -> Result<bool> {
    let events = load_consent_events(tx, story_id)?;
    let consent = ConsentSummary::fold(&events);
    let Some(last) = events.last() else {
        return Ok(false);
    };
    // Only what is granted now can stay; `record` always stays (taking it away is a
    // withdrawal, offered apart).
    let granted: BTreeSet<String> = consent
        .granted
        .iter()
        .filter(|k| k.as_str() == items::RECORD || keep.contains(*k))
        .cloned()
        .collect();
    if consent.status != ConsentStatus::Active || granted == consent.granted {
        return Ok(false);
    }
    let event = storyteller_event(last, ConsentKind::Amended, granted, false);
    let text = serde_json::to_string(&event)
        .map_err(|e| Error::internal(format!("cannot serialise consent: {e}")))?;
    accept_event(tx, project_id, story_id, &event, &text)?;
    Ok(true)
}

/// Withdraws the story `story_id` as its storyteller, unless it already is.
fn withdraw_story(
    tx: &Connection,
    project_id: &str,
    story_id: &str,
    erase_audio: bool,
) -> Result<Option<Purge>> {
    let events = load_consent_events(tx, story_id)?;
    let consent = ConsentSummary::fold(&events);
    let Some(last) = events.last() else {
        return Ok(None);
    };
    if consent.status != ConsentStatus::Active {
        return Ok(None);
    }
    let event = storyteller_event(last, ConsentKind::Withdrawn, BTreeSet::new(), erase_audio);
    let text = serde_json::to_string(&event)
        .map_err(|e| Error::internal(format!("cannot serialise consent: {e}")))?;
    let (_, purge) = accept_event(tx, project_id, story_id, &event, &text)?;
    Ok(purge)
}

impl Portal for SqliteData {
    fn find_story_by_code(&self, code: &str) -> Result<CodeLookup> {
        self.db().with(|conn| look_up(conn, code))
    }

    fn storyteller_story(&self, project_id: &str, story_id: &str) -> Result<StorytellerStory> {
        self.db().with(|conn| load_view(conn, project_id, story_id))
    }

    fn narrow_storyteller_consent(
        &self,
        project_id: &str,
        story_id: &str,
        keep: &BTreeSet<String>,
    ) -> Result<bool> {
        self.db().write(|tx| narrow(tx, project_id, story_id, keep))
    }

    fn withdraw_as_storyteller(
        &self,
        project_id: &str,
        story_id: &str,
        erase_audio: bool,
    ) -> Result<Option<Purge>> {
        self.db()
            .write(|tx| withdraw_story(tx, project_id, story_id, erase_audio))
    }

    fn withdraw_by_code(&self, hashes: &[ProjectHash], erase_audio: bool) -> Result<Vec<Purge>> {
        self.db().write(|tx| {
            // The story may have arrived since the code was entered: then it is
            // withdrawn now, and nothing waits (a code opens one story, so a full table
            // of waiting requests can never undo this); otherwise the request waits.
            let mut purges = Vec::new();
            let mut arrived = false;
            let mut waiting = Vec::new();
            for (project_id, hash) in hashes {
                match story_of(tx, project_id, hash)? {
                    Some(story_id) => {
                        arrived = true;
                        purges.extend(withdraw_story(tx, project_id, &story_id, erase_audio)?);
                    }
                    None => waiting.push((project_id.clone(), hash.clone())),
                }
            }
            if !arrived {
                ask_pending(tx, &waiting, erase_audio)?;
            }
            Ok(purges)
        })
    }

    fn open_portal_session(&self, session: &StoredSession, now: i64, most: usize) -> Result<()> {
        self.db()
            .write(|tx| portal_sessions::open(tx, session, now, most))
    }

    fn find_portal_session(&self, id_hash: &str, now: i64) -> Result<Option<StoredSession>> {
        self.db()
            .with(|conn| portal_sessions::find(conn, id_hash, now))
    }

    fn close_portal_session(&self, id_hash: &str) -> Result<()> {
        self.db().write(|tx| portal_sessions::close(tx, id_hash))
    }

    fn storyteller_best_copy(
        &self,
        story_id: &str,
        recording_id: &str,
    ) -> Result<Option<Representation>> {
        let held: Vec<String> = self.db().with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT representation FROM recordings WHERE id = ?1 AND story_id = ?2",
            )?;
            let held = stmt
                .query_map([recording_id, story_id], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(held)
        })?;
        Ok(Representation::ALL
            .into_iter()
            .find(|r| held.iter().any(|h| h == r.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    #[test]
    fn the_best_copy_follows_representation_order_within_the_storytellers_story() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("server.db")).unwrap();
        db.write(|tx| {
            tx.execute_batch(
                "INSERT INTO projects VALUES ('p', 'P', '{}', 0);
                 INSERT INTO stories (id, project_id, reporter_id, revision, updated_at)
                 VALUES ('mine', 'p', 'r', 1, 0), ('other', 'p', 'r', 1, 0);
                 INSERT INTO recordings (id, representation, story_id, project_id, reporter_id, sha256, bytes, content_type, received_at)
                 VALUES ('both', 'listening', 'mine', 'p', 'r', 'a', 1, 'audio/ogg', 1),
                        ('both', 'lossless', 'mine', 'p', 'r', 'b', 1, 'audio/flac', 2),
                        ('small', 'listening', 'mine', 'p', 'r', 'c', 1, 'audio/ogg', 3),
                        ('theirs', 'lossless', 'other', 'p', 'r', 'd', 1, 'audio/wav', 4);",
            )?;
            Ok(())
        })
        .unwrap();
        let data = SqliteData::new(db);
        let best = |recording: &str| data.storyteller_best_copy("mine", recording).unwrap();
        assert_eq!(best("both"), Some(Representation::Lossless));
        assert_eq!(best("small"), Some(Representation::Listening));
        assert_eq!(best("theirs"), None, "another story's recording");
        assert_eq!(best("missing"), None);
    }
}
