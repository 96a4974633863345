//! tus 1.0 at `/api/v1/uploads`: core, creation, creation-with-upload,
//! creation-defer-length, checksum (sha1, sha256), termination, expiration.
//!
//! An upload is its state in the data layer (`data::Uploads`: its offset is what was
//! received, durably) and its spooled bytes: a file `spool/<upload id>` with the local
//! folder (`receive.rs`), objects under `tus/<upload id>/` on an object store, where any
//! replica can resume it (`bucket.rs`). On the last byte the whole file is hashed, compared
//! with the SHA-256 and size declared at creation, moved into storage and the receipt is
//! written; a mismatch keeps nothing.

mod bucket;
pub mod headers;
mod receive;
pub mod resumable_sha256;
mod state;
mod verify;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tellus_protocol::headers as h;
use tellus_protocol::{AudioFormat, Representation, metadata};
use tokio::sync::OwnedMutexGuard;

use crate::App;
use crate::auth::Principal;
use crate::clock::{http_date, now_ms};
use crate::error::{Error, Result};
use crate::media::ACCEPTED;
use crate::routes::parse_id;
use receive::{Outcome, receive};
pub use state::{Upload, discard_spool, recover, spawn_expiry_sweeper};

use crate::data::holds::{Exclusive, Held};

/// A request's hold on one upload: this replica's lock (`Locks`), then the hold across
/// replicas (`data::holds`). No other request, on any replica, writes the upload while
/// it lives.
pub struct UploadHold {
    _shared: Box<dyn Held>,
    _local: OwnedMutexGuard<()>,
}

/// Holds upload `id`, waiting up to `wait` for the request that has it; None when it is
/// still busy then (the caller answers 423).
async fn hold_upload(app: &App, id: &str, wait: std::time::Duration) -> Result<Option<UploadHold>> {
    let started = std::time::Instant::now();
    let Some(local) = app.uploads.lock_within(id, wait).await else {
        return Ok(None);
    };
    let left = wait.saturating_sub(started.elapsed());
    let id = id.to_string();
    let shared = app
        .data(move |d| d.hold(Exclusive::Upload(&id), left))
        .await?;
    Ok(shared.map(|shared| UploadHold {
        _shared: shared,
        _local: local,
    }))
}

/// Holds upload `id` if nothing has it right now.
pub(crate) async fn try_hold_upload(app: &App, id: &str) -> Result<Option<UploadHold>> {
    let Some(local) = app.uploads.try_lock(id) else {
        return Ok(None);
    };
    let id = id.to_string();
    let shared = app
        .data(move |d| d.hold(Exclusive::Upload(&id), std::time::Duration::ZERO))
        .await?;
    Ok(shared.map(|shared| UploadHold {
        _shared: shared,
        _local: local,
    }))
}

fn upload_busy(message: &'static str) -> Error {
    Error::refused(StatusCode::LOCKED, "upload_busy", message)
}

/// One lock per upload in progress: two PATCHes on one upload never interleave; the
/// second waits briefly, then is refused with 423 (tus clients retry it after asking
/// for the offset).
#[derive(Default)]
pub struct Locks {
    map: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The running SHA-256 of each upload's bytes so far, by the offset it covers, so
    /// that completion need not read the whole file again. Lost on restart; completion
    /// then hashes the file.
    hashes: Mutex<HashMap<String, (u64, sha2::Sha256)>>,
    /// Copies of recordings (storage keys) whose upload is being completed right now.
    completing: Arc<Mutex<std::collections::HashSet<String>>>,
}

/// While it lives, no other upload of the same copy of a recording can complete.
pub struct Completing {
    set: Arc<Mutex<std::collections::HashSet<String>>>,
    key: String,
}

impl Drop for Completing {
    fn drop(&mut self) {
        if let Ok(mut set) = self.set.lock() {
            set.remove(&self.key);
        }
    }
}

impl Locks {
    /// The running hash of the first `offset` bytes of an upload, if it is known.
    fn take_hash(&self, id: &str, offset: u64) -> Option<sha2::Sha256> {
        let mut hashes = self.hashes.lock().ok()?;
        match hashes.remove(id) {
            Some((at, hash)) if at == offset => Some(hash),
            _ => None,
        }
    }

    fn keep_hash(&self, id: &str, offset: u64, hash: sha2::Sha256) {
        if let Ok(mut hashes) = self.hashes.lock() {
            hashes.insert(id.to_string(), (offset, hash));
        }
    }

