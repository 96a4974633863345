//! The tus spool on an object store (issue 19, docs/deploy.md "Resumable uploads across
//! replicas"): any replica resumes any upload, as tusd's s3store does.
//!
//! An upload is a multipart upload to `tus/<id>/data` (`storage::BucketSpool`). Bytes are
//! buffered and sent as parts of `PART_BYTES`; what arrived past the last whole part is
//! kept as a small "tail" object. The upload's bucket state — multipart id, parts and
//! their ETags, the tail, the running SHA-256 (`ResumableSha256`) and the offset they
//! reach — is the JSON object `tus/<id>/info.json`, written before the database's offset
//! moves to it: a replica that resumes reads the info and the tail, never the parts.
//!
//! Every long body is checkpointed after each part, so a replica that dies mid-body costs
//! the phone at most two parts of sending again (phones send a recording as one PATCH
//! with its SHA-256, so without this a replica killed mid-upload cost the whole file, as
//! the local spool did before its checkpoints). A body with an `Upload-Checksum` that then
//! fails it takes its checkpoints back: the offset first, then the info as it was before
//! the body (the tail that info names is kept until the body has passed); the parts it
//! sent are then referenced by no info (the next body sends parts of the same numbers
//! again, which replaces them, and completion or abort drops the rest).

use std::sync::Arc;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tellus_protocol::{AudioFormat, Representation};

use super::headers::Algorithm;
use super::receive::{Background, Hasher, Outcome, checksum_mismatch, past_length};
use super::resumable_sha256::ResumableSha256;
use super::state::{self, Upload};
use super::verify;
use crate::App;
use crate::error::{Error, Result};
use crate::storage::BucketSpool;
use crate::storage::bucket_spool::{DATA, INFO};

/// One part of the multipart upload: at least S3's 5 MiB minimum (all but the last part),
/// and what a replica holds in memory per upload is about two of them.
pub const PART_BYTES: usize = 8 * 1024 * 1024;
const INFO_VERSION: u32 = 1;

/// The upload's state in the bucket.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Info {
    version: u32,
    multipart_id: String,
    /// Parts sent, in order (part number = index + 1).
    parts: Vec<Part>,
    /// The bytes past the last part, when there are any.
    tail: Option<Tail>,
    /// `ResumableSha256` of all `offset` bytes, hex.
    sha256_state: String,
    /// Bytes held: the parts and the tail, or (no parts, no tail) the `data` object,
    /// when the whole upload arrived before a part was sent.
    offset: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
struct Part {
    etag: String,
    bytes: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
struct Tail {
    name: String,
    bytes: u64,
}

impl Info {
    fn parts_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.bytes).sum()
    }

    fn hash(&self) -> Result<ResumableSha256> {
        hex::decode(&self.sha256_state)
            .ok()
            .and_then(|b| ResumableSha256::from_bytes(&b))
            .ok_or_else(|| Error::internal("an upload's saved SHA-256 state does not read"))
    }
}

fn store_error(what: &str, e: std::io::Error) -> Error {
    Error::io(format!("{what} (upload spool in the bucket)"), e)
}

async fn load_info(spool: &BucketSpool, id: &str) -> Result<Option<Info>> {
    let Some(bytes) = spool
        .get(id, INFO)
        .await
        .map_err(|e| store_error("cannot read an upload's state", e))?
    else {
        return Ok(None);
    };
    let info: Info = serde_json::from_slice(&bytes)
        .map_err(|e| Error::internal(format!("upload {id}'s bucket state does not read: {e}")))?;
    if info.version != INFO_VERSION {
        return Err(Error::internal(format!(
            "upload {id}'s bucket state is version {}",
            info.version
        )));
    }
    Ok(Some(info))
}

async fn save_info(spool: &BucketSpool, id: &str, info: &Info) -> Result<()> {
    let json = serde_json::to_vec(info)
        .map_err(|e| Error::internal(format!("cannot write an upload's state: {e}")))?;
    spool
        .put(id, INFO, Bytes::from(json))
        .await
        .map_err(|e| store_error("cannot save an upload's state", e))
}

/// Starts an upload's multipart upload and saves its empty state.
pub async fn create(spool: &BucketSpool, id: &str) -> Result<()> {
    let multipart_id = spool
        .create_multipart(id)
        .await
        .map_err(|e| store_error("cannot start a multipart upload", e))?;
    let info = Info {
        version: INFO_VERSION,
        multipart_id,
        parts: Vec::new(),
        tail: None,
        sha256_state: hex::encode(ResumableSha256::new().to_bytes()),
        offset: 0,
    };
    save_info(spool, id, &info).await
}

