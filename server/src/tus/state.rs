//! Uploads as the server keeps them: a row in `uploads` and a spool file; completion
//! (verify, move into storage, receipt), crash recovery and expiry.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::StatusCode;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use tellus_protocol::items;

use crate::App;
use crate::clock::now_ms;
use crate::db::blocking;
use crate::error::{Error, Result};
use crate::routes::stories::load_consent;
use crate::storage::sync_dir;

#[derive(Debug, Clone)]
pub struct Upload {
    pub id: String,
    pub reporter_id: String,
    pub project_id: String,
    pub story_id: String,
    pub recording_id: String,
    pub sha256: String,
    pub content_type: String,
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
        "INSERT INTO uploads (id, reporter_id, project_id, story_id, recording_id, sha256, content_type, length, offset, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![u.id, u.reporter_id, u.project_id, u.story_id, u.recording_id, u.sha256, u.content_type, u.length, u.offset, now_ms(), u.expires_at],
    )?;
    Ok(())
}

pub async fn load(app: &App, id: &str) -> Result<Option<Upload>> {
    let id = id.to_string();
    app.db
        .call(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT id, reporter_id, project_id, story_id, recording_id, sha256, content_type, length, offset, expires_at
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
    // One completion per recording at a time, and never over a delivered recording: two
    // uploads of the same recording id must not overwrite each other's file.
    let Some(_completing) = app.uploads.completing(&upload.recording_id) else {
        return Err(Error::refused(
            StatusCode::LOCKED,
            "upload_busy",
            "another upload of this recording is completing; ask for its receipt",
        ));
    };
    let recording = upload.recording_id.clone();
    let delivered: Option<String> = app
        .db
        .call(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT sha256 FROM recordings WHERE id = ?1",
                    [&recording],
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
                "a different file was already delivered under this recording id; nothing was kept",
            ))
        };
    }
    let storage = app.storage.clone();
    let (recording, spool) = (upload.recording_id.clone(), spool_path(app, &upload.id));
    // A withdrawal may have deleted the spool file under this PATCH: the upload is gone.
    blocking(move || match storage.put(&recording, &spool) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(gone()),
        other => other.map_err(|e| Error::io("cannot move the audio into storage", e)),
    })
    .await?;
    let u = upload.clone();
    let hash = sha256.clone();
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
                "INSERT INTO recordings (id, story_id, project_id, reporter_id, sha256, bytes, content_type, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(id) DO NOTHING",
                params![u.recording_id, u.story_id, u.project_id, u.reporter_id, hash, bytes, u.content_type, now],
            )?;
            tx.execute(
                "INSERT INTO changes (project_id, kind, story_id, recording_id, sha256, bytes, at)
                 VALUES (?1, 'recording', ?2, ?3, ?4, ?5, ?6)",
                params![u.project_id, u.story_id, u.recording_id, hash, bytes, now],
            )?;
            tx.execute("DELETE FROM uploads WHERE id = ?1", [&u.id])?;
            crate::transcripts::on_delivered(tx, &u.project_id, &u.story_id, &u.recording_id)?;
            Ok(true)
        })
        .await?;
    app.uploads.forget(&upload.id);
    if !recorded {
        let storage = app.storage.clone();
        let recording = upload.recording_id.clone();
        let _ = blocking(move || {
            storage
                .delete(&recording)
                .map_err(|e| Error::io("delete", e))
        })
        .await;
        return Err(gone());
    }
    tracing::info!(upload = %upload.id, recording = %upload.recording_id, bytes, "recording delivered and verified");
    Ok(sha256)
}

/// Brings the data folder back to a consistent state after a crash: spool files are cut
/// back to their committed offset, uploads without a spool file and spool files without
/// an upload are dropped, expired uploads are deleted, and stored audio that no
/// recording names (a withdrawal or completion cut short) is deleted.
pub fn recover(app: &App) -> Result<()> {
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
        .map_err(|e| Error::io("cannot list the audio folder", e))?;
    for id in stored {
        let named = app.db.with(|conn| {
            Ok(conn
                .query_row("SELECT 1 FROM recordings WHERE id = ?1", [&id], |_| Ok(()))
                .optional()?
                .is_some())
        })?;
        if !named {
            tracing::warn!(recording = %id, "deleting stored audio that no recording names");
            app.storage
                .delete(&id)
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
