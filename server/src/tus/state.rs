//! Uploads as the server keeps them: their state in the data layer (`data::Uploads`) and a
//! spool file; completion
//! (verify, move into storage, receipt), crash recovery and expiry.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::StatusCode;
use sha2::{Digest, Sha256};
use tellus_protocol::AudioFormat;

use super::{bucket, verify};
use crate::App;
use crate::clock::now_ms;
use crate::data::holds::Exclusive;
use crate::data::uploads::Delivery;
use crate::db::blocking;
use crate::error::{Error, Result};
use crate::storage::{self, sync_dir};

pub use crate::data::uploads::Upload;

pub fn spool_path(app: &App, id: &str) -> PathBuf {
    app.config.spool_dir().join(id)
}

pub async fn load(app: &App, id: &str) -> Result<Option<Upload>> {
    let id = id.to_string();
    app.data(move |d| d.upload(&id)).await
}

pub(super) fn gone() -> Error {
    Error::refused(
        StatusCode::NOT_FOUND,
        "not_found",
        "this upload no longer exists (finished, terminated, expired or withdrawn)",
    )
}

pub async fn set_offset(app: &App, id: &str, offset: u64) -> Result<()> {
    let id = id.to_string();
    let changed = app.data(move |d| d.set_upload_offset(&id, offset)).await?;
    if changed { Ok(()) } else { Err(gone()) }
}

pub async fn set_length(app: &App, id: &str, length: u64) -> Result<()> {
    let id = id.to_string();
    let changed = app.data(move |d| d.set_upload_length(&id, length)).await?;
    if changed { Ok(()) } else { Err(gone()) }
}

pub async fn create_spool(app: &App, id: &str) -> Result<()> {
    if let Some(spool) = app.storage.spool_bucket() {
        return bucket::create(&spool, id).await;
    }
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

/// Deletes an upload's bytes wherever they are spooled: the local file, and on an object
/// store its multipart upload, tail and state.
pub async fn discard_spool(app: &App, id: &str) {
    delete_spool(app, id);
    if let Some(spool) = app.storage.spool_bucket() {
        bucket::discard(&spool, id).await;
    }
}

/// Forgets an upload: its row and its spooled bytes.
pub async fn remove(app: &App, id: &str) -> Result<()> {
    let key = id.to_string();
    app.data(move |d| d.remove_upload(&key)).await?;
    discard_spool(app, id).await;
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
    let bucket = app.storage.spool_bucket();
    let (sha256, bytes) = match &bucket {
        // The running hash saved with the upload's state covers every byte received.
        Some(spool) => bucket::hashed(spool, &upload.id).await?,
        None => {
            let path = spool_path(app, &upload.id);
            let running = upload
                .length
                .and_then(|length| app.uploads.take_hash(&upload.id, length));
            blocking(move || {
                let hashed = match running {
                    // Hashed as the bytes arrived; the size on disk is checked all the same.
                    Some(hash) => {
                        std::fs::metadata(&path).map(|m| (hex::encode(hash.finalize()), m.len()))
                    }
                    None => hash_file(&path),
                };
                hashed.map_err(|e| Error::io("cannot read the spool file", e))
            })
            .await?
        }
    };
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
    // On several replicas the copy's hold does the same across them, and keeps the
    // orphan sweep (`recover`) off the file between its put and its receipt.
    let copy = storage::key(&upload.recording_id, upload.representation);
    let completing = app.uploads.completing(&copy);
    let shared = match completing {
        Some(_) => {
            app.data(move |d| d.hold(Exclusive::Copy(&copy), Duration::ZERO))
                .await?
        }
        None => None,
    };
    let (Some(_completing), Some(_copy_held)) = (completing, shared) else {
        return Err(Error::refused(
            StatusCode::LOCKED,
            "upload_busy",
            "another upload of this recording is completing; ask for its receipt",
        ));
    };
    let (recording, representation) = (upload.recording_id.clone(), upload.representation);
    let delivered = app
        .data(move |d| d.delivered_sha256(&recording, representation))
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
        Error::internal(format!(
            "upload {} holds an unknown content type",
            upload.id
        ))
    })?;
    let (path, representation, declared) = (
        spool_path(app, &upload.id),
        upload.representation,
        upload.pcm_sha256.clone(),
    );
    let checked = match &bucket {
        Some(spool) => bucket::verify(app, spool, upload, representation, format, declared).await,
        None => {
            blocking(move || {
                if !path.exists() {
                    return Err(gone());
                }
                verify::check(&path, representation, format, declared.as_deref())
            })
            .await
        }
    };
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
    match &bucket {
        Some(bucket_spool) => bucket::store(bucket_spool, &upload.id, &key).await?,
        None => match storage.put(&key, &spool).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(gone()),
            other => other.map_err(|e| Error::io("cannot move the audio into storage", e))?,
        },
    }
    let u = upload.clone();
    let delivery = Delivery {
        sha256: sha256.clone(),
        bytes,
        format,
        pcm_sha256: checked.pcm_sha256.clone(),
        at: now_ms(),
    };
    let recorded = app.data(move |d| d.complete_upload(&u, &delivery)).await?;
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
/// recording names (a withdrawal or completion cut short) is deleted. With several
/// replicas, one sweeps at a time (the others skip it), and a copy being completed is
/// never taken for an orphan (its hold, `complete`).
pub async fn recover(app: &App) -> Result<()> {
    let Some(_sweeping) = app
        .data(|d| d.hold(Exclusive::Sweep, Duration::ZERO))
        .await?
    else {
        tracing::info!("another replica is sweeping; recovery skipped");
        return Ok(());
    };
    let spool_dir = app.config.spool_dir();
    // Data-layer calls block (PostgreSQL runs its own runtime): off the async threads.
    let uploads = app.data(|d| d.uploads_in_progress()).await?;
    let now = now_ms();
    let mut known = std::collections::HashSet::new();
    let bucket = app.storage.spool_bucket();
    for upload in uploads {
        let (id, offset, expires_at) = (upload.id, upload.offset, upload.expires_at);
        if let Some(spool) = &bucket {
            // Spooled in the bucket, where another replica may be writing it right now:
            // only an expired upload is this start's to delete.
            if expires_at <= now {
                app.data.remove_upload(&id)?;
                bucket::discard(spool, &id).await;
            }
            continue;
        }
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
                    let upload = id.clone();
                    app.data(move |d| d.set_upload_offset(&upload, len)).await?;
                }
                known.insert(id);
            }
            _ => {
                let upload = id.clone();
                app.data(move |d| d.remove_upload(&upload)).await?;
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    if let Some(spool) = &bucket {
        sweep_bucket(app, spool).await?;
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
        let copy = key.clone();
        let orphan = app
            .data(move |d| {
                // Held while deciding, so that a completion cannot put the file between
                // this check and the delete (it would be refused with 423 and retried).
                let Some(held) = d.hold(Exclusive::Copy(&copy), Duration::ZERO)? else {
                    return Ok(None);
                };
                let (id, representation) = storage::parse_key(&copy);
                Ok(d.delivered_sha256(id, representation)?
                    .is_none()
                    .then_some(held))
            })
            .await?;
        if let Some(_held) = orphan {
            tracing::warn!(file = %key, "deleting stored audio that no recording names");
            app.storage
                .delete(&key)
                .await
                .map_err(|e| Error::io("cannot delete orphaned audio", e))?;
        }
    }
    Ok(())
}

