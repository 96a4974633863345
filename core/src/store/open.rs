//! Opening the database: pragmas, migrations, and moving a damaged file aside.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use serde::Serialize;

use super::{DATABASE_FILE, RECORDINGS_DIR, schema};
use crate::error::{Error, Result};
use crate::model::Timestamp;

/// What opening the store found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OpenReport {
    /// The database could not be read and was moved here; a new one was created.
    pub damaged_database_moved_to: Option<PathBuf>,
    /// Why it could not be read.
    pub damage: Option<String>,
    /// The database did not exist and was created.
    pub created: bool,
    /// Recordings a crash interrupted, repaired and indexed as recovered.
    pub recovered_recordings: Vec<crate::audio::RecoveredRecording>,
    /// Unfinished recordings that held no audio; their empty files were removed.
    pub discarded_empty_recordings: Vec<crate::audio::DiscardedRecording>,
    /// Files in the recordings folder that are damaged or not ours, left in place.
    pub audio_problems: Vec<crate::audio::AudioFileProblem>,
}

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn open_writer(dir: &Path) -> Result<(Connection, OpenReport)> {
    std::fs::create_dir_all(dir.join(RECORDINGS_DIR)).map_err(|e| {
        Error::io(
            format!("cannot create the data folder {}", dir.display()),
            e,
        )
    })?;
    let path = dir.join(DATABASE_FILE);
    let mut report = OpenReport {
        created: !path.exists(),
        ..OpenReport::default()
    };
    match try_open_writer(&path) {
        Ok(conn) => Ok((conn, report)),
        Err(Opening::Failed(e)) => Err(unwritable_folder(dir).unwrap_or(e)),
        Err(Opening::Damaged(why)) => {
            let moved_to = move_aside(&path)?;
            tracing::warn!(moved_to = %moved_to.display(), reason = %why, "the database could not be read; moved aside, a new one created");
            report.damaged_database_moved_to = Some(moved_to);
            report.damage = Some(why);
            report.created = true;
            match try_open_writer(&path) {
                Ok(conn) => Ok((conn, report)),
                Err(Opening::Failed(e)) => Err(e),
                Err(Opening::Damaged(why)) => Err(Error::invalid(format!(
                    "a new database at {} could not be created: {why}",
                    path.display()
                ))),
            }
        }
    }
}

/// Why the data folder cannot be written, if it cannot: SQLite then says only "unable to
/// open database file", with no path and no cause. The database needs its folder
/// writable even to be read (it keeps its journal and shared memory beside it).
fn unwritable_folder(dir: &Path) -> Option<Error> {
    let probe = dir.join(format!(".tellus-write-check-{}", std::process::id()));
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    match result {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) => Some(Error::io(
            format!(
                "the data folder {} is read-only for Tellus, which must write there even to read its database",
                dir.display()
            ),
            e,
        )),
    }
}

pub(super) fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA temp_store = 2; PRAGMA query_only = ON;")?;
    Ok(conn)
}

enum Opening {
    /// The file is not a readable SQLite database.
    Damaged(String),
    /// Anything else (permissions, a full disk, a newer schema): reported, nothing moved.
    Failed(Error),
}

impl From<rusqlite::Error> for Opening {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                Opening::Damaged(e.to_string())
            }
            _ => Opening::Failed(e.into()),
        }
    }
}

fn try_open_writer(path: &Path) -> Result<Connection, Opening> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL lets readers keep a snapshot while the writer works; synchronous=FULL makes
    // every commit durable before it returns, because a lost commit is a lost story.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.execute_batch(
        // secure_delete: deleted rows (a secret, erased names and contacts) are overwritten
        // with zeros rather than left in free space.
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = 2; PRAGMA secure_delete = ON;",
    )?;
    let check: String = conn.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
    if check != "ok" {
        return Err(Opening::Damaged(format!("integrity check failed: {check}")));
    }
    schema::migrate_to(&mut conn, schema::LATEST).map_err(|e| match e {
        Error::Database(db) => Opening::from(db),
        other => Opening::Failed(other),
    })?;
    Ok(conn)
}

/// Renames the database and its WAL and shared-memory files to `<name>.damaged-<time>`,
/// so nothing is lost and someone can try to rescue it.
fn move_aside(path: &Path) -> Result<PathBuf> {
    let stamp = Timestamp::now().to_string().replace([':', '.'], "-");
    let target = PathBuf::from(format!("{}.damaged-{stamp}", path.display()));
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        if from.exists() {
            let to = PathBuf::from(format!("{}{suffix}", target.display()));
            std::fs::rename(&from, &to).map_err(|e| {
                Error::io(
                    format!("cannot move the damaged database {} aside", from.display()),
                    e,
                )
            })?;
        }
    }
    Ok(target)
}
