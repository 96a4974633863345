//! The SQLite schema: a migration ladder in `PRAGMA user_version` (append a step, never
//! edit a shipped one), climbed when the database is opened (`Db::open`).

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Each step takes the schema from version N to N+1.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE invites (
    id TEXT PRIMARY KEY,
    code_hash TEXT NOT NULL UNIQUE,
    project_id TEXT REFERENCES projects(id),
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    revoked_at INTEGER
);
-- A device (reporter or lead) or an operator, with its bearer token's SHA-256.
CREATE TABLE principals (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    project_id TEXT REFERENCES projects(id),
    label TEXT NOT NULL,
    invite_id TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
-- document is NULL for a stub (consent arrived first) and after a withdrawal; the
-- real name and contact live apart from the story text, in identity.
CREATE TABLE stories (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    reporter_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    document TEXT,
    identity TEXT,
    withdrawn_at INTEGER,
    updated_at INTEGER NOT NULL
);
CREATE TABLE consent_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    story_id TEXT NOT NULL REFERENCES stories(id),
    body TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX consent_events_story ON consent_events(story_id, seq);
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    reporter_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    recording_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    length INTEGER,
    offset INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX uploads_story ON uploads(story_id);
CREATE TABLE recordings (
    id TEXT PRIMARY KEY,
    story_id TEXT NOT NULL REFERENCES stories(id),
    project_id TEXT NOT NULL,
    reporter_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX recordings_story ON recordings(story_id);
-- The lead feed: every story revision, delivered recording and withdrawal, in order.
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    story_id TEXT NOT NULL,
    recording_id TEXT,
    revision INTEGER,
    sha256 TEXT,
    bytes INTEGER,
    at INTEGER NOT NULL
);
CREATE INDEX changes_project ON changes(project_id, seq);
"#,
    // 2: for the leads' web page: full-text search (FTS5, built into bundled SQLite),
    // one row per story that has text, and the story's date from its document as a
    // column to sort and filter by; both kept in step with PUTs and emptied on
    // withdrawal (see search.rs). Existing stories are indexed here.
    r#"
ALTER TABLE stories ADD COLUMN story_date TEXT;
UPDATE stories SET story_date = json_extract(document, '$.created_at')
WHERE document IS NOT NULL AND json_valid(document);
CREATE INDEX stories_project_date ON stories(project_id, story_date);
CREATE VIRTUAL TABLE story_search USING fts5(
    story_id UNINDEXED,
    title,
    summary,
    notes,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO story_search (story_id, title, summary, notes)
SELECT id,
       coalesce(json_extract(document, '$.title'), ''),
       coalesce(json_extract(document, '$.summary'), ''),
       coalesce((SELECT group_concat(json_extract(n.value, '$.text'), char(10))
                 FROM json_each(document, '$.notes') AS n), '')
FROM stories WHERE document IS NOT NULL AND json_valid(document);
"#,
    // 3: what a lead may see of each story (visibility.rs, issue 15), kept beside it so
    // every list can filter by it. Existing stories get the rule's answer from their
    // latest consent event: a `given` or `amended` event always grants `record` (the
    // server refuses one that does not), a withdrawal leaves a tombstone, and a story
    // with no consent event stays hidden.
    r#"
ALTER TABLE stories ADD COLUMN lead_visibility TEXT NOT NULL DEFAULT 'hidden'
    CHECK (lead_visibility IN ('hidden', 'visible', 'withdrawn'));
UPDATE stories SET lead_visibility = coalesce((
    SELECT CASE json_extract(c.body, '$.kind') WHEN 'withdrawn' THEN 'withdrawn' ELSE 'visible' END
    FROM consent_events c WHERE c.story_id = stories.id ORDER BY c.seq DESC LIMIT 1), 'hidden');
CREATE INDEX stories_project_visibility ON stories(project_id, lead_visibility);
"#,
    // 4: one-time sign-in links for the leads' web page (`tellus lead open`, web/links.rs):
    // the link's secret only as a hash, the lead's token only sealed with the secret.
    r#"
CREATE TABLE web_links (
    secret_hash TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL REFERENCES principals(id),
    sealed_token TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
"#,
    // 5: storytellers' personal codes (issue 21, portal/codes.rs): the salted hash the
    // phone sent with a story's latest `given` or `amended` event carrying one. One code
    // per story (a new one replaces the old, which stops opening the portal); a hash
    // names at most one story.
    r#"
CREATE TABLE storyteller_codes (
    code_hash TEXT PRIMARY KEY,
    story_id TEXT NOT NULL UNIQUE REFERENCES stories(id),
    project_id TEXT NOT NULL,
    set_at INTEGER NOT NULL
);
"#,
    // 6: withdrawals asked for on the portal with a code the server did not know yet
    // (the phone had not synced): applied the moment a consent event with that hash
    // arrives, before any audio is accepted. One row per project's salted hash; bounded
    // and expiring (portal/codes.rs).
    r#"
CREATE TABLE pending_withdrawals (
    code_hash TEXT PRIMARY KEY,
    erase_audio INTEGER NOT NULL,
    asked_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX pending_withdrawals_expiry ON pending_withdrawals(expires_at);
"#,
    // 7: codes and waiting withdrawals are keyed by project: a hash is only ever matched
    // within the project of the event that carries it, so a reporter of another project
    // who learnt a hash can neither squat it (409 for the storyteller's own phone) nor
    // take the withdrawal waiting for it. Waiting rows from before keep project '' (any
    // project, as they were asked for), until they are taken or expire.
    r#"
CREATE TABLE storyteller_codes_by_project (
    project_id TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    story_id TEXT NOT NULL UNIQUE REFERENCES stories(id),
    set_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, code_hash)
);
INSERT INTO storyteller_codes_by_project (project_id, code_hash, story_id, set_at)
    SELECT project_id, code_hash, story_id, set_at FROM storyteller_codes;
DROP TABLE storyteller_codes;
ALTER TABLE storyteller_codes_by_project RENAME TO storyteller_codes;
CREATE TABLE pending_withdrawals_by_project (
    project_id TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    erase_audio INTEGER NOT NULL,
    asked_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, code_hash)
);
INSERT INTO pending_withdrawals_by_project (project_id, code_hash, erase_audio, asked_at, expires_at)
    SELECT '', code_hash, erase_audio, asked_at, expires_at FROM pending_withdrawals;
DROP TABLE pending_withdrawals;
ALTER TABLE pending_withdrawals_by_project RENAME TO pending_withdrawals;
CREATE INDEX pending_withdrawals_expiry ON pending_withdrawals(expires_at);
"#,
    // 8: a recording has representations (issue 20, docs/data-saver.md): the lossless
    // copy (FLAC, or the WAV itself) and a listening copy (Ogg Opus), each its own file,
    // upload, receipt and feed entry. `recordings` is keyed by (id, representation) and
    // keeps the lossless copy's PCM identity; every row delivered before is the lossless
    // copy. Uploads say which representation they carry, and the feed announces it.
    r#"
CREATE TABLE recordings_by_representation (
    id TEXT NOT NULL,
    representation TEXT NOT NULL DEFAULT 'lossless'
        CHECK (representation IN ('lossless', 'listening')),
    story_id TEXT NOT NULL REFERENCES stories(id),
    project_id TEXT NOT NULL,
    reporter_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    pcm_sha256 TEXT,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (id, representation)
);
INSERT INTO recordings_by_representation
    (id, representation, story_id, project_id, reporter_id, sha256, bytes, content_type, received_at)
    SELECT id, 'lossless', story_id, project_id, reporter_id, sha256, bytes, content_type, received_at
    FROM recordings;
DROP TABLE recordings;
ALTER TABLE recordings_by_representation RENAME TO recordings;
CREATE INDEX recordings_story ON recordings(story_id);
ALTER TABLE uploads ADD COLUMN representation TEXT NOT NULL DEFAULT 'lossless';
ALTER TABLE uploads ADD COLUMN pcm_sha256 TEXT;
ALTER TABLE changes ADD COLUMN representation TEXT;
ALTER TABLE changes ADD COLUMN format TEXT;
ALTER TABLE changes ADD COLUMN pcm_sha256 TEXT;
UPDATE changes SET representation = 'lossless',
    format = (SELECT CASE lower(r.content_type)
                  WHEN 'audio/wav' THEN 'wav' WHEN 'audio/flac' THEN 'flac' WHEN 'audio/ogg' THEN 'opus'
              END
              FROM recordings r WHERE r.id = changes.recording_id)
    WHERE kind = 'recording';
"#,
    // 9: transcripts (issue 22, transcripts/): the current text of each recording's
    // transcript and every revision of it, the machine-draft queue (one job per
    // recording, claimed with a lease), storytellers' flags, and a full-text index with
    // one row per segment so that a hit names the moment. All keyed by story too, so a
    // withdrawal forgets them in one statement each.
    r#"
CREATE TABLE transcripts (
    recording_id TEXT PRIMARY KEY,
    story_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    language TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('machine', 'person')),
    revision INTEGER NOT NULL,
    reviewed INTEGER NOT NULL DEFAULT 0,
    segments TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX transcripts_story ON transcripts(story_id);
CREATE TABLE transcript_revisions (
    recording_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    source TEXT NOT NULL,
    segments TEXT NOT NULL,
    saved_by TEXT NOT NULL,
    saved_at INTEGER NOT NULL,
    PRIMARY KEY (recording_id, revision)
);
CREATE INDEX transcript_revisions_story ON transcript_revisions(story_id);
CREATE TABLE transcript_jobs (
    recording_id TEXT PRIMARY KEY,
    story_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before INTEGER NOT NULL,
    claimed_by TEXT,
    lease_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX transcript_jobs_due ON transcript_jobs(state, not_before);
CREATE INDEX transcript_jobs_story ON transcript_jobs(story_id);
CREATE TABLE transcript_flags (
    id TEXT PRIMARY KEY,
    recording_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    segment_start_ms INTEGER NOT NULL,
    suggested TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'accepted', 'rejected')),
    created_at INTEGER NOT NULL,
    decided_at INTEGER
);
CREATE INDEX transcript_flags_story ON transcript_flags(story_id);
CREATE INDEX transcript_flags_open ON transcript_flags(project_id, state);
CREATE VIRTUAL TABLE transcript_search USING fts5(
    recording_id UNINDEXED,
    story_id UNINDEXED,
    start_ms UNINDEXED,
    text,
    tokenize = 'unicode61 remove_diacritics 2'
);
"#,
    // 10: the portal's sessions (portal/session.rs), kept here rather than in one
    // process's memory: the cookie's id only as its hash, what the code opened (a story,
    // or the code's hashes as JSON), the session's CSRF token, and when it closes.
    r#"
CREATE TABLE portal_sessions (
    id_hash TEXT PRIMARY KEY,
    project_id TEXT,
    story_id TEXT,
    hashes TEXT,
    csrf TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX portal_sessions_expiry ON portal_sessions(expires_at);
"#,
];

pub(super) fn migrate(conn: &Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(Error::Config(format!(
            "the database was written by a newer tellus-server (schema {version}, this build knows {known})"
        )));
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {}; COMMIT;",
            step + 1
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    #[test]
    fn opening_again_is_a_no_op_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let db = Db::open(&path).unwrap();
        db.write(|tx| {
            tx.execute(
                "INSERT INTO projects (id, name, config, created_at) VALUES ('p', 'P', '{}', 0)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
        drop(db);
        let db = Db::open(&path).unwrap();
        let count: i64 = db
            .with(|c| Ok(c.query_row("SELECT COUNT(*) FROM projects", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(count, 1, "reopening keeps the data");
        db.with(|c| Ok(c.pragma_update(None, "user_version", 99)?))
            .unwrap();
        drop(db);
        let err = Db::open(&path).err().unwrap();
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[test]
    fn step_seven_keys_codes_and_waiting_withdrawals_by_project_keeping_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let conn = Connection::open(&path).unwrap();
        for step in &MIGRATIONS[..6] {
            conn.execute_batch(step).unwrap();
        }
        let hash = "a".repeat(64);
        conn.execute_batch(&format!(
            "PRAGMA user_version = 6;
             INSERT INTO projects VALUES ('p', 'P', '{{}}', 0);
             INSERT INTO stories (id, project_id, reporter_id, revision, updated_at) VALUES ('s', 'p', 'r', 0, 0);
             INSERT INTO storyteller_codes VALUES ('{hash}', 's', 'p', 5);
             INSERT INTO pending_withdrawals VALUES ('{}', 1, 0, 9000000000000);",
            "b".repeat(64)
        ))
        .unwrap();
        drop(conn);
        let db = Db::open(&path).unwrap();
        db.write(|tx| {
            assert_eq!(
                crate::portal::codes::story_of(tx, "p", &hash)?,
                Some("s".to_string())
            );
            assert_eq!(crate::portal::codes::story_of(tx, "q", &hash)?, None);
            // A withdrawal asked for before step 7 still waits, for any project.
            assert_eq!(
                crate::portal::codes::take_pending(tx, "p", &"b".repeat(64))?,
                Some(true)
            );
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn step_eight_makes_every_delivered_recording_its_lossless_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let conn = Connection::open(&path).unwrap();
        for step in &MIGRATIONS[..7] {
            conn.execute_batch(step).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 7;
             INSERT INTO projects VALUES ('p', 'P', '{}', 0);
             INSERT INTO stories (id, project_id, reporter_id, revision, updated_at) VALUES ('s', 'p', 'r', 0, 0);
             INSERT INTO recordings VALUES ('r1', 's', 'p', 'r', 'aa', 10, 'audio/wav', 5);
             INSERT INTO recordings VALUES ('r2', 's', 'p', 'r', 'bb', 20, 'text/html', 6);
             INSERT INTO changes (project_id, kind, story_id, recording_id, sha256, bytes, at)
                 VALUES ('p', 'recording', 's', 'r1', 'aa', 10, 5);
             INSERT INTO changes (project_id, kind, story_id, revision, at) VALUES ('p', 'story', 's', 1, 4);",
        )
        .unwrap();
        drop(conn);
        let db = Db::open(&path).unwrap();
        let rows: Vec<(String, String, String, Option<String>)> = db
            .with(|c| {
                let mut stmt = c.prepare(
                    "SELECT id, representation, content_type, pcm_sha256 FROM recordings ORDER BY id",
                )?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .unwrap();
        assert_eq!(
            rows,
            [
                ("r1".into(), "lossless".into(), "audio/wav".into(), None),
                ("r2".into(), "lossless".into(), "text/html".into(), None),
            ]
        );
        let feed: Vec<(Option<String>, Option<String>)> = db
            .with(|c| {
                let mut stmt =
                    c.prepare("SELECT representation, format FROM changes ORDER BY seq")?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .unwrap();
        assert_eq!(
            feed,
            [(Some("lossless".into()), Some("wav".into())), (None, None)]
        );
        // The same recording may now hold its listening copy beside it, once.
        db.write(|tx| {
            tx.execute(
                "INSERT INTO recordings (id, representation, story_id, project_id, reporter_id, sha256, bytes, content_type, received_at)
                 VALUES ('r1', 'listening', 's', 'p', 'r', 'cc', 3, 'audio/ogg', 7)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
        let again = db.write(|tx| {
            tx.execute(
                "INSERT INTO recordings (id, representation, story_id, project_id, reporter_id, sha256, bytes, content_type, received_at)
                 VALUES ('r1', 'listening', 's', 'p', 'r', 'dd', 3, 'audio/ogg', 8)",
                [],
            )?;
            Ok(())
        });
        assert!(again.is_err(), "one row per recording and representation");
    }

    #[test]
    fn step_two_indexes_the_stories_a_first_schema_database_already_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            r#"PRAGMA user_version = 1;
            INSERT INTO projects VALUES ('p', 'P', '{}', 0);
            INSERT INTO stories (id, project_id, reporter_id, revision, document, updated_at)
            VALUES ('s1', 'p', 'r', 1, '{"title":"Old story","summary":"kept","created_at":"2026-01-02T03:04:05Z","notes":[{"text":"a kettle"},{"text":"the stairwell"}]}', 0),
                   ('s2', 'p', 'r', 1, NULL, 0);"#,
        )
        .unwrap();
        drop(conn);
        let db = Db::open(&path).unwrap();
        let found = |word: &str| -> Vec<String> {
            db.with(|c| {
                let mut stmt =
                    c.prepare("SELECT story_id FROM story_search WHERE story_search MATCH ?1")?;
                let ids = stmt
                    .query_map([word], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
                Ok(ids)
            })
            .unwrap()
        };
        assert_eq!(found("stairwell"), ["s1"]);
        assert_eq!(found("kettle"), ["s1"]);
        assert_eq!(found("old"), ["s1"]);
        let rows: i64 = db
            .with(|c| Ok(c.query_row("SELECT COUNT(*) FROM story_search", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(rows, 1, "a story without text is not indexed");
        let date: Option<String> = db
            .with(|c| {
                Ok(
                    c.query_row("SELECT story_date FROM stories WHERE id = 's1'", [], |r| {
                        r.get(0)
                    })?,
                )
            })
            .unwrap();
        assert_eq!(date.as_deref(), Some("2026-01-02T03:04:05Z"));
    }

    #[test]
    fn step_three_gives_existing_stories_what_their_consent_lets_a_lead_see() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        conn.execute_batch(
            r#"PRAGMA user_version = 2;
            INSERT INTO projects VALUES ('p', 'P', '{}', 0);
            INSERT INTO stories (id, project_id, reporter_id, revision, document, updated_at)
            VALUES ('none', 'p', 'r', 1, '{"title":"no consent"}', 0),
                   ('given', 'p', 'r', 1, '{"title":"given"}', 0),
                   ('amended', 'p', 'r', 1, '{"title":"amended"}', 0),
                   ('withdrawn', 'p', 'r', 1, NULL, 0),
                   ('again', 'p', 'r', 1, '{"title":"given again"}', 0);
            INSERT INTO consent_events (id, story_id, body, received_at) VALUES
              ('e1', 'given', '{"kind":"given"}', 0),
              ('e2', 'amended', '{"kind":"given"}', 0),
              ('e3', 'amended', '{"kind":"amended"}', 0),
              ('e4', 'withdrawn', '{"kind":"given"}', 0),
              ('e5', 'withdrawn', '{"kind":"withdrawn"}', 0),
              ('e6', 'again', '{"kind":"given"}', 0),
              ('e7', 'again', '{"kind":"withdrawn"}', 0),
              ('e8', 'again', '{"kind":"given"}', 0);"#,
        )
        .unwrap();
        drop(conn);
        let db = Db::open(&path).unwrap();
        let seen = db
            .with(|c| {
                let mut stmt = c.prepare("SELECT id, lead_visibility FROM stories ORDER BY id")?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .unwrap();
        let seen: Vec<(&str, &str)> = seen.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(
            seen,
            [
                ("again", "visible"),
                ("amended", "visible"),
                ("given", "visible"),
                ("none", "hidden"),
                ("withdrawn", "withdrawn"),
            ]
        );
    }
}
