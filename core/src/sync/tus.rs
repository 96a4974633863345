//! The tus 1.0 uploader. Every chunk is streamed from the recording (a `FileRange`
//! body, never the whole file in memory) with `Upload-Checksum: sha256`; after any failure
//! the server is asked for its offset (HEAD) and the upload continues from there, never
//! from the client's own idea of it, so what the server kept of a cut PATCH is never
//! sent again. A recording is delivered only when the server's receipt shows its SHA-256
//! and size.
//!
//! A fresh upload goes as ONE PATCH of the whole file whose `Upload-Checksum` is the
//! SHA-256 taken while recording: nothing is hashed again on the phone, the server checks
//! the same hash it keeps for the receipt, and no round trip or fsync per chunk holds the
//! link up. Only what is left after a cut is sent in chunks sized to the link, each
//! hashed while the one before it is on the wire.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use tellus_protocol::{Receipt, headers as h, metadata};

use super::api::{Api, SendError, error_code, parse, refusal};
use super::transport::{Method, RequestBody};
use crate::Store;
use crate::model::{RecordingId, StoryId};
use tellus_protocol::{AudioFormat, Representation};

/// Bytes of the first chunk after a cut, and the least any chunk carries. A cut costs at
/// most what had not arrived, because the server keeps the received prefix of a cut PATCH.
pub(crate) const CHUNK_BYTES: u64 = 8 * 1024 * 1024;
/// The most a chunk carries: what a checksum mismatch (460) sends again, and what a
/// platform transport writes to a chunk file.
pub(crate) const MAX_CHUNK_BYTES: u64 = 64 * 1024 * 1024;
/// How often the bytes of a PATCH on its way are reported as progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// How long a PATCH should take. Each PATCH costs a round trip and an fsync plus offset
/// commit on the server; on a fast link fixed 8 MiB chunks spend much of their time on
/// that (on Wi-Fi at 50 MB/s with a 50 ms round trip, a fifth), so chunks grow with the
/// link until one takes about this long, and progress still moves every second or so.
const PATCH_TARGET: Duration = Duration::from_secs(1);

/// Network failures in a row without the server's offset moving before the sync gives
/// up on this run (the server is unreachable; the next sync resumes).
const MAX_FAILURES_WITHOUT_PROGRESS: u32 = 4;
/// Checksum mismatches (460) of one chunk in a row before the item counts as failed.
const MAX_CHECKSUM_RETRIES: u32 = 3;

/// How an upload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UploadOutcome {
    Delivered(Receipt),
    /// Retrying cannot help; the reporter is told why.
    Parked(String),
    /// Failed this time; counts toward parking.
    Failed(String),
    /// The network is down or the server unreachable (try again on the next sync), or
    /// its certificate is not trusted.
    Unreachable(super::TransportError),
    /// 401: the device must enrol again.
    Unauthorized,
    /// The story was withdrawn on the server (410).
    Withdrawn,
    Cancelled,
}

/// One file of a recording to send (one representation), as the outbox and the store
/// know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AudioUpload {
    /// The outbox item it is delivered under.
    pub item_id: String,
    pub recording_id: RecordingId,
    pub story_id: StoryId,
    pub representation: Representation,
    pub format: AudioFormat,
    /// File name inside `recordings/`.
    pub file_name: String,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the whole file.
    pub sha256: String,
    /// The PCM identity, sent with a lossless copy when it is known.
    pub pcm_sha256: Option<String>,
}

/// One file to send and, if an upload was begun before, its path on the server.
pub(crate) struct UploadJob<'a> {
    pub audio: &'a AudioUpload,
    pub file: PathBuf,
    pub upload_path: Option<String>,
}

/// What the server is asked to take: where uploads are created, the length, the
/// `Upload-Metadata` value, and the file the bytes come from.
pub(crate) struct Target<'a> {
    pub creation_path: &'a str,
    pub length: u64,
    pub metadata: String,
    pub file: &'a Path,
    /// The whole file's SHA-256 when it is known (taken while recording): a fresh upload
    /// then goes as one PATCH with it as the checksum.
    pub sha256: Option<[u8; 32]>,
}