/// Deletes everything of an upload from the bucket: its multipart upload (and the parts
/// sent to it), its tails, an assembled copy and its state (last, so that a discard cut
/// short can still find the multipart upload). Best effort: what fails is logged (the
/// sweep at the next start, and the bucket's rule for incomplete multipart uploads, are
/// the backstop).
pub async fn discard(spool: &BucketSpool, id: &str) {
    let mut failed = Vec::new();
    match load_info(spool, id).await {
        Ok(Some(info)) => {
            if let Err(e) = spool.abort_multipart(id, &info.multipart_id).await {
                failed.push(e.to_string());
            }
        }
        Ok(None) => {}
        Err(e) => failed.push(e.to_string()),
    }
    if let Err(e) = spool.delete_all(id).await {
        failed.push(e.to_string());
    }
    if !failed.is_empty() {
        tracing::warn!(upload = %id, errors = ?failed, "cannot delete all of an upload from the bucket");
    }
}

type PartTask = tokio::task::JoinHandle<Result<(ResumableSha256, Part)>>;

/// Sends one part while the body goes on arriving, and hashes it (past `skip`, the bytes
/// the running hash holds already) beside it; gives the hash back with the part.
fn send_part(
    spool: &Arc<BucketSpool>,
    id: &str,
    multipart: &str,
    index: usize,
    bytes: Bytes,
    skip: usize,
    mut hash: ResumableSha256,
) -> PartTask {
    let (spool, id, multipart) = (spool.clone(), id.to_string(), multipart.to_string());
    tokio::spawn(async move {
        let hashed = bytes.clone();
        let hashing = tokio::task::spawn_blocking(move || {
            hash.update(&hashed[skip.min(hashed.len())..]);
            hash
        });
        let len = bytes.len() as u64;
        let (hash, etag) = tokio::join!(hashing, spool.put_part(&id, &multipart, index, bytes));
        let hash = hash.map_err(|e| Error::internal(format!("hashing a part failed: {e}")))?;
        let etag = etag.map_err(|e| store_error("cannot send a part", e))?;
        Ok((hash, Part { etag, bytes: len }))
    })
}

async fn collect(task: PartTask) -> Result<(ResumableSha256, Part)> {
    task.await
        .map_err(|e| Error::internal(format!("sending a part failed: {e}")))?
}

