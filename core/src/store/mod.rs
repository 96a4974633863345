//! The device's store: one SQLite database in a data folder, with the audio files beside
//! it in `recordings/`. One writer connection (every write is one IMMEDIATE transaction)
//! and a small pool of read-only connections that see consistent snapshots (WAL).

mod captures;
mod consent;
mod consent_import;
mod limits;
mod notes;
mod open;
mod orphans;
mod project;
mod recordings;
mod representations;
mod rows;
pub(crate) mod schema;
mod stories;
mod storyteller_code;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::Result;
use crate::model::StoryId;
use crate::observe::{Hub, Observer, Subscription};
use crate::sync::secrets::SecretStore;

/// Reads inside one transaction, for the sync's batched views (sync/overview.rs).
pub(crate) mod tx {
    pub(crate) use super::consent::events as consent_events;
    pub(crate) use super::consent::events_between as consent_events_between;
    pub(crate) use super::project::load as project;
    pub(crate) use super::recordings::for_stories_between as recordings_between;
    pub(crate) use super::recordings::for_story as recordings;
    pub(crate) use super::stories::ensure_exists as ensure_story;
    pub(crate) use super::stories::list as list_stories;
}

pub use captures::NewCapture;
pub use consent_import::{ConsentImport, SUPERSEDED};
pub use limits::StorySize;
pub use open::OpenReport;
pub use orphans::OrphanRecording;
pub use representations::{Preparation, audio_item_id, parse_audio_item};
pub use stories::MAX_PAGE;
pub use storyteller_code::CODE_KEPT_AFTER_DELIVERY_DAYS;

/// File name of the database inside a data folder.
pub const DATABASE_FILE: &str = "tellus.db";
/// Folder of the audio files inside a data folder.
pub const RECORDINGS_DIR: &str = "recordings";

/// How many idle read connections are kept open.
const MAX_IDLE_READERS: usize = 4;

pub struct Store {
    dir: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    report: OpenReport,
    story_changes: Hub<StoryId, StoryId>,
    /// Where the device token lives: the platform's secret store, or (None) the
    /// database's `secrets` table.
    platform_secrets: Option<Arc<dyn SecretStore>>,
    /// Moving a token out of the database and keeping a new one take turns, so an old
    /// token being moved can never overwrite one an enrolment just wrote.
    token_turn: Mutex<()>,
}