/// What the uploader reports as it goes, for the caller to persist.
pub(crate) enum Event<'a> {
    /// The upload now lives at this path (None: forget it, it is gone).
    Located(Option<&'a str>),
    /// The server holds this many bytes.
    Confirmed(u64),
    /// This many bytes have left or been confirmed; a PATCH is on its way (progress only).
    Sending(u64),
}

enum Step {
    /// Ask the server what it holds (or create the upload when there is none).
    Locate,
    /// Send from this offset.
    Send(u64),
}

/// Delivers one recording of the store and checks its receipt.
pub(crate) async fn upload(
    api: &Api,
    store: &Store,
    job: UploadJob<'_>,
    on_progress: &(dyn Fn(u64) + Send + Sync),
) -> UploadOutcome {
    let rec = job.audio;
    match std::fs::metadata(&job.file) {
        Ok(m) if m.len() == rec.bytes => {}
        Ok(m) => {
            return UploadOutcome::Parked(format!(
                "the audio file changed on this device ({} bytes, {} expected)",
                m.len(),
                rec.bytes
            ));
        }
        Err(_) => return UploadOutcome::Parked("the audio file is missing on this device".into()),
    }
    let target = Target {
        creation_path: "/api/v1/uploads",
        length: rec.bytes,
        metadata: encode_metadata(rec),
        file: &job.file,
        sha256: hex::decode(&rec.sha256)
            .ok()
            .and_then(|d| d.try_into().ok()),
    };
    let last_saved = std::sync::Mutex::new(None::<std::time::Instant>);
    let on_event = |event: Event<'_>| match event {
        // Persisted before any byte is sent: a process killed from here on resumes this
        // upload instead of creating another.
        Event::Located(path) => store
            .set_upload_path(&rec.item_id, path)
            .map_err(|e| e.to_string()),
        // The server's offset is the truth; the stored copy only feeds "uploading n %",
        // so it is written at most once a second rather than after every chunk.
        Event::Confirmed(bytes) => {
            on_progress(bytes);
            let mut last = last_saved.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                *last = Some(std::time::Instant::now());
                store
                    .set_confirmed_bytes(&rec.item_id, bytes)
                    .map_err(|e| e.to_string())
            } else {
                Ok(())
            }
        }
        Event::Sending(bytes) => {
            on_progress(bytes);
            Ok(())
        }
    };
    match transfer(api, &target, job.upload_path, &on_event).await {
        None => {}
        Some(outcome) => return outcome,
    }
    match receipt(api, rec).await {
        Ok(outcome) => outcome,
        Err(SendError::Cancelled) => UploadOutcome::Cancelled,
        Err(SendError::Transport(e)) => UploadOutcome::Unreachable(e),
    }
}

/// Sends a whole file to any tus 1.0 server (creation, core, checksum): creates the
/// upload (or resumes the one at `upload_url`) and PATCHes from the server's offset
/// until it holds every byte. Returns the upload's path on the server. For a Tellus
/// server, `SyncEngine` does this and checks the receipt; this is the bare uploader,
/// also used against other tus servers.
pub async fn send_file(
    transport: std::sync::Arc<dyn super::Transport>,
    endpoint: &str,
    file: &Path,
    metadata: &[(&str, &str)],
    upload_url: Option<String>,
) -> Result<String, String> {
    let (origin, creation_path) = split_origin(endpoint);
    let api = Api {
        transport,
        base: origin,
        token: None,
        server_pin: None,
        cancel: tokio_util::sync::CancellationToken::new(),
    };
    let length = std::fs::metadata(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?
        .len();
    let target = Target {
        creation_path: &creation_path,
        length,
        metadata: metadata
            .iter()
            .map(|(k, v)| format!("{k} {}", STANDARD.encode(v)))
            .collect::<Vec<_>>()
            .join(","),
        file,
        sha256: None,
    };
    let location = std::sync::Mutex::new(upload_url.clone());
    let on_event = |event: Event<'_>| {
        if let Event::Located(path) = event {
            *location.lock().unwrap_or_else(|p| p.into_inner()) = path.map(str::to_string);
        }
        Ok(())
    };
    let start = upload_url.map(|u| split_origin(&u).1);
    match transfer(&api, &target, start, &on_event).await {
        None => {}
        Some(outcome) => return Err(format!("{outcome:?}")),
    }
    let path = location
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_default();
    Ok(path)
}

