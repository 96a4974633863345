//! `tellus admin migrate` (issue 19): a one-machine server (SQLite and its audio folder)
//! copied to PostgreSQL and object storage, for replicas.
//!
//! Order, so that a run stopped anywhere leaves nothing that looks complete:
//! 1. the source is read at rest (refused while its address is in use) in one snapshot;
//! 2. every stored copy of audio the source's `recordings` rows name is checked against
//!    the row's SHA-256, written to the target store and read back and checked again
//!    (a copy already there with the right hash is skipped; a damaged one stops the run
//!    naming the recording, and a target object that reads back wrong is deleted);
//! 3. only then the tables, in one PostgreSQL transaction (data/migrate.rs), which
//!    commits only if the target then holds exactly the source's rows.
//!
//! Running it again copies nothing and says so; a run interrupted in 2 leaves verified
//! objects that the next run skips, and no rows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tellus_protocol::Representation;
use tokio::io::AsyncWriteExt;

use crate::config::ServerConfig;
use crate::data::migrate::{RecordingCopy, Snapshot, TableCopied, copy_into};
use crate::data::postgres::PgData;
use crate::db::{Db, blocking};
use crate::error::{Error, Result};
use crate::storage::{self, AudioStorage};

/// Where the server's state is to go.
#[derive(Debug, Clone)]
pub struct Target {
    /// `postgres://user:password@host:port/database`.
    pub database: String,
    /// An object store URL (`s3://bucket[/prefix]?endpoint=...` or
    /// `az://container[/prefix]?account=...`, docs/deploy.md).
    pub storage: String,
}

/// What a run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrateReport {
    pub tables: Vec<TableCopied>,
    /// Rows in the copied tables (source and target alike).
    pub rows: u64,
    /// Rows this run inserted.
    pub rows_inserted: u64,
    /// Stored copies of audio (every recording's lossless and listening copies).
    pub audio_files: usize,
    /// Copies this run wrote to the target store.
    pub audio_copied: usize,
    /// Copies found in the target store already, with the right SHA-256.
    pub audio_present: usize,
    /// Bytes of audio this run wrote.
    pub audio_bytes_copied: u64,
}

impl MigrateReport {
    /// Whether this run changed nothing (the target held everything already).
    pub fn nothing_new(&self) -> bool {
        self.rows_inserted == 0 && self.audio_copied == 0
    }
}

/// Copies the server `source` describes (SQLite in its data folder, audio in its folder
/// or store) to `target`. `progress` hears a line now and then.
pub async fn migrate(
    source: &ServerConfig,
    target: &Target,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<MigrateReport> {
    check_source(source)?;
    check_target(source, target)?;
    let db_path = source.db_path();
    let snapshot = blocking(move || Snapshot::read(&Db::open(&db_path)?)).await?;
    let recordings = snapshot.recordings()?;
    progress(&format!(
        "source: {} rows, {} stored copies of audio",
        snapshot.row_count(),
        recordings.len()
    ));
    let from = storage::open(source.storage.as_deref(), &source.audio_dir()).await?;
    let to = storage::open(Some(&target.storage), &source.audio_dir()).await?;
    let url = target.database.clone();
    let pg = Arc::new(blocking(move || PgData::connect(&url)).await?);

    let work = Workspace::new(&source.data_dir)?;
    let mut report = MigrateReport {
        tables: Vec::new(),
        rows: snapshot.row_count(),
        rows_inserted: 0,
        audio_files: recordings.len(),
        audio_copied: 0,
        audio_present: 0,
        audio_bytes_copied: 0,
    };
    for (done, recording) in recordings.iter().enumerate() {
        match copy_audio(&*from, &*to, recording, &work.dir).await? {
            Copied::Present => report.audio_present += 1,
            Copied::Written => {
                report.audio_copied += 1;
                report.audio_bytes_copied += recording.bytes;
            }
        }
        if (done + 1) % 25 == 0 {
            progress(&format!("audio: {}/{} checked", done + 1, recordings.len()));
        }
    }
    drop(work);

    let snapshot = Arc::new(snapshot);
    let tables = {
        let pg = pg.clone();
        blocking(move || copy_into(&pg, &snapshot)).await?
    };
    report.rows_inserted = tables.iter().map(|t| t.inserted).sum();
    report.tables = tables;
    Ok(report)
}

/// The source must be a SQLite server at rest.
fn check_source(source: &ServerConfig) -> Result<()> {
    if source.database.is_some() {
        return Err(Error::Migrate(
            "the source server keeps its data in PostgreSQL already (its database is set); migrate copies a SQLite server".into(),
        ));
    }
    if !source.db_path().is_file() {
        return Err(Error::Migrate(format!(
            "there is no server database at {} (is the data folder right?)",
            source.db_path().display()
        )));
    }
    // A running server holds its address: a cheap sign that it is live. A copy taken
    // while it accepts stories could miss the last ones.
    if source.listen.port() != 0 {
        if let Err(e) = std::net::TcpListener::bind(source.listen) {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                return Err(Error::Migrate(format!(
                    "the source server looks live (its address {} is in use); stop it first, migrate copies a server at rest",
                    source.listen
                )));
            }
        }
    }
    Ok(())
}