/// Writes one request body at the upload's offset, into the bucket. As `receive::receive`:
/// a cut body keeps what arrived, a body that fails its checksum keeps nothing (460).
pub async fn receive(
    app: &App,
    spool: &Arc<BucketSpool>,
    upload: &mut Upload,
    checksum: Option<(Algorithm, Vec<u8>)>,
    body: Body,
    limit: u64,
) -> Result<Outcome> {
    let start = upload.offset;
    let id = upload.id.clone();
    let info = load_info(spool, &id).await?.ok_or_else(state::gone)?;
    if info.offset > start {
        // A replica saved this state and stopped before the database took its offset:
        // the bytes are in the bucket, so the offset moves on to them.
        state::set_offset(app, &id, info.offset).await?;
        upload.offset = info.offset;
        return Err(Error::conflict(
            "offset_mismatch",
            format!(
                "the upload is at offset {}, not {start}; resume from there",
                info.offset
            ),
        ));
    }
    if info.offset < start {
        return Err(Error::internal(format!(
            "upload {id}'s bucket state reaches {} bytes, short of its offset {start}",
            info.offset
        )));
    }
    let mut buffer = BytesMut::with_capacity(PART_BYTES * 2);
    // Where `buffer` starts in the upload.
    let mut buffer_start = info.parts_bytes();
    // The saved tail the bucket holds (deleted once a newer state no longer names it).
    let mut stale_tail = info.tail.clone();
    if let Some(tail) = &info.tail {
        let bytes = spool
            .get(&id, &tail.name)
            .await
            .map_err(|e| store_error("cannot read an upload's tail", e))?
            .filter(|b| b.len() as u64 == tail.bytes)
            .ok_or_else(|| Error::internal(format!("upload {id}'s tail is not in the bucket")))?;
        tracing::debug!(upload = %id, tail = bytes.len(), offset = start, "resuming from the bucket's tail");
        buffer.extend_from_slice(&bytes);
    }
    let mut hash = Some(info.hash()?);
    // The running hash covers the upload up to here.
    let mut hashed_through = start;
    let mut parts = info.parts.clone();
    // Deleting the tail the info before this body names waits, for a checksummed body,
    // until the body has passed: a mismatch restores that info.
    let checked = checksum.is_some();
    let mut checker = checksum
        .as_ref()
        .map(|(a, _)| Background::start(Hasher::new(*a)));
    let mut in_flight: Option<PartTask> = None;
    let mut committed = start;
    let mut received: u64 = 0;
    let mut cut = false;
    let mut stream = body.into_data_stream();
    let idle = std::time::Duration::from_secs(app.config.body_idle_timeout_secs.max(1));
    let mut failure: Option<Error> = 'body: loop {
        let bytes = match tokio::time::timeout(idle, stream.next()).await {
            Ok(None) => break None,
            Ok(Some(Err(_))) | Err(_) => {
                cut = true;
                break None;
            }
            Ok(Some(Ok(bytes))) => bytes,
        };
        if start + received + bytes.len() as u64 > limit {
            break Some(past_length());
        }
        if let Some(c) = checker.as_mut() {
            c.update(bytes.clone()).await;
        }
        buffer.extend_from_slice(&bytes);
        received += bytes.len() as u64;
        while buffer.len() >= PART_BYTES {
            if let Some(task) = in_flight.take() {
                match collect(task).await {
                    Ok((h, part)) => {
                        hash = Some(h);
                        parts.push(part);
                    }
                    Err(e) => break 'body Some(e),
                }
                let deletable = if checked { &None } else { &stale_tail };
                match checkpoint(spool, &id, &info, &parts, hash.as_ref(), deletable).await {
                    Ok(offset) => {
                        if !checked {
                            stale_tail = None;
                        }
                        if let Err(e) = state::set_offset(app, &id, offset).await {
                            break 'body Some(e);
                        }
                        committed = offset;
                    }
                    Err(e) => break 'body Some(e),
                }
            }
            let part = buffer.split_to(PART_BYTES).freeze();
            let skip = hashed_through.saturating_sub(buffer_start) as usize;
            buffer_start += PART_BYTES as u64;
            hashed_through = hashed_through.max(buffer_start);
            let Some(h) = hash.take() else {
                break 'body Some(Error::internal("an upload's running hash was lost"));
            };
            in_flight = Some(send_part(
                spool,
                &id,
                &info.multipart_id,
                parts.len(),
                part,
                skip,
                h,
            ));
        }
    };
    if let Some(task) = in_flight.take() {
        match collect(task).await {
            Ok((h, part)) => {
                hash = Some(h);
                parts.push(part);
            }
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    upload.offset = committed;
    if let Some(error) = failure {
        return Err(error);
    }
    if !cut && let Some((algorithm, expected)) = checksum {
        let digest = match checker {
            Some(c) => c.finish().await.map(Hasher::finish),
            None => None,
        };
        if digest != Some(expected) {
            if committed > start {
                take_back(app, spool, &id, &info, start).await?;
                upload.offset = start;
            }
            return Err(checksum_mismatch(algorithm, start));
        }
    }
    let end = start + received;
    if end == committed {
        // A checksummed body that passed, ended on a checkpoint: the last one's info
        // names no tail.
        if let Some(stale) = stale_tail.filter(|_| committed > start) {
            let _ = spool.delete(&id, &stale.name).await;
        }
        return Ok(if cut { Outcome::Cut } else { Outcome::Stored });
    }
    let mut hash = hash.ok_or_else(|| Error::internal("an upload's running hash was lost"))?;
    let tail_bytes = buffer.freeze();
    let skip = hashed_through.saturating_sub(buffer_start) as usize;
    let hashed = tail_bytes.clone();
    let hash = tokio::task::spawn_blocking(move || {
        hash.update(&hashed[skip.min(hashed.len())..]);
        hash
    })
    .await
    .map_err(|e| Error::internal(format!("hashing the tail failed: {e}")))?;
    // The phone's usual case: the whole file in one body (or the rest of it beside a
    // tail), no part sent. It is stored as the assembled `data` object at once, so that
    // completion neither reads a tail back nor sends it as a part (`assemble` finds it).
    let whole = !cut && parts.is_empty() && upload.length == Some(end);
    let tail = if tail_bytes.is_empty() {
        None
    } else if whole {
        spool
            .put(&id, DATA, tail_bytes)
            .await
            .map_err(|e| store_error("cannot save an upload", e))?;
        None
    } else {
        let name = format!("tail-{end}");
        let bytes = tail_bytes.len() as u64;
        spool
            .put(&id, &name, tail_bytes)
            .await
            .map_err(|e| store_error("cannot save an upload's tail", e))?;
        Some(Tail { name, bytes })
    };
    let saved = Info {
        version: INFO_VERSION,
        multipart_id: info.multipart_id.clone(),
        parts,
        tail,
        sha256_state: hex::encode(hash.to_bytes()),
        offset: end,
    };
    save_info(spool, &id, &saved).await?;
    state::set_offset(app, &id, end).await?;
    upload.offset = end;
    if let Some(stale) = stale_tail {
        if saved.tail.as_ref().is_none_or(|t| t.name != stale.name) {
            let _ = spool.delete(&id, &stale.name).await;
        }
    }
    Ok(if cut { Outcome::Cut } else { Outcome::Stored })
}

/// Undoes the checkpoints of a body that failed its checksum: the offset back to `start`
/// first (a stop in between leaves the info ahead, which the next PATCH moves the offset
/// on to, keeping bytes as any cut body's are), then the info as it was before the body.
async fn take_back(
    app: &App,
    spool: &BucketSpool,
    id: &str,
    before: &Info,
    start: u64,
) -> Result<()> {
    state::set_offset(app, id, start).await?;
    save_info(spool, id, before).await
}

/// Saves the state after a part inside a body without a checksum; the offset it reaches.
async fn checkpoint(
    spool: &BucketSpool,
    id: &str,
    info: &Info,
    parts: &[Part],
    hash: Option<&ResumableSha256>,
    stale_tail: &Option<Tail>,
) -> Result<u64> {
    let hash = hash.ok_or_else(|| Error::internal("an upload's running hash was lost"))?;
    let offset = parts.iter().map(|p| p.bytes).sum();
    let saved = Info {
        version: INFO_VERSION,
        multipart_id: info.multipart_id.clone(),
        parts: parts.to_vec(),
        tail: None,
        sha256_state: hex::encode(hash.to_bytes()),
        offset,
    };
    save_info(spool, id, &saved).await?;
    if let Some(stale) = stale_tail {
        let _ = spool.delete(id, &stale.name).await;
    }
    Ok(offset)
}

/// The SHA-256 and size of everything received, from the saved state (nothing is read).
pub async fn hashed(spool: &BucketSpool, id: &str) -> Result<(String, u64)> {
    let info = load_info(spool, id).await?.ok_or_else(state::gone)?;
    Ok((hex::encode(info.hash()?.finalize()), info.offset))
}

/// Assembles the parts and the tail into the `data` object (once: a completion tried
/// again finds it there).
async fn assemble(spool: &BucketSpool, id: &str) -> Result<u64> {
    let info = load_info(spool, id).await?.ok_or_else(state::gone)?;
    let present = spool
        .size(id, DATA)
        .await
        .map_err(|e| store_error("cannot look for an assembled upload", e))?;
    if present == Some(info.offset) {
        return Ok(info.offset);
    }
    let mut etags: Vec<String> = info.parts.iter().map(|p| p.etag.clone()).collect();
    if let Some(tail) = &info.tail {
        let bytes = spool
            .get(id, &tail.name)
            .await
            .map_err(|e| store_error("cannot read an upload's tail", e))?
            .ok_or_else(|| Error::internal(format!("upload {id}'s tail is not in the bucket")))?;
        let etag = spool
            .put_part(id, &info.multipart_id, etags.len(), bytes)
            .await
            .map_err(|e| store_error("cannot send the last part", e))?;
        etags.push(etag);
    }
    if etags.is_empty() {
        // An empty file: a multipart upload needs a part, a plain object does not.
        spool
            .put(id, DATA, Bytes::new())
            .await
            .map_err(|e| store_error("cannot store an empty upload", e))?;
    } else {
        spool
            .complete_multipart(id, &info.multipart_id, etags)
            .await
            .map_err(|e| store_error("cannot assemble the upload's parts", e))?;
    }
    Ok(info.offset)
}

/// Assembles the upload and reads it as the audio it says it is (`verify::check`, on a
/// local copy streamed back from the bucket and deleted after).
pub async fn verify(
    app: &App,
    spool: &BucketSpool,
    upload: &Upload,
    representation: Representation,
    format: AudioFormat,
    declared: Option<String>,
) -> Result<verify::Checked> {
    let length = assemble(spool, &upload.id).await?;
    let local = state::spool_path(app, &upload.id);
    let started = std::time::Instant::now();
    let fetched = spool.download(&upload.id, DATA, &local).await;
    let result = match fetched {
        Ok(bytes) if bytes == length => {
            tracing::info!(upload = %upload.id, bytes, ms = started.elapsed().as_millis() as u64, "assembled upload read back for its audio check");
            let path = local.clone();
            crate::db::blocking(move || {
                verify::check(&path, representation, format, declared.as_deref())
            })
            .await
        }
        Ok(bytes) => Err(Error::internal(format!(
            "upload {} assembled to {bytes} bytes, not {length}",
            upload.id
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(state::gone()),
        Err(e) => Err(store_error("cannot read the assembled upload back", e)),
    };
    state::delete_spool(app, &upload.id);
    result
}

/// Moves the verified, assembled upload to the recording's key and deletes the rest.
pub async fn store(spool: &BucketSpool, id: &str, audio_key: &str) -> Result<()> {
    match spool.adopt(id, DATA, audio_key).await {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(state::gone()),
        other => other.map_err(|e| store_error("cannot move the audio to its key", e))?,
    }
    discard(spool, id).await;
    Ok(())
}
