//! Uploads as the server keeps them: a row in `uploads` and a spool file; completion
//! (verify, move into storage, receipt), crash recovery and expiry.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::StatusCode;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use tellus_protocol::{AudioFormat, Representation, items};

use super::verify;
use crate::App;
use crate::clock::now_ms;
use crate::db::blocking;
use crate::error::{Error, Result};
use crate::routes::stories::load_consent;
use crate::storage::{self, sync_dir};

#[derive(Debug, Clone)]
pub struct Upload {
    pub id: String,
    pub reporter_id: String,
    pub project_id: String,
    pub story_id: String,
    pub recording_id: String,
    pub sha256: String,
    /// The canonical type of an allowed format (`AudioFormat::content_type`).
    pub content_type: String,
    /// Which copy of the recording this upload carries.
    pub representation: Representation,
    /// The PCM identity the phone declared for a lossless copy.
    pub pcm_sha256: Option<String>,
    /// None until a deferred length is declared.
    pub length: Option<u64>,
    /// Bytes received and fsynced.
    pub offset: u64,
    pub expires_at: i64,
}

pub fn spool_path(app: &App, id: &str) -> PathBuf {
    app.config.spool_dir().join(id)
}

pub fn insert(conn: &Connection, u: &Upload) -> Result<()> {
    conn.execute(
        "INSERT INTO uploads (id, reporter_id, project_id, story_id, recording_id, sha256, content_type, length, offset, created_at, expires_at, representation, pcm_sha256)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![u.id, u.reporter_id, u.project_id, u.story_id, u.recording_id, u.sha256, u.content_type, u.length, u.offset, now_ms(), u.expires_at, u.representation.as_str(), u.pcm_sha256],
    )?;
    Ok(())
}

pub async fn load(app: &App, id: &str) -> Result<Option<Upload>> {
    let id = id.to_string();
    app.db
        .call(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT id, reporter_id, project_id, story_id, recording_id, sha256, content_type, length, offset, expires_at, representation, pcm_sha256
                     FROM uploads WHERE id = ?1",
                    [&id],
                    |r| {
                        Ok(Upload {
                            id: r.get(0)?,
                            reporter_id: r.get(1)?,
                            project_id: r.get(2)?,
                            story_id: r.get(3)?,
                            recording_id: r.get(4)?,
                            sha256: r.get(5)?,
                            content_type: r.get(6)?,
                            length: r.get(7)?,
                            offset: r.get(8)?,
                            expires_at: r.get(9)?,
                            // Anything unexpected in the row is the default, lossless.
                            representation: Representation::parse(&r.get::<_, String>(10)?)
                                .unwrap_or_default(),
                            pcm_sha256: r.get(11)?,
                        })
                    },
                )
                .optional()?)
        })
        .await
}

fn gone() -> Error {
    Error::refused(
        StatusCode::NOT_FOUND,
        "not_found",
        "this upload no longer exists (finished, terminated, expired or withdrawn)",
    )
}

pub async fn set_offset(app: &App, id: &str, offset: u64) -> Result<()> {
    let id = id.to_string();
    let changed = app
        .db
        .call(move |conn| {
            Ok(conn.execute(
                "UPDATE uploads SET offset = ?2 WHERE id = ?1",
                params![id, offset],
            )?)
        })
        .await?;
    if changed == 0 { Err(gone()) } else { Ok(()) }
}

pub async fn set_length(app: &App, id: &str, length: u64) -> Result<()> {
    let id = id.to_string();
    let changed = app
        .db
        .call(move |conn| {
            Ok(conn.execute(
                "UPDATE uploads SET length = ?2 WHERE id = ?1 AND length IS NULL",
                params![id, length],
            )?)
        })
        .await?;
    if changed == 0 { Err(gone()) } else { Ok(()) }
}

pub async fn create_spool(app: &App, id: &str) -> Result<()> {
    let path = spool_path(app, id);
    let dir = app.config.spool_dir();
    blocking(move || {
        let file = std::fs::File::create(&path)
            .map_err(|e| Error::io("cannot create the spool file", e))?;
        file.sync_all()
            .map_err(|e| Error::io("cannot create the spool file", e))?;
        sync_dir(&dir).map_err(|e| Error::io("cannot create the spool file", e))
    })
    .await
}

/// Deletes a spool file; a missing file is fine.
pub fn delete_spool(app: &App, id: &str) {
    if let Err(e) = std::fs::remove_file(spool_path(app, id)) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(upload = %id, error = %e, "cannot delete a spool file");
        }
    }
}