    fn try_lock(&self, id: &str) -> Option<OwnedMutexGuard<()>> {
        let lock = {
            let mut map = self.map.lock().ok()?;
            map.entry(id.to_string()).or_default().clone()
        };
        lock.try_lock_owned().ok()
    }

    /// Waits up to `wait` for the upload's lock (None when it stays busy).
    async fn lock_within(
        &self,
        id: &str,
        wait: std::time::Duration,
    ) -> Option<OwnedMutexGuard<()>> {
        let lock = {
            let mut map = self.map.lock().ok()?;
            map.entry(id.to_string()).or_default().clone()
        };
        tokio::time::timeout(wait, lock.lock_owned()).await.ok()
    }

    /// Marks the copy `key` (`storage::key`) as completing; None when another upload
    /// of it already is.
    fn completing(&self, key: &str) -> Option<Completing> {
        let mut set = self.completing.lock().ok()?;
        set.insert(key.to_string()).then(|| Completing {
            set: self.completing.clone(),
            key: key.to_string(),
        })
    }

    /// Drops the lock of an upload that is finished or gone.
    pub fn forget(&self, id: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(id);
        }
        if let Ok(mut hashes) = self.hashes.lock() {
            hashes.remove(id);
        }
    }
}

pub fn routes() -> Router<App> {
    Router::new()
        .route("/uploads", post(create).options(options))
        .route(
            "/uploads/{id}",
            axum::routing::head(head)
                .patch(patch)
                .delete(terminate)
                .options(options),
        )
        .layer(axum::middleware::map_response(with_tus_resumable))
        .layer(DefaultBodyLimit::disable())
}

async fn with_tus_resumable(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(h::TUS_RESUMABLE, HeaderValue::from_static(h::TUS_VERSION_1));
    response
}

/// How long a request waits for another one on the same upload to finish: a HEAD then
/// reports the settled offset, a PATCH or DELETE goes ahead (or gets 423 after it).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

const EXTENSIONS: &str =
    "creation,creation-with-upload,creation-defer-length,checksum,termination,expiration";

async fn options(State(app): State<App>) -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (h::TUS_VERSION, h::TUS_VERSION_1.to_string()),
            (h::TUS_EXTENSION, EXTENSIONS.to_string()),
            (
                h::TUS_MAX_SIZE,
                app.config.limits.recording_bytes.to_string(),
            ),
            (h::TUS_CHECKSUM_ALGORITHM, "sha1,sha256".to_string()),
        ],
    )
        .into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>> {
    headers
        .get(name)
        .map(|v| {
            v.to_str().map_err(|_| {
                Error::bad_request("invalid_header", format!("{name} is not readable text"))
            })
        })
        .transpose()
}

fn check_resumable(headers: &HeaderMap) -> Result<()> {
    match header(headers, h::TUS_RESUMABLE)? {
        Some(h::TUS_VERSION_1) => Ok(()),
        _ => Err(Error::refused(
            StatusCode::PRECONDITION_FAILED,
            "tus_version",
            "send 'Tus-Resumable: 1.0.0'; this server speaks tus 1.0.0 only",
        )),
    }
}

fn bad(message: String) -> Error {
    Error::bad_request("invalid_header", message)
}

fn too_large(app: &App, length: u64) -> Error {
    Error::refused(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!(
            "this recording is {}, and this server accepts recordings of up to {}; nothing was stored",
            readable_size(length),
            readable_size(app.config.limits.recording_bytes)
        ),
    )
}

/// A size as a person reads it: bytes below a megabyte, else MB or GB with one decimal.
fn readable_size(bytes: u64) -> String {
    match bytes {
        0..1_000_000 => format!("{bytes} bytes"),
        1_000_000..1_000_000_000 => format!("{:.1} MB", bytes as f64 / 1e6),
        _ => format!("{:.1} GB", bytes as f64 / 1e9),
    }
}

/// A body longer than the upload it belongs to: refused in bytes, which is what the
/// client got wrong (not the server's size limit).
fn beyond_length(end: u64, length: u64) -> Error {
    Error::refused(
        StatusCode::PAYLOAD_TOO_LARGE,
        "beyond_length",
        format!(
            "this body takes the upload to {end} bytes, past its declared Upload-Length of {length} bytes; nothing of it was stored"
        ),
    )
}

fn is_offset_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(h::OFFSET_OCTET_STREAM))
}

