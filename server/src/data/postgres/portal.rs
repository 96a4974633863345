//! The portal on PostgreSQL: `storyteller_codes` and `pending_withdrawals`, both keyed
//! by project. A storyteller's change of consent goes through the one path a reporter's
//! event takes (`consent::accept_event`), which also remembers codes and applies a
//! waiting withdrawal (hooks.rs). For replicas working at once: the story's lock is
//! taken before its consent is read and a new event decided; a code's lock
//! (`lock_code`) before a withdrawal is left waiting for it; the waiting withdrawals
//! are counted and added under one advisory lock, so their bound holds.

use std::collections::BTreeSet;

use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use sqlx_postgres::{PgConnection, Postgres};
use subtle::ConstantTimeEq;
use tellus_protocol::storyteller_code::code_hash;
use tellus_protocol::{ConsentKind, ConsentStatus, ConsentSummary, Representation, items};

use super::PgData;
use super::consent::{load_consent_events as consent_events, project_forms};
use super::portal_sessions;
use super::stories::lock_story;
use crate::clock::now_ms;
use crate::data::portal::{CodeLookup, Portal, ProjectHash, StoredSession, StorytellerStory};
use crate::data::stories::Purge;
use crate::error::{Error, Result};
use crate::portal::codes::{MAX_PENDING, PENDING_MS};
use crate::rules::storyteller_event;

/// The story `hash` (the code's hash under `project_id`'s salt) opens in that project,
/// if any: found by the key, then compared in constant time.
async fn story_of(conn: &mut PgConnection, project_id: &str, hash: &str) -> Result<Option<String>> {
    let row: Option<(String, String)> = query_as::<Postgres, (String, String)>(
        "SELECT code_hash, story_id FROM storyteller_codes WHERE project_id = $1 AND code_hash = $2",
    )
    .bind(project_id)
    .bind(hash)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.and_then(|(stored, story)| {
        bool::from(stored.as_bytes().ct_eq(hash.as_bytes())).then_some(story)
    }))
}