/// Forgets an upload: its row and its spool file.
pub async fn remove(app: &App, id: &str) -> Result<()> {
    let key = id.to_string();
    app.db
        .call(move |conn| Ok(conn.execute("DELETE FROM uploads WHERE id = ?1", [&key])?))
        .await?;
    delete_spool(app, id);
    app.uploads.forget(id);
    Ok(())
}

fn hash_file(path: &PathBuf) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// The last byte arrived: hash the whole file, compare it with what was declared, move
/// it into storage and write the receipt. A mismatch keeps nothing. Returns the SHA-256.
pub async fn complete(app: &App, upload: &Upload) -> Result<String> {
    let path = spool_path(app, &upload.id);
    let running = upload
        .length
        .and_then(|length| app.uploads.take_hash(&upload.id, length));
    let (sha256, bytes) = blocking(move || {
        let hashed = match running {
            // Hashed as the bytes arrived; the size on disk is checked all the same.
            Some(hash) => std::fs::metadata(&path).map(|m| (hex::encode(hash.finalize()), m.len())),
            None => hash_file(&path),
        };
        hashed.map_err(|e| Error::io("cannot read the spool file", e))
    })
    .await?;
    if sha256 != upload.sha256 || Some(bytes) != upload.length {
        remove(app, &upload.id).await?;
        tracing::warn!(upload = %upload.id, "whole-file check failed; upload discarded");
        return Err(Error::refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "file_mismatch",
            "the whole file does not match the SHA-256 and size declared at creation; nothing was kept, upload it again",
        ));
    }
    // One completion per recording and representation at a time, and never over a
    // delivered one: two uploads of the same copy must not overwrite each other's file.
    let Some(_completing) = app
        .uploads
        .completing(&storage::key(&upload.recording_id, upload.representation))
    else {
        return Err(Error::refused(
            StatusCode::LOCKED,
            "upload_busy",
            "another upload of this recording is completing; ask for its receipt",
        ));
    };
    let (recording, representation) = (upload.recording_id.clone(), upload.representation);
    let delivered: Option<String> = app
        .db
        .call(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT sha256 FROM recordings WHERE id = ?1 AND representation = ?2",
                    [&recording, representation.as_str()],
                    |r| r.get(0),
                )
                .optional()?)
        })
        .await?;
    if let Some(delivered) = delivered {
        remove(app, &upload.id).await?;
        return if delivered == sha256 {
            // The same bytes arrived twice: the receipt stands.
            Ok(sha256)
        } else {
            Err(Error::conflict(
                "already_delivered",
                format!(
                    "a different file was already delivered as this recording's {} copy; nothing was kept",
                    upload.representation
                ),
            ))
        };
    }
    // Read as the audio it claims to be, off the async threads; refused keeps nothing.
    let format = AudioFormat::from_content_type(&upload.content_type).ok_or_else(|| {
        Error::Config(format!(
            "upload {} holds an unknown content type",
            upload.id
        ))
    })?;
    let (path, representation, declared) = (
        spool_path(app, &upload.id),
        upload.representation,
        upload.pcm_sha256.clone(),
    );
    let checked = blocking(move || {
        if !path.exists() {
            return Err(gone());
        }
        verify::check(&path, representation, format, declared.as_deref())
    })
    .await;
    let checked = match checked {
        Ok(checked) => checked,
        Err(e) => {
            remove(app, &upload.id).await?;
            tracing::warn!(upload = %upload.id, error = %e, "audio check failed; upload discarded");
            return Err(e);
        }
    };
    let storage = app.storage.clone();
    let key = storage::key(&upload.recording_id, upload.representation);
    let spool = spool_path(app, &upload.id);
    // A withdrawal may have deleted the spool file under this PATCH: the upload is gone.
    match storage.put(&key, &spool).await {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(gone()),
        other => other.map_err(|e| Error::io("cannot move the audio into storage", e))?,
    }
    let u = upload.clone();
    let hash = sha256.clone();
    let pcm = checked.pcm_sha256.clone();
    let recorded = app
        .db
        .call_write(move |tx| {
            let still_there = tx
                .query_row("SELECT 1 FROM uploads WHERE id = ?1", [&u.id], |_| Ok(()))
                .optional()?
                .is_some();
            // A withdrawal (or termination) won the race: keep nothing.
            if !still_there || !load_consent(tx, &u.story_id)?.grants(items::RECORD) {
                return Ok(false);
            }
            let now = now_ms();
            tx.execute(
                "INSERT INTO recordings (id, representation, story_id, project_id, reporter_id, sha256, bytes, content_type, pcm_sha256, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT(id, representation) DO NOTHING",
                params![u.recording_id, u.representation.as_str(), u.story_id, u.project_id, u.reporter_id, hash, bytes, u.content_type, pcm, now],
            )?;
            tx.execute(
                "INSERT INTO changes (project_id, kind, story_id, recording_id, sha256, bytes, representation, format, pcm_sha256, at)
                 VALUES (?1, 'recording', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![u.project_id, u.story_id, u.recording_id, hash, bytes, u.representation.as_str(), format.as_str(), pcm, now],
            )?;
            tx.execute("DELETE FROM uploads WHERE id = ?1", [&u.id])?;
            crate::transcripts::on_delivered(tx, &u.project_id, &u.story_id, &u.recording_id)?;
            Ok(true)
        })
        .await?;
    app.uploads.forget(&upload.id);
    if !recorded {
        let _ = app.storage.delete(&key).await;
        return Err(gone());
    }
    tracing::info!(upload = %upload.id, recording = %upload.recording_id, representation = %upload.representation, bytes, "recording delivered and verified");
    Ok(sha256)
}