fn content_length(headers: &HeaderMap) -> Result<Option<u64>> {
    header(headers, header::CONTENT_LENGTH.as_str())?
        .map(|v| headers::parse_u64("Content-Length", v).map_err(bad))
        .transpose()
}

/// What the client declared at creation, read from `Upload-Metadata`.
struct Declared {
    story_id: String,
    recording_id: String,
    sha256: String,
    content_type: String,
    representation: Representation,
    pcm_sha256: Option<String>,
}

fn declared(headers: &HeaderMap) -> Result<Declared> {
    let raw = header(headers, h::UPLOAD_METADATA)?.unwrap_or_default();
    let mut pairs = headers::parse_metadata(raw).map_err(bad)?;
    let mut text = |key: &str| -> Result<String> {
        let value = pairs.remove(key).ok_or_else(|| {
            Error::bad_request(
                "missing_metadata",
                format!("Upload-Metadata must carry '{key}' (story_id, recording_id, sha256, content_type)"),
            )
        })?;
        String::from_utf8(value).map_err(|_| bad(format!("Upload-Metadata '{key}' is not UTF-8")))
    };
    let story_id = parse_id(&text(metadata::STORY_ID)?, "story")?;
    let recording_id = parse_id(&text(metadata::RECORDING_ID)?, "recording")?;
    let sha256 = headers::parse_sha256_hex(text(metadata::SHA256)?.as_bytes()).map_err(bad)?;
    // Recordings are audio: the server keeps its own spelling of an allowed type and
    // serves that, never the client's words (a declared text/html would otherwise be
    // served as a page under the lead's origin).
    let declared_type = text(metadata::CONTENT_TYPE)?;
    let format = AudioFormat::from_content_type(&declared_type).ok_or_else(|| {
        Error::refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "a recording must be audio: declare {ACCEPTED} in Upload-Metadata 'content_type'"
            ),
        )
    })?;
    // Absent = lossless: every phone before issue 20 uploads its WAV so.
    let representation = match pairs.remove(metadata::REPRESENTATION) {
        None => Representation::Lossless,
        Some(value) => std::str::from_utf8(&value)
            .ok()
            .and_then(Representation::parse)
            .ok_or_else(|| {
                Error::bad_request(
                    "invalid_representation",
                    "Upload-Metadata 'representation' must be 'lossless' or 'listening'",
                )
            })?,
    };
    if !representation.allows(format) {
        return Err(Error::refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "format_not_allowed",
            format!(
                "a {representation} copy cannot be {}: the lossless copy is audio/flac or audio/wav, the listening copy audio/ogg (Opus)",
                format.content_type()
            ),
        ));
    }
    let pcm_sha256 = pairs
        .remove(metadata::PCM_SHA256)
        .map(|v| headers::parse_sha256_hex(&v).map_err(|e| bad(format!("pcm_sha256: {e}"))))
        .transpose()?;
    if pcm_sha256.is_some() && representation != Representation::Lossless {
        return Err(bad(
            "Upload-Metadata 'pcm_sha256' belongs to the lossless copy only; a listening copy has no PCM identity".into(),
        ));
    }
    Ok(Declared {
        story_id,
        recording_id,
        sha256,
        content_type: format.content_type().to_string(),
        representation,
        pcm_sha256,
    })
}

fn upload_headers(upload: &Upload) -> Vec<(&'static str, String)> {
    let mut out = vec![
        (h::UPLOAD_OFFSET, upload.offset.to_string()),
        (h::UPLOAD_EXPIRES, http_date(upload.expires_at)),
    ];
    match upload.length {
        Some(length) => out.push((h::UPLOAD_LENGTH, length.to_string())),
        None => out.push((h::UPLOAD_DEFER_LENGTH, "1".to_string())),
    }
    out
}

