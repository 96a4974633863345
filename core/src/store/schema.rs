//! The database schema as a ladder of migrations. `PRAGMA user_version` holds the number
//! of steps applied; opening a database climbs the rest of the ladder in one transaction.
//! Never edit a step that has shipped: add a new one.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result};

/// Each entry moves the schema from version `index` to `index + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the foundation: project, participants, stories, consent, notes, tags.
    r#"
    CREATE TABLE project (
        singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
        config_json TEXT NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE TABLE participants (
        id         TEXT PRIMARY KEY,
        label      TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    -- Real names and contact details, apart from the stories. A row exists only while the
    -- storyteller's consent grants the matching item.
    CREATE TABLE participant_identities (
        participant_id TEXT PRIMARY KEY REFERENCES participants(id),
        name           TEXT,
        contact        TEXT,
        CHECK (name IS NOT NULL OR contact IS NOT NULL)
    );
    CREATE TABLE stories (
        id                TEXT PRIMARY KEY,
        participant_id    TEXT NOT NULL REFERENCES participants(id),
        title             TEXT NOT NULL CHECK (length(trim(title)) > 0),
        summary           TEXT NOT NULL DEFAULT '',
        status            TEXT NOT NULL CHECK (status IN ('draft', 'ready')),
        revision          INTEGER NOT NULL DEFAULT 1 CHECK (revision > 0),
        demographics_json TEXT NOT NULL DEFAULT '{}',
        created_at        INTEGER NOT NULL,
        updated_at        INTEGER NOT NULL
    );
    CREATE INDEX stories_participant ON stories(participant_id);
    CREATE TABLE consent_events (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        id             TEXT NOT NULL UNIQUE,
        story_id       TEXT NOT NULL REFERENCES stories(id),
        participant_id TEXT NOT NULL REFERENCES participants(id),
        kind           TEXT NOT NULL CHECK (kind IN ('given', 'amended', 'withdrawn')),
        form_id        TEXT,
        form_version   INTEGER,
        language       TEXT,
        text_sha256    TEXT,
        granted_json   TEXT NOT NULL,
        method_json    TEXT NOT NULL,
        captured_by    TEXT NOT NULL,
        captured_at    INTEGER NOT NULL,
        erase_audio    INTEGER NOT NULL DEFAULT 0 CHECK (erase_audio IN (0, 1))
    );
    CREATE INDEX consent_events_story ON consent_events(story_id, seq);
    -- Consent is append-only: what a storyteller agreed to is never rewritten.
    CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
    BEGIN SELECT RAISE(ABORT, 'consent events are append-only'); END;
    CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
    BEGIN SELECT RAISE(ABORT, 'consent events are append-only'); END;
    CREATE TABLE notes (
        id          TEXT PRIMARY KEY,
        story_id    TEXT NOT NULL REFERENCES stories(id),
        kind        TEXT NOT NULL CHECK (kind IN ('note', 'marker')),
        text        TEXT NOT NULL,
        position_ms INTEGER CHECK (position_ms >= 0),
        question_id TEXT,
        created_at  INTEGER NOT NULL
    );
    CREATE INDEX notes_story ON notes(story_id);
    CREATE TABLE story_tags (
        story_id TEXT NOT NULL REFERENCES stories(id),
        tag      TEXT NOT NULL,
        PRIMARY KEY (story_id, tag)
    ) WITHOUT ROWID;
    "#,
    // 2: recordings, indexed with size and SHA-256; the audio files live beside the database.
    r#"
    CREATE TABLE recordings (
        id          TEXT PRIMARY KEY,
        story_id    TEXT NOT NULL REFERENCES stories(id),
        file_name   TEXT NOT NULL UNIQUE,
        format      TEXT NOT NULL,
        sample_rate INTEGER NOT NULL CHECK (sample_rate > 0),
        channels    INTEGER NOT NULL CHECK (channels > 0),
        frames      INTEGER NOT NULL CHECK (frames >= 0),
        bytes       INTEGER NOT NULL CHECK (bytes >= 0),
        sha256      TEXT NOT NULL CHECK (length(sha256) = 64),
        state       TEXT NOT NULL CHECK (state IN ('complete', 'recovered')),
        created_at  INTEGER NOT NULL
    );
    CREATE INDEX recordings_story ON recordings(story_id);
    "#,
    // 3: recording sessions ("captures"): written when recording starts, so a crash leaves
    // enough to recover the audio under its story; with their statistics and the pause,
    // resume and gap boundaries, as frame offsets into the recording's audio.
    r#"
    CREATE TABLE captures (
        recording_id    TEXT PRIMARY KEY,
        story_id        TEXT NOT NULL REFERENCES stories(id),
        device          TEXT NOT NULL,
        sample_rate     INTEGER NOT NULL CHECK (sample_rate > 0),
        channels        INTEGER NOT NULL CHECK (channels > 0),
        started_at      INTEGER NOT NULL,
        stopped_at      INTEGER,
        stop_reason     TEXT,
        frames_captured INTEGER NOT NULL DEFAULT 0 CHECK (frames_captured >= 0),
        frames_dropped  INTEGER NOT NULL DEFAULT 0 CHECK (frames_dropped >= 0),
        stream_errors   INTEGER NOT NULL DEFAULT 0 CHECK (stream_errors >= 0),
        restarts        INTEGER NOT NULL DEFAULT 0 CHECK (restarts >= 0)
    );
    CREATE INDEX captures_story ON captures(story_id);
    CREATE TABLE capture_events (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        recording_id TEXT NOT NULL REFERENCES captures(recording_id),
        at_frame     INTEGER NOT NULL CHECK (at_frame >= 0),
        kind         TEXT NOT NULL CHECK (kind IN ('pause', 'resume', 'gap')),
        detail       TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX capture_events_recording ON capture_events(recording_id, seq);
    "#,
    // 4: background sync: the enrolment, the settings, and the outbox (what the server
    // has confirmed, the upload URL of each upload in progress, failures and parking).
    r#"
    CREATE TABLE sync_account (
        singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
        server_url   TEXT NOT NULL,
        token        TEXT NOT NULL,
        reporter_id  TEXT NOT NULL,
        project_id   TEXT NOT NULL,
        project_etag TEXT,
        -- Set when the server refused the token (401): sync stops until enrolled again.
        revoked      INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
        enrolled_at  INTEGER NOT NULL
    );
    CREATE TABLE sync_settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    -- One row per thing to deliver: a story document ('document', keyed by story id), a
    -- consent event ('consent', by event id), a recording ('audio', by recording id).
    CREATE TABLE outbox (
        item_id         TEXT PRIMARY KEY,
        kind            TEXT NOT NULL CHECK (kind IN ('document', 'consent', 'audio')),
        story_id        TEXT NOT NULL REFERENCES stories(id),
        state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'parked', 'dropped')),
        attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT,
        -- document: the revision and SHA-256 of the document the server accepted.
        sent_revision   INTEGER,
        sent_sha256     TEXT,
        -- audio: the upload in progress (path on the server), the last offset the server
        -- reported, and the receipt once delivered.
        upload_path     TEXT,
        confirmed_bytes INTEGER NOT NULL DEFAULT 0,
        receipt_json    TEXT,
        local_removed   INTEGER NOT NULL DEFAULT 0 CHECK (local_removed IN (0, 1)),
        updated_at      INTEGER NOT NULL
    );
    CREATE INDEX outbox_story ON outbox(story_id, kind);
    "#,
    // 5: the device token leaves the enrolment row for a table of named secrets, read and
    // written only through the `SecretStore` seam (core/src/sync/secrets.rs). The table
    // holds them when no platform secret store is given (CLI, desktop); with one (Android
    // Keystore, iOS Keychain) they move there and this table stays empty.
    r#"
    CREATE TABLE secrets (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    INSERT INTO secrets (name, value) SELECT 'device_token', token FROM sync_account;
    ALTER TABLE sync_account DROP COLUMN token;
    "#,
    // 6: an upload a sync was cancelled in the middle of stays marked until it moves
    // again, so its story can say "cancelled, n % on the server" (issue 24).
    r#"
    ALTER TABLE outbox ADD COLUMN cancelled INTEGER NOT NULL DEFAULT 0 CHECK (cancelled IN (0, 1));
    "#,
    // 7: the pin of the server's key when the invite carried one (a server with a
    // self-signed certificate, tellus_net::Trust): that key and no other is trusted.
    r#"
    ALTER TABLE sync_account ADD COLUMN server_pin TEXT;
    "#,
    // 8: a withdrawal's erased audio is marked (its row stays, its state reads `erased`),
    // and a withdrawn story keeps no `ready` of its own: once consent is given again it
    // starts over as a draft (issue 15). Audio already deleted for a withdrawal is found
    // by the outbox's note of it.
    r#"
    ALTER TABLE recordings ADD COLUMN erased_at INTEGER;
    UPDATE recordings SET erased_at = (SELECT o.updated_at FROM outbox o WHERE o.item_id = recordings.id)
     WHERE EXISTS (SELECT 1 FROM outbox o WHERE o.item_id = recordings.id AND o.local_removed = 1)
       AND (SELECT c.kind || ':' || c.erase_audio FROM consent_events c
            WHERE c.story_id = recordings.story_id ORDER BY c.seq DESC LIMIT 1) = 'withdrawn:1';
    UPDATE stories SET status = 'draft'
     WHERE (SELECT c.kind FROM consent_events c WHERE c.story_id = stories.id
            ORDER BY c.seq DESC LIMIT 1) = 'withdrawn';
    "#,
    // 9: notes and markers carry the recording their position is in (issue 18). Older
    // notes keep NULL: they are read as positions in the story's first recording.
    r#"
    ALTER TABLE notes ADD COLUMN recording_id TEXT;
    "#,
    // 10: the storyteller's personal code (issue 21), one per story, kept only while the
    // story needs it (store/storyteller_code.rs); the salted hash of it that a consent
    // event carries to the server; and when the server was last asked for consent
    // changes made elsewhere (the storyteller's portal), per story.
    r#"
    CREATE TABLE storyteller_codes (
        story_id   TEXT PRIMARY KEY REFERENCES stories(id),
        code       TEXT NOT NULL CHECK (length(code) = 20),
        created_at INTEGER NOT NULL
    );
    ALTER TABLE consent_events ADD COLUMN code_hash TEXT;
    CREATE TABLE consent_checks (
        story_id   TEXT PRIMARY KEY REFERENCES stories(id),
        checked_at INTEGER NOT NULL
    );
    "#,
    // 11: data saver (issue 20): the files made from each recording, one per
    // representation (lossless: FLAC, or the WAV itself when its upload began before this
    // step; listening: Ogg Opus), each verified before it was recorded here; and the PCM
    // identity of the recorded audio on the recording's own row, which keeps describing
    // the WAV as recorded.
    r#"
    ALTER TABLE recordings ADD COLUMN pcm_sha256 TEXT
        CHECK (pcm_sha256 IS NULL OR length(pcm_sha256) = 64);
    CREATE TABLE recording_files (
        recording_id   TEXT NOT NULL REFERENCES recordings(id),
        representation TEXT NOT NULL CHECK (representation IN ('lossless', 'listening')),
        file_name      TEXT NOT NULL UNIQUE,
        format         TEXT NOT NULL CHECK (format IN ('wav', 'flac', 'opus')),
        bytes          INTEGER NOT NULL CHECK (bytes >= 0),
        sha256         TEXT NOT NULL CHECK (length(sha256) = 64),
        pcm_sha256     TEXT CHECK (pcm_sha256 IS NULL OR length(pcm_sha256) = 64),
        verified_at    INTEGER NOT NULL,
        -- The file was deleted from this device (delivered and removed, freed, erased).
        removed_at     INTEGER,
        PRIMARY KEY (recording_id, representation)
    ) WITHOUT ROWID;
    "#,
];

/// The schema version this build writes.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

pub(crate) fn user_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// Applies the missing steps up to `target` in one IMMEDIATE transaction, so a crash
/// leaves the database at its old version or at the new one, never in between.
pub(crate) fn migrate_to(conn: &mut Connection, target: i64) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = user_version(&tx)?;
    if current > LATEST {
        return Err(Error::NewerSchema {
            path: tx.path().map(Into::into).unwrap_or_default(),
            found: current,
            known: LATEST,
        });
    }
    for (step, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(current as usize)
    {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", step as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use crate::model::{ConsentDraft, NewNote, NewStory, sample_project};

    /// Everything that defines the schema, in a form that does not depend on how a table
    /// was reached (CREATE TABLE text differs after ALTER TABLE, the structure must not).
    fn describe(conn: &Connection) -> Vec<String> {
        let mut out = vec![format!("user_version {}", user_version(conn).unwrap())];
        let mut objects = conn
            .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap();
        let objects: Vec<(String, String, String, Option<String>)> = objects
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for (kind, name, table, sql) in objects {
            out.push(format!("{kind} {name} on {table}"));
            let pragmas: &[&str] = match kind.as_str() {
                "table" => &["table_xinfo", "foreign_key_list", "index_list"],
                "index" => &["index_xinfo"],
                _ => {
                    out.push(format!("  sql {}", sql.unwrap_or_default()));
                    &[]
                }
            };
            for pragma in pragmas {
                let mut stmt = conn
                    .prepare(&format!("SELECT * FROM pragma_{pragma}(?1)"))
                    .unwrap();
                let columns = stmt.column_count();
                let rows: Vec<String> = stmt
                    .query_map([&name], |r| {
                        Ok((0..columns)
                            .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                            .collect::<Vec<_>>()
                            .join(","))
                    })
                    .unwrap()
                    .collect::<rusqlite::Result<_>>()
                    .unwrap();
                for row in rows {
                    out.push(format!("  {pragma} {row}"));
                }
            }
        }
        out
    }

    #[test]
    fn the_first_schema_migrates_to_the_newest_with_its_data() {
        let old = tempfile::tempdir().unwrap();
        let story_id;
        {
            // A database as the first release wrote it, with a story in it.
            let mut conn = Connection::open(old.path().join(crate::store::DATABASE_FILE)).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            migrate_to(&mut conn, 1).unwrap();
            assert_eq!(user_version(&conn).unwrap(), 1);
        }
        {
            // Fill it through the store's own code at version 1: the writes below touch
            // only version-1 tables.
            let mut conn = Connection::open(old.path().join(crate::store::DATABASE_FILE)).unwrap();
            conn.execute(
                "INSERT INTO project (singleton, config_json, updated_at) VALUES (1, ?1, 0)",
                [sample_project().to_json()],
            )
            .unwrap();
            let tx = conn.transaction().unwrap();
            story_id = crate::store::stories::insert(
                &tx,
                &NewStory {
                    title: "Before the upgrade".into(),
                    ..Default::default()
                },
                &tellus_protocol::Limits::default(),
            )
            .unwrap()
            .id;
            tx.commit().unwrap();
        }
        let migrated = Store::open(old.path()).unwrap();
        migrated
            .record_consent(story_id, &{
                let mut d = ConsentDraft::give("storyteller-consent", 1, "en", &["record"]);
                d.captured_by = "r".into();
                d
            })
            .unwrap();
        migrated
            .add_note(story_id, &NewNote::note("after the upgrade", None))
            .unwrap();
        assert_eq!(
            migrated.story(story_id).unwrap().title,
            "Before the upgrade"
        );
        assert!(migrated.recordings(story_id).unwrap().is_empty());
        drop(migrated);

        let fresh = tempfile::tempdir().unwrap();
        drop(Store::open(fresh.path()).unwrap());
        let open = |dir: &std::path::Path| {
            Connection::open(dir.join(crate::store::DATABASE_FILE)).unwrap()
        };
        let (a, b) = (describe(&open(old.path())), describe(&open(fresh.path())));
        assert_eq!(a, b, "a migrated schema must equal a fresh one");
        assert!(a[0].ends_with(&LATEST.to_string()));
    }

    #[test]
    fn the_device_token_moves_from_the_enrolment_row_to_the_secrets_table() {
        let dir = tempfile::tempdir().unwrap();
        {
            // Enrolled by a release that kept the token in `sync_account` (step 4).
            let mut conn = Connection::open(dir.path().join(crate::store::DATABASE_FILE)).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            migrate_to(&mut conn, 4).unwrap();
            conn.execute(
                "INSERT INTO sync_account (singleton, server_url, token, reporter_id, project_id,
                    revoked, enrolled_at) VALUES (1, 'https://x.example', 'tok-123', 'r', 'p', 0, 0)",
                [],
            )
            .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.device_token().unwrap().as_deref(), Some("tok-123"));
        let account = store.sync_account().unwrap().unwrap();
        assert_eq!(account.server_url, "https://x.example");
        assert!(!account.revoked);
        let columns: Vec<String> = store
            .read(|tx| {
                Ok(tx
                    .prepare("SELECT name FROM pragma_table_info('sync_account')")?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .unwrap();
        assert!(!columns.iter().any(|c| c == "token"), "{columns:?}");
    }

    #[test]
    fn a_database_from_a_newer_release_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let path = dir.path().join(crate::store::DATABASE_FILE);
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", LATEST + 5)
            .unwrap();
        let err = Store::open(dir.path()).err().expect("must refuse");
        assert!(matches!(err, Error::NewerSchema { .. }), "{err}");
        assert!(path.exists(), "the newer database must stay where it is");
        let version: i64 = Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, LATEST + 5);
    }
}