/// Asks for the withdrawal of the story `hashes` will name once it arrives. Refused
/// (503 `busy`) when [`MAX_PENDING`] wait already; asking again for the same hash keeps
/// one row (the newest choice about the audio).
async fn ask_pending(
    conn: &mut PgConnection,
    hashes: &[ProjectHash],
    erase_audio: bool,
) -> Result<()> {
    // One request at a time counts and adds, so the bound holds across replicas.
    query::<Postgres>("SELECT pg_advisory_xact_lock(hashtextextended('pending_withdrawals', 0))")
        .execute(&mut *conn)
        .await?;
    let now = now_ms();
    query::<Postgres>("DELETE FROM pending_withdrawals WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let waiting: i64 = query_scalar::<Postgres, i64>("SELECT COUNT(*) FROM pending_withdrawals")
        .fetch_one(&mut *conn)
        .await?;
    let mut fresh = 0;
    for (project, hash) in hashes {
        let known: Option<i32> = query_scalar::<Postgres, i32>(
            "SELECT 1 FROM pending_withdrawals WHERE project_id = $1 AND code_hash = $2",
        )
        .bind(project)
        .bind(hash)
        .fetch_optional(&mut *conn)
        .await?;
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
        query::<Postgres>(
            "INSERT INTO pending_withdrawals (project_id, code_hash, erase_audio, asked_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (project_id, code_hash) DO UPDATE SET erase_audio = $3, asked_at = $4, expires_at = $5",
        )
        .bind(project)
        .bind(hash)
        .bind(erase_audio)
        .bind(now)
        .bind(now + PENDING_MS)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn look_up(conn: &mut PgConnection, code: &str) -> Result<CodeLookup> {
    let projects: Vec<String> =
        query_scalar::<Postgres, String>("SELECT id FROM projects ORDER BY id")
            .fetch_all(&mut *conn)
            .await?;
    let mut found = None;
    let mut hashes = Vec::new();
    for project in projects {
        let Some(hash) = code_hash(&project, code) else {
            continue;
        };
        let hit = story_of(conn, &project, &hash).await?;
        if found.is_none() {
            found = hit.map(|story| (project.clone(), story));
        }
        hashes.push((project, hash));
    }
    Ok(CodeLookup { found, hashes })
}

async fn load_view(
    conn: &mut PgConnection,
    project_id: &str,
    story_id: &str,
) -> Result<StorytellerStory> {
    let project_name: String =
        query_scalar::<Postgres, String>("SELECT name FROM projects WHERE id = $1")
            .bind(project_id)
            .fetch_one(&mut *conn)
            .await?;
    let events = consent_events(conn, story_id).await?;
    let consent = ConsentSummary::fold(&events);
    let form = project_forms(conn, project_id)
        .await?
        .into_iter()
        .find(|f| {
            Some(f.id.as_str()) == consent.form_id.as_deref()
                && Some(f.version) == consent.form_version
        });
    let recordings = if consent.grants(items::RECORD) {
        query_scalar::<Postgres, String>(
            "SELECT id FROM recordings WHERE story_id = $1 GROUP BY id ORDER BY min(received_at), id",
        )
        .bind(story_id)
        .fetch_all(&mut *conn)
        .await?
    } else {
        Vec::new()
    };
    let mut transcribed = Vec::new();
    for id in &recordings {
        if super::transcripts::load(conn, id).await?.is_some() {
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

/// Takes the story's lock for the rest of the transaction (a consent decision reads
/// the log and appends to it), and reads its consent log (none for another project's).
async fn locked_events(
    conn: &mut PgConnection,
    project_id: &str,
    story_id: &str,
) -> Result<Vec<tellus_protocol::ConsentEventDoc>> {
    lock_story(conn, story_id).await?;
    let exists: Option<String> = query_scalar::<Postgres, String>(
        "SELECT id FROM stories WHERE id = $1 AND project_id = $2",
    )
    .bind(story_id)
    .bind(project_id)
    .fetch_optional(&mut *conn)
    .await?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    consent_events(conn, story_id).await
}

async fn narrow(
    conn: &mut PgConnection,
    project_id: &str,
    story_id: &str,
    keep: &BTreeSet<String>,
) -> Result<bool> {
    let events = locked_events(conn, project_id, story_id).await?;
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
    super::consent::accept_event(conn, project_id, story_id, &event, &text).await?;
    Ok(true)
}

/// Withdraws the story as its storyteller, unless it already is.
async fn withdraw_story(
    conn: &mut PgConnection,
    project_id: &str,
    story_id: &str,
    erase_audio: bool,
) -> Result<Option<Purge>> {
    let events = locked_events(conn, project_id, story_id).await?;
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
    let (_, purge) =
        super::consent::accept_event(conn, project_id, story_id, &event, &text).await?;
    Ok(purge)
}

/// The lock of one code in one project, until the transaction ends. A withdrawal
/// asked for with a code that opens nothing yet takes it before it looks for the story
/// the last time and leaves the request waiting; a consent event carrying the code must
/// take it before it looks for a waiting withdrawal (`hooks::take_pending`), so the
/// story cannot arrive between the look and the wait, unseen by both.
pub async fn lock_code(conn: &mut PgConnection, project_id: &str, hash: &str) -> Result<()> {
    query::<Postgres>(
        "SELECT pg_advisory_xact_lock(hashtextextended('code:' || $1 || ':' || $2, 0))",
    )
    .bind(project_id)
    .bind(hash)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn withdraw_by_code(
    conn: &mut PgConnection,
    hashes: &[ProjectHash],
    erase_audio: bool,
) -> Result<Vec<Purge>> {
    // The story may have arrived since the code was entered: then it is withdrawn now,
    // and nothing waits; otherwise the request waits for it. Looked for once freely
    // (the story's lock comes before the code's, as in a consent event), then again
    // under the codes' locks before waiting.
    for pass in [false, true] {
        let mut purges = Vec::new();
        let mut arrived = false;
        let mut waiting = Vec::new();
        for (project_id, hash) in hashes {
            if pass {
                lock_code(conn, project_id, hash).await?;
            }
            match story_of(conn, project_id, hash).await? {
                Some(story_id) => {
                    arrived = true;
                    purges.extend(withdraw_story(conn, project_id, &story_id, erase_audio).await?);
                }
                None => waiting.push((project_id.clone(), hash.clone())),
            }
        }
        if arrived {
            return Ok(purges);
        }
        if pass {
            ask_pending(conn, &waiting, erase_audio).await?;
        }
    }
    Ok(Vec::new())
}

impl Portal for PgData {
    fn find_story_by_code(&self, code: &str) -> Result<CodeLookup> {
        in_tx!(self, |conn| look_up(conn, code).await?)
    }

    fn storyteller_story(&self, project_id: &str, story_id: &str) -> Result<StorytellerStory> {
        in_tx!(self, |conn| load_view(conn, project_id, story_id).await?)
    }

    fn narrow_storyteller_consent(
        &self,
        project_id: &str,
        story_id: &str,
        keep: &BTreeSet<String>,
    ) -> Result<bool> {
        in_tx!(self, |conn| narrow(conn, project_id, story_id, keep)
            .await?)
    }

    fn withdraw_as_storyteller(
        &self,
        project_id: &str,
        story_id: &str,
        erase_audio: bool,
    ) -> Result<Option<Purge>> {
        in_tx!(self, |conn| withdraw_story(
            conn,
            project_id,
            story_id,
            erase_audio
        )
        .await?)
    }

    fn withdraw_by_code(&self, hashes: &[ProjectHash], erase_audio: bool) -> Result<Vec<Purge>> {
        in_tx!(self, |conn| withdraw_by_code(conn, hashes, erase_audio)
            .await?)
    }

    fn open_portal_session(&self, session: &StoredSession, now: i64, most: usize) -> Result<()> {
        in_tx!(self, |conn| portal_sessions::open(conn, session, now, most)
            .await?)
    }

    fn find_portal_session(&self, id_hash: &str, now: i64) -> Result<Option<StoredSession>> {
        with_conn!(self, |conn| portal_sessions::find(conn, id_hash, now)
            .await?)
    }

    fn close_portal_session(&self, id_hash: &str) -> Result<()> {
        with_conn!(self, |conn| portal_sessions::close(conn, id_hash).await?)
    }

    fn storyteller_best_copy(
        &self,
        story_id: &str,
        recording_id: &str,
    ) -> Result<Option<Representation>> {
        let held: Vec<String> = in_tx!(self, |conn| query_scalar::<Postgres, String>(
            "SELECT representation FROM recordings WHERE id = $1 AND story_id = $2",
        )
        .bind(recording_id)
        .bind(story_id)
        .fetch_all(&mut *conn)
        .await?)?;
        Ok(Representation::ALL
            .into_iter()
            .find(|r| held.iter().any(|h| h == r.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;
    use tellus_protocol::storyteller_code::code_hash;
    use tellus_testkit::consent::consent_event;
    use tellus_testkit::{PROJECT, SAMPLE_PROJECT};

    use super::super::testdb::TestDb;
    use crate::data::Data;
    use crate::data::portal::{Opened, Portal, StoredSession};
    use crate::data::stories::{ConsentPost, Stories};
    use crate::db::Db;
    use crate::visibility::Visibility;

    const CODE: &str = "ABCDE-FGHJK-MNPQR-STVWX";
    const LATER_CODE: &str = "00000-11111-22222-33333";

    fn consent(data: &dyn Data, story: &str, kind: &str, code: Option<&str>) {
        let mut event: Value =
            consent_event(story, kind, &["record", "share_publicly", "research_use"]);
        if let Some(code) = code {
            event["code_hash"] = code_hash(PROJECT, code).expect("a valid code").into();
        }
        let post = ConsentPost {
            project_id: PROJECT.into(),
            reporter_id: "reporter".into(),
            story_id: story.into(),
            event_id: crate::routes::parse_id(event["id"].as_str().unwrap(), "event").unwrap(),
            event: serde_json::from_value(event.clone()).expect("an event"),
            text: event.to_string(),
        };
        data.record_consent(&post).expect("consent kept");
    }

    /// The portal's operations as the portal's routes call them, on either backend.
    fn portal_flow(data: &dyn Data) {
        crate::admin::create_project(data, SAMPLE_PROJECT).expect("project");
        let story = uuid::Uuid::now_v7().to_string();
        consent(data, &story, "given", Some(CODE));

        let lookup = data.find_story_by_code(CODE).unwrap();
        assert_eq!(lookup.found, Some((PROJECT.to_string(), story.clone())));
        assert_eq!(lookup.hashes.len(), 1);
        assert_eq!(data.find_story_by_code(LATER_CODE).unwrap().found, None);

        let view = data.storyteller_story(PROJECT, &story).unwrap();
        assert_eq!(view.events.len(), 1);
        assert!(view.form.is_some(), "the form the consent was given on");
        assert!(view.consent.grants("research_use"));

        let keep: BTreeSet<String> = ["share_publicly".to_string()].into();
        assert!(
            data.narrow_storyteller_consent(PROJECT, &story, &keep)
                .unwrap()
        );
        assert!(
            !data
                .narrow_storyteller_consent(PROJECT, &story, &keep)
                .unwrap(),
            "nothing left to narrow"
        );
        let view = data.storyteller_story(PROJECT, &story).unwrap();
        assert!(!view.consent.grants("research_use") && view.consent.grants("share_publicly"));
        assert_eq!(view.events.len(), 2);

        assert!(
            data.withdraw_as_storyteller(PROJECT, &story, true)
                .unwrap()
                .is_some()
        );
        assert!(
            data.withdraw_as_storyteller(PROJECT, &story, true)
                .unwrap()
                .is_none(),
            "once"
        );
        assert_eq!(
            data.visibility(PROJECT, &story).unwrap(),
            Visibility::Withdrawn
        );

        // A code that opens nothing yet: the withdrawal waits for the story it names, and
        // is applied in the transaction that brings it.
        let hashes = data.find_story_by_code(LATER_CODE).unwrap().hashes;
        assert!(data.withdraw_by_code(&hashes, false).unwrap().is_empty());
        assert!(
            data.withdraw_by_code(&hashes, true).unwrap().is_empty(),
            "asked again: one wait"
        );
        let late = uuid::Uuid::now_v7().to_string();
        consent(data, &late, "given", Some(LATER_CODE));
        assert_eq!(
            data.visibility(PROJECT, &late).unwrap(),
            Visibility::Withdrawn
        );
        // Now the code opens a withdrawn story: nothing to do, nothing waits.
        assert!(data.withdraw_by_code(&hashes, true).unwrap().is_empty());
        assert_eq!(data.storyteller_best_copy(&late, "none").unwrap(), None);
    }

    /// The portal's sessions: found by their id's hash until they expire, closed, the
    /// expired forgotten and the oldest closed beyond the bound, on either backend.
    fn session_flow(data: &dyn Data) {
        let session = |id: &str, opened: Opened, expires_at| StoredSession {
            id_hash: id.into(),
            opened,
            csrf: format!("csrf-{id}"),
            expires_at,
        };
        let story = Opened::Story {
            project_id: PROJECT.into(),
            story_id: "s".into(),
        };
        let nothing = Opened::Nothing {
            hashes: vec![(PROJECT.into(), "h1".into()), ("q".into(), "h2".into())],
        };
        let a = session("a", story.clone(), 2000);
        data.open_portal_session(&a, 1000, 3).unwrap();
        assert_eq!(data.find_portal_session("a", 1999).unwrap(), Some(a));
        assert_eq!(
            data.find_portal_session("a", 2000).unwrap(),
            None,
            "expired"
        );
        assert_eq!(data.find_portal_session("x", 1000).unwrap(), None);
        for (id, expires_at) in [("b", 2001), ("c", 2002)] {
            data.open_portal_session(&session(id, story.clone(), expires_at), 1000, 3)
                .unwrap();
        }
        let d = session("d", nothing, 2003);
        data.open_portal_session(&d, 1000, 3).unwrap();
        assert_eq!(
            data.find_portal_session("d", 1000).unwrap(),
            Some(d),
            "hashes kept"
        );
        assert_eq!(
            data.find_portal_session("a", 1000).unwrap(),
            None,
            "oldest closed"
        );
        assert!(data.find_portal_session("b", 1000).unwrap().is_some());
        // Opening at 2002 forgets b and c (expired), so d stays although the bound is 2.
        data.open_portal_session(&session("e", story, 9000), 2002, 2)
            .unwrap();
        assert!(data.find_portal_session("d", 1000).unwrap().is_some());
        assert_eq!(data.find_portal_session("b", 1000).unwrap(), None, "swept");
        data.close_portal_session("d").unwrap();
        assert_eq!(data.find_portal_session("d", 1000).unwrap(), None, "closed");
        assert!(data.find_portal_session("e", 1000).unwrap().is_some());
    }

    #[test]
    fn the_portal_behaves_alike_on_sqlite_and_postgresql() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = crate::data::SqliteData::new(Db::open(&dir.path().join("server.db")).unwrap());
        portal_flow(&sqlite);
        session_flow(&sqlite);
        let Some(db) = TestDb::start("pg portal") else {
            return;
        };
        portal_flow(&db.data);
        session_flow(&db.data);
        assert_eq!(
            db.text("SELECT COUNT(*)::text FROM pending_withdrawals")
                .as_deref(),
            Some("0")
        );
    }

    #[test]
    fn a_portal_withdrawal_racing_the_story_it_names_is_applied_either_way() {
        let Some(db) = TestDb::start("pg portal race") else {
            return;
        };
        crate::admin::create_project(&db.data as &dyn Data, SAMPLE_PROJECT).expect("project");
        for round in 0..8 {
            let code = format!("{round:05}-ABCDE-FGHJK-MNPQR");
            let story = uuid::Uuid::now_v7().to_string();
            let hashes = db.data.find_story_by_code(&code).unwrap().hashes;
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    db.data
                        .withdraw_by_code(&hashes, true)
                        .expect("withdrawal asked")
                });
                scope.spawn(|| consent(&db.data, &story, "given", Some(&code)));
            });
            assert_eq!(
                db.data.visibility(PROJECT, &story).unwrap(),
                Visibility::Withdrawn,
                "round {round}: the withdrawal was neither applied nor left waiting for nothing"
            );
        }
    }

    #[test]
    fn a_transcript_saved_while_the_story_is_withdrawn_never_outlives_the_withdrawal() {
        use crate::data::transcripts::{Save, Segment, Transcripts};

        let Some(db) = TestDb::start("pg transcript vs withdrawal") else {
            return;
        };
        crate::admin::create_project(&db.data as &dyn Data, SAMPLE_PROJECT).expect("project");
        for round in 0..12 {
            let story = uuid::Uuid::now_v7().to_string();
            let recording = format!("rec-{round}");
            consent(&db.data, &story, "given", None);
            db.exec(&format!(
                "INSERT INTO recordings (id, story_id, project_id, reporter_id, sha256, bytes, content_type, received_at)
                 VALUES ('{recording}', '{story}', '{PROJECT}', 'reporter', 'x', 1, 'audio/flac', 0)"
            ));
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    for base in 0..20 {
                        let save = Save {
                            base_revision: base,
                            segments: vec![Segment {
                                start_ms: 0,
                                end_ms: 900,
                                text: format!("words {base}"),
                                speaker: None,
                            }],
                            language: None,
                            reviewed: None,
                        };
                        // Refused (404) once the story is withdrawn; never an error else.
                        if db
                            .data
                            .save_lead_transcript(PROJECT, &recording, &save, "lead")
                            .is_err()
                        {
                            break;
                        }
                    }
                });
                scope.spawn(|| {
                    db.data
                        .withdraw_as_storyteller(PROJECT, &story, true)
                        .expect("withdrawn")
                });
            });
            let left = db.text(&format!(
                "SELECT ((SELECT COUNT(*) FROM transcripts WHERE story_id = '{story}')
                       + (SELECT COUNT(*) FROM transcript_search WHERE story_id = '{story}')
                       + (SELECT COUNT(*) FROM changes WHERE story_id = '{story}' AND kind = 'transcript'))::text"
            ));
            assert_eq!(
                left.as_deref(),
                Some("0"),
                "round {round}: a transcript outlived the withdrawal"
            );
        }
    }
}