async fn create(
    State(app): State<App>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    check_resumable(&headers)?;
    let project_id = who.reporter("upload audio")?.to_string();
    let length = match (
        header(&headers, h::UPLOAD_LENGTH)?,
        header(&headers, h::UPLOAD_DEFER_LENGTH)?,
    ) {
        (Some(v), None) => Some(headers::parse_u64("Upload-Length", v).map_err(bad)?),
        (None, Some("1")) => None,
        _ => {
            return Err(bad(
                "send either Upload-Length or 'Upload-Defer-Length: 1' (not both)".into(),
            ));
        }
    };
    if let Some(length) = length.filter(|l| *l > app.config.limits.recording_bytes) {
        return Err(too_large(&app, length));
    }
    let declared = declared(&headers)?;
    let with_body = is_offset_stream(&headers);
    if with_body {
        if let (Some(cl), Some(length)) = (content_length(&headers)?, length) {
            if cl > length {
                return Err(beyond_length(cl, length));
            }
        }
    }
    let reporter_id = who.id.clone();
    let expires_at = now_ms().saturating_add(
        i64::try_from(app.config.upload_expiry_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
    );
    let upload = Upload {
        id: uuid::Uuid::now_v7().to_string(),
        reporter_id,
        project_id,
        story_id: declared.story_id,
        recording_id: declared.recording_id,
        sha256: declared.sha256,
        content_type: declared.content_type,
        representation: declared.representation,
        pcm_sha256: declared.pcm_sha256,
        length,
        offset: 0,
        expires_at,
    };
    // Consent and ownership are checked before the spool file exists: an upload for a
    // story without `record` consent stores nothing at all.
    let row = upload.clone();
    app.data(move |d| d.create_upload(&row, now_ms())).await?;
    if let Err(e) = state::create_spool(&app, &upload.id).await {
        let _ = state::remove(&app, &upload.id).await;
        return Err(e);
    }
    tracing::info!(upload = %upload.id, recording = %upload.recording_id, representation = %upload.representation, "upload created");
    let location = format!("{}/uploads/{}", crate::API_PREFIX, upload.id);
    let mut upload = upload;
    let mut receipt = None;
    if with_body {
        // Nobody else knows this upload yet, but the hold keeps a PATCH that guesses it out.
        let guard = try_hold_upload(&app, &upload.id).await?;
        let (result, written) = write_detached(&app, upload, headers, body, guard).await?;
        upload = written;
        match result {
            Ok(sha256) => receipt = sha256,
            // The upload exists with what was stored of the body (a chunk that failed
            // its checksum is not); the client resumes from the offset.
            Err(Error::Refused { code, .. }) if !state::discarded(code) => {}
            Err(e @ Error::Refused { .. }) => return Err(e),
            Err(e) => {
                let _ = state::remove(&app, &upload.id).await;
                return Err(e);
            }
        }
    }
    let mut response =
        (StatusCode::CREATED, [(header::LOCATION.as_str(), location)]).into_response();
    for (name, value) in upload_headers(&upload) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    if let Some(v) = receipt.and_then(|sha| HeaderValue::from_str(&sha).ok()) {
        response.headers_mut().insert(h::TELLUS_RECEIPT_SHA256, v);
    }
    Ok(response)
}

/// Loads an upload that `who` owns and that has not expired.
async fn owned(app: &App, who: &Principal, id: &str) -> Result<Upload> {
    who.reporter("upload audio")?;
    // tus clients take a 404 as "create again"; a 400 would leave them stuck.
    let id = parse_id(id, "upload").map_err(|_| Error::not_found("upload"))?;
    let upload = state::load(app, &id).await?;
    let upload = upload
        .filter(|u| u.reporter_id == who.id)
        .ok_or_else(|| Error::not_found("upload"))?;
    if upload.expires_at <= now_ms() {
        return Err(Error::refused(
            StatusCode::GONE,
            "expired",
            "this upload expired before it was finished; start a new one",
        ));
    }
    Ok(upload)
}

async fn head(
    State(app): State<App>,
    who: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    check_resumable(&headers)?;
    let upload = owned(&app, &who, &id).await?;
    // A client asks for the offset right after its connection broke; the server may
    // still be committing what arrived on it. Waiting briefly for that write to settle
    // answers with the whole received prefix instead of an older offset.
    let settled = matches!(hold_upload(&app, &upload.id, LOCK_WAIT).await, Ok(Some(_)));
    let upload = if settled {
        owned(&app, &who, &id).await?
    } else {
        upload
    };
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for (name, value) in upload_headers(&upload) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    Ok(response)
}

async fn patch(
    State(app): State<App>,
    who: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    check_resumable(&headers)?;
    if !is_offset_stream(&headers) {
        return Err(Error::refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_type",
            "a PATCH body must be 'Content-Type: application/offset+octet-stream'",
        ));
    }
    let offset = header(&headers, h::UPLOAD_OFFSET)?
        .ok_or_else(|| bad("a PATCH needs Upload-Offset".into()))
        .and_then(|v| headers::parse_u64("Upload-Offset", v).map_err(bad))?;
    let mut upload = owned(&app, &who, &id).await?;
    let Some(guard) = hold_upload(&app, &upload.id, LOCK_WAIT).await? else {
        return Err(upload_busy(
            "another request is writing to this upload; ask for its offset (HEAD) and try again",
        ));
    };
    // Read again under the lock: a PATCH that just finished may have moved the offset.
    upload = owned(&app, &who, &id).await?;
    if offset != upload.offset {
        return Err(Error::conflict(
            "offset_mismatch",
            format!(
                "the upload is at offset {}, not {offset}; resume from there",
                upload.offset
            ),
        ));
    }
    let (result, upload) = write_detached(&app, upload, headers, body, Some(guard)).await?;
    let receipt = result?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    for (name, value) in upload_headers(&upload) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    if let Some(sha256) = receipt {
        if let Ok(v) = HeaderValue::from_str(&sha256) {
            response.headers_mut().insert(h::TELLUS_RECEIPT_SHA256, v);
        }
    }
    Ok(response)
}

