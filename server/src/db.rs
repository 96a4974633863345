//! The server's SQLite database: one connection behind a mutex, used from blocking
//! threads. Writes are short IMMEDIATE transactions; the schema is a migration ladder in
//! `PRAGMA user_version` (append a step, never edit a shipped one).

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::{Error, Result};

/// Each step takes the schema from version N to N+1.
const MIGRATIONS: &[&str] = &[r#"
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
"#];

#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    pub fn open(path: &Path) -> Result<Db> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "temp_store", 2)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        migrate(&conn)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on this thread (for the CLI and blocking code).
    pub fn with<R>(&self, f: impl FnOnce(&mut Connection) -> Result<R>) -> Result<R> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| Error::Config("the database lock was poisoned".into()))?;
        f(&mut conn)
    }

    /// Runs `f` in one IMMEDIATE transaction, committed when it returns Ok.
    pub fn write<R>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<R>) -> Result<R> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let db = self.clone();
        blocking(move || db.with(f)).await
    }

    /// Runs `f` in one IMMEDIATE transaction on a blocking thread.
    pub async fn call_write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let db = self.clone();
        blocking(move || db.write(f)).await
    }
}

/// Runs blocking work (SQLite, file hashing, fsync) off the async threads.
pub async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R> + Send + 'static,
) -> Result<R> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Config(format!("a blocking task failed: {e}")))?
}

fn migrate(conn: &Connection) -> Result<()> {
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
}