/// `http://host:port/a/b` → (`http://host:port`, `/a/b`).
fn split_origin(url: &str) -> (String, String) {
    match url.find("://") {
        Some(scheme_end) => {
            let rest = &url[scheme_end + 3..];
            match rest.find('/') {
                Some(slash) => (
                    url[..scheme_end + 3 + slash].to_string(),
                    rest[slash..].to_string(),
                ),
                None => (url.to_string(), "/".to_string()),
            }
        }
        None => (String::new(), url.to_string()),
    }
}

/// Creates or resumes the upload and sends every byte the server does not hold yet.
/// `None` when the server holds the whole file; otherwise how it ended.
async fn transfer(
    api: &Api,
    target: &Target<'_>,
    mut path: Option<String>,
    on_event: &(dyn Fn(Event<'_>) -> Result<(), String> + Send + Sync),
) -> Option<UploadOutcome> {
    let mut step = Step::Locate;
    let mut failures = 0u32;
    let mut best = 0u64;
    let mut checksum_retries = 0u32;
    let mut chunks = Chunks::new(target, api.transport.counts_sent_bytes());
    loop {
        let result: Result<Step, SendError> = match step {
            Step::Locate => {
                let located = match &path {
                    None => create(api, target).await,
                    Some(p) => head(api, p, target.length).await,
                };
                match located {
                    Ok(Located::At(p, offset)) => {
                        if path.as_deref() != Some(p.as_str())
                            && let Err(e) = on_event(Event::Located(Some(&p)))
                        {
                            return Some(UploadOutcome::Failed(e));
                        }
                        path = Some(p);
                        Ok(Step::Send(offset))
                    }
                    Ok(Located::Again) if path.is_some() => {
                        path = None;
                        if let Err(e) = on_event(Event::Located(None)) {
                            return Some(UploadOutcome::Failed(e));
                        }
                        Ok(Step::Locate)
                    }
                    Ok(Located::Again) => {
                        return Some(UploadOutcome::Failed(
                            "the upload could not be started".into(),
                        ));
                    }
                    Ok(Located::Complete) => return None,
                    Ok(Located::Done(outcome)) => return Some(outcome),
                    Err(e) => Err(e),
                }
            }
            Step::Send(offset) => {
                if offset > best {
                    best = offset;
                    failures = 0;
                    if let Err(e) = on_event(Event::Confirmed(offset)) {
                        return Some(UploadOutcome::Failed(e));
                    }
                }
                if offset >= target.length {
                    return None;
                }
                let Some(p) = path.clone() else {
                    step = Step::Locate;
                    continue;
                };
                match patch(api, &p, target, offset, &mut chunks, on_event).await {
                    Ok(Patched::To(next)) => {
                        checksum_retries = 0;
                        Ok(Step::Send(next))
                    }
                    Ok(Patched::ChecksumMismatch) => {
                        // The whole file was refused against the hash taken while
                        // recording: either the bytes changed on the way (send again, in
                        // chunks hashed now) or the file on this device changed since.
                        if offset == 0
                            && let Some(recorded) = chunks.whole_file.take()
                            && let Some(outcome) = unless_recorded(target, recorded).await
                        {
                            return Some(outcome);
                        }
                        checksum_retries += 1;
                        if checksum_retries > MAX_CHECKSUM_RETRIES {
                            return Some(UploadOutcome::Failed(
                                "the server kept seeing a different checksum for a chunk".into(),
                            ));
                        }
                        Ok(Step::Send(offset))
                    }
                    Ok(Patched::Relocate) => Ok(Step::Locate),
                    Ok(Patched::Gone) => {
                        path = None;
                        if let Err(e) = on_event(Event::Located(None)) {
                            return Some(UploadOutcome::Failed(e));
                        }
                        Ok(Step::Locate)
                    }
                    Ok(Patched::Done(outcome)) => {
                        if matches!(outcome, UploadOutcome::Failed(_)) {
                            let _ = on_event(Event::Located(None));
                        }
                        return Some(outcome);
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Ok(next) => step = next,
            Err(SendError::Cancelled) => return Some(UploadOutcome::Cancelled),
            Err(SendError::Transport(e)) if e.is_not_trusted() => {
                return Some(UploadOutcome::Unreachable(e));
            }
            Err(SendError::Transport(e)) => {
                // The link dropped: whatever arrived is kept by the server. Ask it.
                failures += 1;
                chunks.after_failure();
                if failures >= MAX_FAILURES_WITHOUT_PROGRESS {
                    return Some(UploadOutcome::Unreachable(e));
                }
                let wait = super::backoff::delay_after(failures).min(Duration::from_secs(2));
                if api.pause(wait / 4).await.is_err() {
                    return Some(UploadOutcome::Cancelled);
                }
                step = Step::Locate;
            }
        }
    }
}

enum Located {
    /// The upload's path and the server's offset.
    At(String, u64),
    /// The upload is gone (404, 410, expired): create it again.
    Again,
    /// The server already holds the whole recording (delivered before).
    Complete,
    Done(UploadOutcome),
}

fn encode_metadata(rec: &AudioUpload) -> String {
    let mut pairs = vec![
        (metadata::STORY_ID, rec.story_id.to_string()),
        (metadata::RECORDING_ID, rec.recording_id.to_string()),
        (metadata::SHA256, rec.sha256.clone()),
        // The server takes exactly the three audio formats (anything else: 415).
        (
            metadata::CONTENT_TYPE,
            rec.format.content_type().to_string(),
        ),
        (
            metadata::REPRESENTATION,
            rec.representation.as_str().to_string(),
        ),
    ];
    if rec.representation == Representation::Lossless
        && let Some(pcm) = &rec.pcm_sha256
    {
        pairs.push((metadata::PCM_SHA256, pcm.clone()));
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{k} {}", STANDARD.encode(v)))
        .collect::<Vec<_>>()
        .join(",")
}

fn offset_of(response: &super::transport::TransportResponse) -> Option<u64> {
    response.header(h::UPLOAD_OFFSET)?.trim().parse().ok()
}

async fn create(api: &Api, target: &Target<'_>) -> Result<Located, SendError> {
    let request = api
        .request_at(Method::Post, target.creation_path)
        .header(h::TUS_RESUMABLE, h::TUS_VERSION_1)
        .header(h::UPLOAD_LENGTH, target.length.to_string())
        .header(h::UPLOAD_METADATA, target.metadata.clone());
    let response = api.send(request).await?;
    Ok(match response.status {
        201 => match response.header("location") {
            Some(location) => Located::At(server_path(location), offset_of(&response).unwrap_or(0)),
            None => Located::Done(UploadOutcome::Failed(
                "the server created the upload without saying where".into(),
            )),
        },
        // Delivered before (a receipt the phone did not get to save): the receipt is
        // checked next.
        409 if error_code(&response).as_deref() == Some("already_delivered") => Located::Complete,
        401 => Located::Done(UploadOutcome::Unauthorized),
        410 => Located::Done(UploadOutcome::Withdrawn),
        413 => Located::Done(UploadOutcome::Parked(format!(
            "the server does not take a recording this large: {}",
            refusal(&response)
        ))),
        _ => Located::Done(UploadOutcome::Failed(refusal(&response))),
    })
}

/// The path part of a Location (the server may answer with a path or a full URL), so
/// that an upload survives the server moving to another address.
fn server_path(location: &str) -> String {
    if location.contains("://") {
        split_origin(location).1
    } else {
        location.to_string()
    }
}

/// What the server holds of the upload at `path` (of a `length`-byte recording), when
/// it says so now.
pub(crate) async fn offset_on_server(api: &Api, path: &str, length: u64) -> Option<u64> {
    match head(api, path, length).await {
        Ok(Located::At(_, offset)) => Some(offset),
        _ => None,
    }
}

async fn head(api: &Api, path: &str, length: u64) -> Result<Located, SendError> {
    loop {
        let request = api
            .request_at(Method::Head, path)
            .header(h::TUS_RESUMABLE, h::TUS_VERSION_1);
        let response = api.send(request).await?;
        return Ok(match response.status {
            200 | 204 => {
                let declared: Option<u64> = response
                    .header(h::UPLOAD_LENGTH)
                    .and_then(|v| v.trim().parse().ok());
                match (offset_of(&response), declared) {
                    (Some(offset), Some(l)) if l == length && offset <= length => {
                        Located::At(path.to_string(), offset)
                    }
                    // Not the upload this recording needs: start a proper one.
                    _ => Located::Again,
                }
            }
            401 => Located::Done(UploadOutcome::Unauthorized),
            403 | 404 | 410 => Located::Again,
            423 => {
                api.pause(Duration::from_millis(300)).await?;
                continue;
            }
            _ => Located::Done(UploadOutcome::Failed(refusal(&response))),
        });
    }
}

enum Patched {
    To(u64),
    ChecksumMismatch,
    /// The offsets disagree (409) or the upload is busy: ask the server again.
    Relocate,
    /// The upload is gone: create it again.
    Gone,
    Done(UploadOutcome),
}

/// SHA-256 of `len` bytes of `file` from `offset`, read in small pieces.
fn range_sha256(file: &Path, offset: u64, len: u64) -> std::io::Result<[u8; 32]> {
    let mut f = std::fs::File::open(file)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut taken = f.take(len);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = taken.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    if total != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the recording is shorter than expected",
        ));
    }
    Ok(hasher.finalize().into())
}

/// None when the file still has the SHA-256 it was recorded with; else why it cannot be
/// sent.
async fn unless_recorded(target: &Target<'_>, recorded: [u8; 32]) -> Option<UploadOutcome> {
    let (file, length) = (target.file.to_path_buf(), target.length);
    match tokio::task::spawn_blocking(move || range_sha256(&file, 0, length)).await {
        Ok(Ok(now)) if now == recorded => None,
        Ok(Ok(_)) => Some(UploadOutcome::Parked(
            "the audio file on this device changed after it was recorded (its SHA-256 differs); it was not sent".into(),
        )),
        Ok(Err(e)) => Some(UploadOutcome::Parked(format!(
            "the audio file cannot be read: {e}"
        ))),
        Err(e) => Some(UploadOutcome::Failed(e.to_string())),
    }
}

/// The checksum of the next chunk, computed on a blocking thread while the current
/// chunk is on the wire, so that hashing never holds up sending.
#[derive(Default)]
struct Prefetch {
    next: Option<Hashing>,
}

type Hashing = (u64, u64, tokio::task::JoinHandle<std::io::Result<[u8; 32]>>);

fn hash_later(file: &Path, offset: u64, len: u64) -> Hashing {
    let owned = file.to_path_buf();
    let task = tokio::task::spawn_blocking(move || range_sha256(&owned, offset, len));
    (offset, len, task)
}

impl Prefetch {
    fn start(&mut self, file: &Path, offset: u64, len: u64) {
        if let Some((_, _, old)) = self.next.replace(hash_later(file, offset, len)) {
            old.abort();
        }
    }

    /// The length and checksum of the chunk at `offset`: the one prefetched for it, else
    /// `len` bytes hashed now.
    async fn digest(
        &mut self,
        file: &Path,
        offset: u64,
        len: u64,
    ) -> Result<(u64, [u8; 32]), UploadOutcome> {
        let (len, task) = match self.next.take() {
            Some((o, l, task)) if o == offset => (l, task),
            other => {
                if let Some((_, _, old)) = other {
                    old.abort();
                }
                (len, hash_later(file, offset, len).2)
            }
        };
        match task.await {
            Ok(Ok(d)) => Ok((len, d)),
            Ok(Err(e)) => Err(UploadOutcome::Parked(format!(
                "the audio file cannot be read: {e}"
            ))),
            Err(e) => Err(UploadOutcome::Failed(e.to_string())),
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        if let Some((_, _, task)) = self.next.take() {
            task.abort();
        }
    }
}

/// Decides each PATCH: its length and its checksum.
struct Chunks {
    /// The recording's SHA-256, while a PATCH of the whole file may use it.
    whole_file: Option<[u8; 32]>,
    prefetch: Prefetch,
    sizer: ChunkSizer,
}

impl Chunks {
    /// The whole file goes as one PATCH only over a transport that reports its bytes as
    /// they leave: otherwise progress would stand still for the whole recording.
    fn new(target: &Target<'_>, counts_sent_bytes: bool) -> Self {
        Chunks {
            whole_file: target.sha256.filter(|_| counts_sent_bytes),
            prefetch: Prefetch::default(),
            sizer: ChunkSizer::default(),
        }
    }

    /// The length and checksum of the PATCH at `offset` of a file of `size` bytes: the
    /// whole file with its known hash when nothing was sent yet; otherwise a chunk sized
    /// to the link, and the next one starts hashing in the background.
    async fn next(
        &mut self,
        file: &Path,
        offset: u64,
        size: u64,
    ) -> Result<(u64, [u8; 32]), UploadOutcome> {
        if let (0, Some(digest)) = (offset, self.whole_file) {
            return Ok((size, digest));
        }
        let (len, digest) = self
            .prefetch
            .digest(file, offset, self.len_at(offset, size))
            .await?;
        let next = offset + len;
        if next < size {
            let next_len = self.len_at(next, size);
            self.prefetch.start(file, next, next_len);
        }
        Ok((len, digest))
    }

    fn len_at(&self, offset: u64, size: u64) -> u64 {
        self.sizer.size().min(size - offset)
    }

    /// Back to small chunks until the link proves itself again: a link that failed
    /// mid-body (or a proxy that buffers whole bodies) is not handed the whole file
    /// again, and a platform transport that failed to write a big chunk file on a full
    /// phone gets a small one next. The whole-file SHA-256 at completion still checks
    /// the chunks end to end.
    fn after_failure(&mut self) {
        self.whole_file = None;
        self.sizer = ChunkSizer::default();
        self.prefetch = Prefetch::default();
    }
}

/// Sizes PATCHes after the link: each next chunk is what the link carried in
/// `PATCH_TARGET` so far, between `CHUNK_BYTES` and `MAX_CHUNK_BYTES`.
struct ChunkSizer {
    next: u64,
}

impl Default for ChunkSizer {
    fn default() -> Self {
        ChunkSizer { next: CHUNK_BYTES }
    }
}

impl ChunkSizer {
    const STEP: u64 = 1024 * 1024;

    fn size(&self) -> u64 {
        self.next
    }

    /// A PATCH of `bytes` was answered after `took`.
    fn observe(&mut self, bytes: u64, took: Duration) {
        let rate = bytes as f64 / took.as_secs_f64().max(0.001);
        let fits = (rate * PATCH_TARGET.as_secs_f64()) as u64;
        self.next = (fits / Self::STEP * Self::STEP).clamp(CHUNK_BYTES, MAX_CHUNK_BYTES);
    }
}

async fn patch(
    api: &Api,
    path: &str,
    target: &Target<'_>,
    offset: u64,
    chunks: &mut Chunks,
    on_event: &(dyn Fn(Event<'_>) -> Result<(), String> + Send + Sync),
) -> Result<Patched, SendError> {
    let (file, size) = (target.file, target.length);
    let (len, digest) = match chunks.next(file, offset, size).await {
        Ok(chunk) => chunk,
        Err(outcome) => return Ok(Patched::Done(outcome)),
    };
    let sent_at = std::time::Instant::now();
    let request = api
        .request_at(Method::Patch, path)
        .header(h::TUS_RESUMABLE, h::TUS_VERSION_1)
        .header("content-type", h::OFFSET_OCTET_STREAM)
        .header(h::UPLOAD_OFFSET, offset.to_string())
        .header(
            h::UPLOAD_CHECKSUM,
            format!("sha256 {}", STANDARD.encode(digest)),
        )
        .body(RequestBody::FileRange {
            path: file.to_path_buf(),
            offset,
            len,
        });
    let sent = Arc::new(AtomicU64::new(0));
    let sending = api.send_counting(request, sent.clone());
    tokio::pin!(sending);
    let mut ticks =
        tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    let response = loop {
        tokio::select! {
            response = &mut sending => break response?,
            _ = ticks.tick() => {
                let _ = on_event(Event::Sending(offset + sent.load(Ordering::Relaxed)));
            }
        }
    };
    Ok(match response.status {
        200 | 204 => match offset_of(&response) {
            Some(next) if next > offset && next <= size => {
                chunks.sizer.observe(next - offset, sent_at.elapsed());
                Patched::To(next)
            }
            _ => Patched::Relocate,
        },
        409 | 423 => {
            if response.status == 423 {
                api.pause(Duration::from_millis(300)).await?;
            }
            Patched::Relocate
        }
        460 => Patched::ChecksumMismatch,
        401 => Patched::Done(UploadOutcome::Unauthorized),
        404 => Patched::Gone,
        410 if error_code(&response).as_deref() == Some("withdrawn") => {
            Patched::Done(UploadOutcome::Withdrawn)
        }
        410 => Patched::Gone,
        413 => Patched::Done(UploadOutcome::Parked(format!(
            "the server does not take a recording this large: {}",
            refusal(&response)
        ))),
        // The whole file's SHA-256 did not match on the server: it dropped the upload.
        422 => Patched::Done(UploadOutcome::Failed(refusal(&response))),
        _ => Patched::Done(UploadOutcome::Failed(refusal(&response))),
    })
}

/// The receipt of one representation: the lossless copy's at the path every server
/// has, the listening copy's with `?representation=listening`.
fn receipt_path(rec: &AudioUpload) -> String {
    match rec.representation {
        Representation::Lossless => format!("/recordings/{}/receipt", rec.recording_id),
        Representation::Listening => format!(
            "/recordings/{}/receipt?representation=listening",
            rec.recording_id
        ),
    }
}

/// Whether the server's receipt is for exactly this file: the same representation,
/// SHA-256 and size, and for a lossless copy the same PCM identity when the receipt
/// carries one (older servers do not).
pub(crate) fn receipt_matches(receipt: &Receipt, rec: &AudioUpload) -> bool {
    let pcm_agrees = match (&receipt.pcm_sha256, &rec.pcm_sha256) {
        (Some(theirs), Some(ours)) => theirs.eq_ignore_ascii_case(ours),
        _ => true,
    };
    receipt.representation == rec.representation
        && receipt.sha256.eq_ignore_ascii_case(&rec.sha256)
        && receipt.bytes == rec.bytes
        && (rec.representation == Representation::Listening || pcm_agrees)
}

/// Fetches the receipt and compares it with the file.
async fn receipt(api: &Api, rec: &AudioUpload) -> Result<UploadOutcome, SendError> {
    let request = api.request(Method::Get, &receipt_path(rec));
    let response = api.send(request).await?;
    Ok(match response.status {
        200 => match parse::<Receipt>(&response) {
            Ok(r) if receipt_matches(&r, rec) => UploadOutcome::Delivered(r),
            Ok(r) => UploadOutcome::Parked(format!(
                "the server holds different audio for this recording's {} copy ({}, SHA-256 {}, {} bytes)",
                rec.representation, r.representation, r.sha256, r.bytes
            )),
            Err(e) => UploadOutcome::Failed(e),
        },
        401 => UploadOutcome::Unauthorized,
        410 => UploadOutcome::Withdrawn,
        _ => UploadOutcome::Failed(format!("no receipt yet: {}", refusal(&response))),
    })
}

/// Terminates an upload in progress (tus termination); a missing one is fine.
pub(crate) async fn terminate(api: &Api, path: &str) -> Result<bool, SendError> {
    let request = api
        .request_at(Method::Delete, path)
        .header(h::TUS_RESUMABLE, h::TUS_VERSION_1);
    let response = api.send(request).await?;
    Ok(matches!(response.status, 204 | 200 | 404 | 410))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_follow_the_link_within_their_bounds() {
        let mut sizer = ChunkSizer::default();
        assert_eq!(sizer.size(), CHUNK_BYTES);
        // 20 MB/s: a second's worth, rounded down to whole MiB.
        sizer.observe(10_000_000, Duration::from_millis(500));
        assert_eq!(sizer.size(), 19 * 1024 * 1024);
        // Loopback: capped.
        sizer.observe(CHUNK_BYTES, Duration::from_millis(5));
        assert_eq!(sizer.size(), MAX_CHUNK_BYTES);
        // A slow link: never below the first chunk's size.
        sizer.observe(CHUNK_BYTES, Duration::from_secs(60));
        assert_eq!(sizer.size(), CHUNK_BYTES);
        // An answer with no measurable time does not divide by zero.
        sizer.observe(CHUNK_BYTES, Duration::ZERO);
        assert_eq!(sizer.size(), MAX_CHUNK_BYTES);
    }

    #[test]
    fn a_location_keeps_only_its_path() {
        assert_eq!(server_path("/api/v1/uploads/abc"), "/api/v1/uploads/abc");
        assert_eq!(
            server_path("http://127.0.0.1:9/api/v1/uploads/abc"),
            "/api/v1/uploads/abc"
        );
    }
}