/// Deletes the bucket objects of uploads the database no longer holds (a replica stopped
/// between forgetting an upload and deleting its objects). An upload's row is written
/// before its objects and forgotten before they are deleted, so an object without a row
/// is never one in use; the row is looked up again right before, as another replica may
/// have created it since the list was read.
async fn sweep_bucket(app: &App, spool: &crate::storage::BucketSpool) -> Result<()> {
    let ids = spool
        .uploads()
        .await
        .map_err(|e| Error::io("cannot list the uploads in the bucket", e))?;
    for id in ids {
        let upload = id.clone();
        if app.data(move |d| d.upload(&upload)).await?.is_none() {
            tracing::warn!(upload = %id, "deleting the bucket objects of an upload no longer held");
            bucket::discard(spool, &id).await;
        }
    }
    Ok(())
}

/// Deletes expired uploads now and then; with several replicas, the one that holds the
/// sweep does (the others find it held and wait for the next tick).
pub fn spawn_expiry_sweeper(app: App) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = sweep_expired(&app).await {
                tracing::warn!(error = %e, "the expiry sweep failed; trying again later");
            }
        }
    })
}

/// One sweep of expired uploads: how many were deleted, or None when another replica
/// holds the sweep.
pub async fn sweep_expired(app: &App) -> Result<Option<usize>> {
    let Some(_sweeping) = app
        .data(|d| d.hold(Exclusive::Sweep, Duration::ZERO))
        .await?
    else {
        return Ok(None);
    };
    let now = now_ms();
    let expired = app.data(move |d| d.expired_uploads(now)).await?;
    let mut deleted = 0;
    for id in expired {
        // An upload a request is writing right now is left for the next sweep.
        if let Some(_held) = super::try_hold_upload(app, &id).await? {
            remove(app, &id).await?;
            deleted += 1;
        }
    }
    Ok(Some(deleted))
}