/// Refusals after which the upload no longer exists: the whole file did not match, or
/// did not read as its audio (the client starts a new upload), or it was gone already.
pub fn discarded(code: &str) -> bool {
    matches!(
        code,
        "file_mismatch" | "not_found" | "pcm_mismatch" | "undecodable" | "invalid_opus"
    )
}

/// Brings the data folder back to a consistent state after a crash: spool files are cut
/// back to their committed offset, uploads without a spool file and spool files without
/// an upload are dropped, expired uploads are deleted, and stored audio that no
/// recording names (a withdrawal or completion cut short) is deleted.
pub async fn recover(app: &App) -> Result<()> {
    let spool_dir = app.config.spool_dir();
    let uploads: Vec<(String, u64, i64)> = app.db.with(|conn| {
        let mut stmt = conn.prepare("SELECT id, offset, expires_at FROM uploads")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })?;
    let now = now_ms();
    let mut known = std::collections::HashSet::new();
    for (id, offset, expires_at) in uploads {
        let path = spool_dir.join(&id);
        let len = std::fs::metadata(&path).map(|m| m.len()).ok();
        match len {
            Some(len) if expires_at > now => {
                if len > offset {
                    let file = std::fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| Error::io("cannot open a spool file", e))?;
                    file.set_len(offset)
                        .map_err(|e| Error::io("cannot trim a spool file", e))?;
                    file.sync_all()
                        .map_err(|e| Error::io("cannot trim a spool file", e))?;
                } else if len < offset {
                    app.db.with(|conn| {
                        Ok(conn.execute(
                            "UPDATE uploads SET offset = ?2 WHERE id = ?1",
                            params![id, len],
                        )?)
                    })?;
                }
                known.insert(id);
            }
            _ => {
                app.db
                    .with(|conn| Ok(conn.execute("DELETE FROM uploads WHERE id = ?1", [&id])?))?;
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let entries =
        std::fs::read_dir(&spool_dir).map_err(|e| Error::io("cannot list the spool folder", e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !known.contains(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let stored = app
        .storage
        .list()
        .await
        .map_err(|e| Error::io("cannot list the stored audio", e))?;
    for key in stored {
        let (id, representation) = storage::parse_key(&key);
        let named = app.db.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT 1 FROM recordings WHERE id = ?1 AND representation = ?2",
                    [id, representation.as_str()],
                    |_| Ok(()),
                )
                .optional()?
                .is_some())
        })?;
        if !named {
            tracing::warn!(file = %key, "deleting stored audio that no recording names");
            app.storage
                .delete(&key)
                .await
                .map_err(|e| Error::io("cannot delete orphaned audio", e))?;
        }
    }
    Ok(())
}

/// Deletes expired uploads now and then.
pub fn spawn_expiry_sweeper(app: App) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let expired = app
                .db
                .call(|conn| {
                    let mut stmt = conn.prepare("SELECT id FROM uploads WHERE expires_at <= ?1")?;
                    let rows = stmt.query_map([now_ms()], |r| r.get::<_, String>(0))?;
                    Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
                })
                .await;
            for id in expired.unwrap_or_default() {
                if let Some(_guard) = app.uploads.try_lock(&id) {
                    let _ = remove(&app, &id).await;
                }
            }
        }
    })
}