/// Runs `write_chunk` on a task of its own, holding the upload's lock. When the client
/// hangs up, hyper may drop the request's future; the task goes on, sees the body end
/// early, and commits the prefix that arrived (DESIGN.md §3) before it lets go of the
/// lock.
async fn write_detached(
    app: &App,
    mut upload: Upload,
    headers: HeaderMap,
    body: Body,
    guard: Option<UploadHold>,
) -> Result<(Result<Option<String>>, Upload)> {
    let app = app.clone();
    tokio::spawn(async move {
        let _guard = guard;
        let result = write_chunk(&app, &mut upload, &headers, body).await;
        (result, upload)
    })
    .await
    .map_err(|e| Error::internal(format!("an upload task failed: {e}")))
}

/// Writes one PATCH (or creation-with-upload) body at the upload's offset. Returns the
/// verified SHA-256 when this body completed the upload.
async fn write_chunk(
    app: &App,
    upload: &mut Upload,
    headers: &HeaderMap,
    body: Body,
) -> Result<Option<String>> {
    if let Some(v) = header(headers, h::UPLOAD_LENGTH)? {
        let length = headers::parse_u64("Upload-Length", v).map_err(bad)?;
        match upload.length {
            Some(known) if known != length => {
                return Err(bad(format!("Upload-Length was already set to {known}")));
            }
            Some(_) => {}
            None => {
                if length > app.config.limits.recording_bytes {
                    return Err(too_large(app, length));
                }
                if length < upload.offset {
                    return Err(bad(
                        "Upload-Length is smaller than what was already received".into(),
                    ));
                }
                state::set_length(app, &upload.id, length).await?;
                upload.length = Some(length);
            }
        }
    }
    let checksum = header(headers, h::UPLOAD_CHECKSUM)?
        .map(|v| headers::parse_checksum(v).map_err(bad))
        .transpose()?;
    let limit = upload.length.unwrap_or(app.config.limits.recording_bytes);
    if let Some(cl) = content_length(headers)? {
        if upload.offset.saturating_add(cl) > limit {
            return Err(match upload.length {
                Some(length) => beyond_length(upload.offset.saturating_add(cl), length),
                None => too_large(app, upload.offset.saturating_add(cl)),
            });
        }
    }
    let outcome = match app.storage.spool_bucket() {
        Some(spool) => bucket::receive(app, &spool, upload, checksum, body, limit).await?,
        None => receive(app, upload, checksum, body, limit).await?,
    };
    match outcome {
        Outcome::Cut => Err(Error::bad_request(
            "connection_cut",
            "the body ended early; the bytes received are kept, ask for the offset",
        )),
        Outcome::Stored => {
            if upload.length == Some(upload.offset) {
                let receipt = state::complete(app, upload).await?;
                Ok(Some(receipt))
            } else {
                Ok(None)
            }
        }
    }
}

async fn terminate(
    State(app): State<App>,
    who: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode> {
    check_resumable(&headers)?;
    let upload = owned(&app, &who, &id).await?;
    let Some(_guard) = hold_upload(&app, &upload.id, LOCK_WAIT).await? else {
        return Err(upload_busy(
            "another request is writing to this upload; try again",
        ));
    };
    state::remove(&app, &upload.id).await?;
    tracing::info!(upload = %upload.id, "upload terminated");
    Ok(StatusCode::NO_CONTENT)
}