impl Store {
    /// Opens (or creates) the store in `dir`. A database that cannot be read is moved
    /// aside, never deleted, and a fresh one is created; `open_report()` says so.
    /// The device token is kept in the database (the CLI and desktop).
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        Self::open_inner(dir.as_ref(), None)
    }

    /// Like `open`, with the device token kept in the platform's secret store (Android
    /// Keystore, iOS Keychain). A token an earlier version kept in the database moves
    /// there now (or, if the secret store cannot be used yet, at the first sync that can).
    /// Opening never fails because of the secret store: recording must work regardless.
    pub fn open_with_secrets(
        dir: impl AsRef<Path>,
        secrets: Arc<dyn SecretStore>,
    ) -> Result<Store> {
        let store = Self::open_inner(dir.as_ref(), Some(secrets))?;
        let report = store.open_report();
        if report.created && report.damaged_database_moved_to.is_none() {
            // A new install over an old one's token (the iOS Keychain outlives the app):
            // with no enrolment to go with it, the token is only a risk. Best effort.
            let _ = store.delete_device_token();
        }
        // Best effort: a locked store leaves the token where it is, safe, until later.
        let _ = store.move_token_to_platform();
        // A scrub that a reader kept from emptying the WAL last time finishes now, while
        // nothing else reads.
        let _ = store.truncate_wal();
        Ok(store)
    }

    fn open_inner(dir: &Path, platform_secrets: Option<Arc<dyn SecretStore>>) -> Result<Store> {
        // An empty path would put the database in whatever the working folder is.
        if dir.as_os_str().to_string_lossy().trim().is_empty() {
            return Err(crate::error::Error::InvalidInput(
                "the data folder is not set: give the app's own folder (an absolute path)".into(),
            ));
        }
        let dir = dir.to_path_buf();
        let (writer, report) = open::open_writer(&dir)?;
        let mut store = Store {
            dir,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            report,
            story_changes: Hub::default(),
            platform_secrets,
            token_turn: Mutex::new(()),
        };
        // Audio a crash left behind is repaired and indexed before anything else runs.
        let found = crate::audio::recovery::recover(&store);
        store.report.recovered_recordings = found.recovered;
        store.report.discarded_empty_recordings = found.discarded;
        store.report.audio_problems = found.problems;
        Ok(store)
    }

    /// The platform's secret store, when the store was opened with one.
    pub(crate) fn platform_secrets(&self) -> Option<&Arc<dyn SecretStore>> {
        self.platform_secrets.as_ref()
    }

    /// After a secret was deleted: rewrites the database file (VACUUM) so no free page or
    /// slack space keeps its bytes, then empties the WAL, which may still hold pages that
    /// had it. Runs outside any transaction, on the writer connection.
    pub(crate) fn scrub_deleted_content(&self) -> Result<()> {
        lock(&self.writer).execute_batch("VACUUM")?;
        // A reader holding an older snapshot (the story list, say) keeps the WAL from
        // being emptied: try again for a moment; what is left is emptied at the next open.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while !self.truncate_wal()? && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Ok(())
    }

    /// Checkpoints the WAL into the database and empties it; false when a reader kept it
    /// from finishing (SQLite reports that in the result row, not as an error).
    fn truncate_wal(&self) -> Result<bool> {
        let busy: i64 =
            lock(&self.writer).query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        Ok(busy == 0)
    }

    /// Held while the device token is moved or replaced.
    pub(crate) fn token_turn(&self) -> std::sync::MutexGuard<'_, ()> {
        lock(&self.token_turn)
    }

    /// What happened while opening: a damaged database moved aside, a new one created,
    /// recordings recovered after a crash, audio files that could not be used.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn database_path(&self) -> PathBuf {
        self.dir.join(DATABASE_FILE)
    }

    pub fn recordings_dir(&self) -> PathBuf {
        self.dir.join(RECORDINGS_DIR)
    }

    /// Calls `observer` with the id of every story that changes (created, edited, ready,
    /// consent, notes, tags, recordings), after the change is committed. Rapid changes to
    /// one story are coalesced; closing or dropping the subscription stops it.
    pub fn subscribe_story_changes(&self, observer: impl Observer<StoryId>) -> Subscription {
        self.story_changes.subscribe(observer)
    }

    /// Tells subscribers that `story` changed; called after the change is committed.
    fn story_changed(&self, story: StoryId) {
        self.story_changes.publish(story, story);
    }

    /// Runs `f` in one IMMEDIATE transaction on the writer connection: it commits when
    /// `f` returns Ok and rolls back otherwise, so a failed call changes nothing.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `f` in a read transaction on a pooled read-only connection: every query in it
    /// sees the same snapshot, whatever the writer commits meanwhile.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let pooled = lock(&self.readers).pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => open::open_reader(&self.database_path())?,
        };
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let value = f(&tx)?;
            tx.finish()?;
            Ok(value)
        })();
        let mut idle = lock(&self.readers);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }

    /// Test hook: runs `during` while a write transaction that has already inserted
    /// `stories` stories is open and uncommitted, then commits.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn testing_write_stories_then(&self, stories: usize, during: impl FnOnce()) -> Result<()> {
        self.write(|tx| {
            let limits = limits::load(tx)?;
            for n in 0..stories {
                let story = crate::model::NewStory {
                    title: format!("Bulk story {n}"),
                    ..Default::default()
                };
                stories::insert(tx, &story, &limits)?;
            }
            during();
            Ok(())
        })
    }
}

#[cfg(feature = "testing")]
impl Store {
    /// Test hook: every row of every table, as text, in a stable order, so a test can
    /// prove that a failed call changed nothing.
    #[doc(hidden)]
    pub fn testing_dump(&self) -> Result<Vec<String>> {
        self.read(|tx| {
            let tables: Vec<String> = tx
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut out = Vec::new();
            for table in tables {
                let mut stmt = tx.prepare(&format!("SELECT * FROM \"{table}\""))?;
                let columns = stmt.column_count();
                let mut rows: Vec<String> = stmt
                    .query_map([], |r| {
                        let cells: Vec<String> = (0..columns)
                            .map(|i| r.get_ref(i).map(|v| format!("{v:?}")))
                            .collect::<rusqlite::Result<_>>()?;
                        Ok(format!("{table}: {}", cells.join(" | ")))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                rows.sort();
                out.extend(rows);
            }
            Ok(out)
        })
    }
}

/// A poisoned lock only means another thread panicked while holding it; the connection
/// itself is still sound (an unfinished transaction rolls back on drop).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