fn check_target(source: &ServerConfig, target: &Target) -> Result<()> {
    let database = target.database.trim();
    if !(database.starts_with("postgres://") || database.starts_with("postgresql://")) {
        return Err(Error::Migrate(
            "the target database must be a postgres:// URL".into(),
        ));
    }
    if source.storage.as_deref().map(str::trim) == Some(target.storage.trim()) {
        return Err(Error::Migrate(
            "the target storage is the source's own; name another".into(),
        ));
    }
    Ok(())
}

/// A folder for the copies on their way (in the source's data folder, so that a folder
/// target can take them with a rename); removed when done.
struct Workspace {
    dir: PathBuf,
}

impl Workspace {
    fn new(data_dir: &Path) -> Result<Workspace> {
        let dir = data_dir.join("migrate-spool");
        // Leftovers of an interrupted run are only copies of the source's files.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        Ok(Workspace { dir })
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

enum Copied {
    Present,
    Written,
}

fn describe(recording: &RecordingCopy) -> String {
    format!(
        "recording {} ({} copy) of story {}",
        recording.id, recording.representation, recording.story_id
    )
}

/// One stored copy to the target, verified against its row's SHA-256 before and after.
async fn copy_audio(
    from: &dyn AudioStorage,
    to: &dyn AudioStorage,
    recording: &RecordingCopy,
    work: &Path,
) -> Result<Copied> {
    let representation = Representation::parse(&recording.representation).ok_or_else(|| {
        Error::Migrate(format!("{}: unknown representation", describe(recording)))
    })?;
    let key = storage::key(&recording.id, representation);
    if to
        .size(&key)
        .await
        .map_err(|e| target_error(recording, e))?
        == Some(recording.bytes)
        && hash_stored(to, &key, recording.bytes)
            .await
            .map_err(|e| target_error(recording, e))?
            .as_deref()
            == Some(recording.sha256.as_str())
    {
        return Ok(Copied::Present);
    }
    let spooled = work.join(&key);
    let got = spool(from, &key, &spooled).await.map_err(|e| {
        Error::Migrate(format!(
            "{}: cannot read its audio from the source: {e}",
            describe(recording)
        ))
    })?;
    let Some((sha256, bytes)) = got else {
        return Err(Error::Migrate(format!(
            "{}: its audio ({key}) is missing from the source's storage; nothing was migrated",
            describe(recording)
        )));
    };
    if sha256 != recording.sha256 || bytes != recording.bytes {
        let _ = tokio::fs::remove_file(&spooled).await;
        return Err(Error::Migrate(format!(
            "{}: the source's audio ({key}) is damaged: {bytes} bytes with SHA-256 {sha256}, but its receipt says {} bytes with SHA-256 {}. Nothing was migrated; restore the file from a backup and run migrate again",
            describe(recording),
            recording.bytes,
            recording.sha256
        )));
    }
    to.put(&key, &spooled)
        .await
        .map_err(|e| target_error(recording, e))?;
    let back = hash_stored(to, &key, recording.bytes)
        .await
        .map_err(|e| target_error(recording, e))?;
    if back.as_deref() != Some(recording.sha256.as_str()) {
        // Never left to pass for a good copy on a later run or to a server.
        let _ = to.delete(&key).await;
        return Err(Error::Migrate(format!(
            "{}: the copy in the target storage reads back with SHA-256 {}, not {}; it was deleted, nothing was migrated",
            describe(recording),
            back.unwrap_or_else(|| "(missing)".into()),
            recording.sha256
        )));
    }
    Ok(Copied::Written)
}

fn target_error(recording: &RecordingCopy, e: std::io::Error) -> Error {
    Error::Migrate(format!(
        "{}: the target storage failed: {e}",
        describe(recording)
    ))
}

/// The SHA-256 of a stored copy of `bytes` bytes; None when it is not there.
async fn hash_stored(
    storage: &dyn AudioStorage,
    key: &str,
    bytes: u64,
) -> std::io::Result<Option<String>> {
    let Some(mut stream) = storage.read(key, 0..bytes).await? else {
        return Ok(None);
    };
    let mut hash = Sha256::new();
    while let Some(chunk) = stream.next().await {
        hash.update(&chunk?);
    }
    Ok(Some(hex::encode(hash.finalize())))
}

/// Copies a stored copy into the file `to` (fsynced), with its SHA-256 and size; None
/// when the source has no such copy.
async fn spool(
    from: &dyn AudioStorage,
    key: &str,
    to: &Path,
) -> std::io::Result<Option<(String, u64)>> {
    let Some(size) = from.size(key).await? else {
        return Ok(None);
    };
    let Some(mut stream) = from.read(key, 0..size).await? else {
        return Ok(None);
    };
    let mut file = tokio::fs::File::create(to).await?;
    let mut hash = Sha256::new();
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        hash.update(&chunk);
        file.write_all(&chunk).await?;
        written += chunk.len() as u64;
    }
    file.sync_all().await?;
    Ok(Some((hex::encode(hash.finalize()), written)))
}
