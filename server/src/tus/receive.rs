//! Writing one request body into an upload's spool file.
//!
//! Bytes are written through as they stream and fsynced before the offset that covers
//! them is committed. A body cut off mid-way keeps what arrived (DESIGN.md §3: the
//! whole-file SHA-256 at the end is the backstop); a body that arrives whole but does
//! not match its `Upload-Checksum` is cut back to where it started (460); a full disk
//! cuts back to the last committed offset (507), so nothing is ever half-written.

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use futures_util::StreamExt;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

use super::headers::Algorithm;
use super::state::{self, Upload};
use crate::App;
use crate::error::{Error, Result};

pub enum Outcome {
    /// The whole body was stored and its offset committed.
    Stored,
    /// The client went away mid-body; the prefix that arrived is committed.
    Cut,
}

/// Without a per-chunk checksum, commit the offset at least this often inside one long
/// PATCH, so a server crash loses at most this much.
const CHECKPOINT_BYTES: u64 = 8 * 1024 * 1024;
const WRITE_BUFFER: usize = 1024 * 1024;

enum Hasher {
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Hasher {
    fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

pub async fn receive(
    app: &App,
    upload: &mut Upload,
    checksum: Option<(Algorithm, Vec<u8>)>,
    body: Body,
    limit: u64,
) -> Result<Outcome> {
    let start = upload.offset;
    let path = state::spool_path(app, &upload.id);
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .await
        .map_err(|e| Error::io("cannot open the upload's spool file", e))?;
    // Anything past the committed offset is an unconfirmed tail (a crash mid-body).
    file.set_len(start)
        .await
        .map_err(|e| Error::io("cannot trim the spool file", e))?;
    let mut file = BufWriter::with_capacity(WRITE_BUFFER, file);
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(|e| Error::io("cannot seek in the spool file", e))?;

    let mut hasher = checksum
        .as_ref()
        .map(|(a, _)| Background::start(Hasher::new(*a)));
    // The whole file's running hash, when it is known up to `start`.
    let known = app
        .uploads
        .take_hash(&upload.id, start)
        .or_else(|| (start == 0).then(Sha256::new));
    let before = known.clone();
    let mut whole = known.map(Background::start);
    let mut received: u64 = 0;
    let mut committed = start;
    let mut cut = false;
    let mut stream = body.into_data_stream();
    let idle = std::time::Duration::from_secs(app.config.body_idle_timeout_secs.max(1));
    let failure: Option<Error> = loop {
        // A link that dies without a reset sends nothing more; after `idle` the body
        // counts as cut, so the upload's lock is not held until TCP gives up.
        let bytes = match tokio::time::timeout(idle, stream.next()).await {
            Ok(None) => break None,
            Ok(Some(Err(_))) | Err(_) => {
                cut = true;
                break None;
            }
            Ok(Some(Ok(bytes))) => bytes,
        };
        if start + received + bytes.len() as u64 > limit {
            break Some(Error::refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                "beyond_length",
                "this body goes past the upload's length; nothing of it was kept",
            ));
        }
        if let Some(h) = hasher.as_mut() {
            h.update(bytes.clone()).await;
        }
        if let Some(w) = whole.as_mut() {
            w.update(bytes.clone()).await;
        }
        if let Err(e) = file.write_all(&bytes).await {
            break Some(Error::io("cannot write the spool file", e));
        }
        received += bytes.len() as u64;
        if hasher.is_none() && start + received - committed >= CHECKPOINT_BYTES {
            if let Err(e) = durable(&mut file).await {
                break Some(e);
            }
            committed = start + received;
            upload.offset = committed;
            if let Err(e) = state::set_offset(app, &upload.id, committed).await {
                break Some(e);
            }
        }
    };

    if let Some(error) = failure {
        // Back to the last committed offset: the database and the file agree again.
        let _ = file.flush().await;
        let inner = file.into_inner();
        let _ = inner.set_len(committed).await;
        let _ = inner.sync_all().await;
        upload.offset = committed;
        return Err(error);
    }

    if !cut {
        if let (Some(h), Some((algorithm, expected))) = (hasher, checksum) {
            // A hashing thread that died leaves the chunk unverified: refused like a
            // mismatch, so the client sends it again.
            if h.finish().await.map(Hasher::finish) != Some(expected) {
                let _ = file.flush().await;
                let inner = file.into_inner();
                inner
                    .set_len(start)
                    .await
                    .map_err(|e| Error::io("cannot discard a corrupted chunk", e))?;
                upload.offset = start;
                if let Some(before) = before {
                    app.uploads.keep_hash(&upload.id, start, before);
                }
                return Err(Error::refused(
                    StatusCode::from_u16(tellus_protocol::headers::STATUS_CHECKSUM_MISMATCH)
                        .unwrap_or(StatusCode::BAD_REQUEST),
                    "checksum_mismatch",
                    format!(
                        "the chunk does not match its {} checksum and was discarded; the offset is still {start}",
                        match algorithm {
                            Algorithm::Sha1 => "sha1",
                            Algorithm::Sha256 => "sha256",
                        }
                    ),
                ));
            }
        }
    }

    if let Err(e) = durable(&mut file).await {
        let inner = file.into_inner();
        let _ = inner.set_len(committed).await;
        upload.offset = committed;
        return Err(e);
    }
    upload.offset = start + received;
    if upload.offset != committed {
        state::set_offset(app, &upload.id, upload.offset).await?;
    }
    if let Some(whole) = whole
        && let Some(hash) = whole.finish().await
    {
        app.uploads.keep_hash(&upload.id, upload.offset, hash);
    }
    Ok(if cut { Outcome::Cut } else { Outcome::Stored })
}

trait Feed: Send + 'static {
    fn feed(&mut self, bytes: &[u8]);
}

impl Feed for Sha256 {
    fn feed(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

impl Feed for Hasher {
    fn feed(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
        }
    }
}

/// A hash fed in batches on tokio's blocking pool while the handler reads the socket and
/// writes the file: the chunk's checksum and the upload's running SHA-256 then use the
/// idle core instead of queueing on the handler's. A pool thread is held only while it
/// hashes a batch that has arrived, never while the body is still on its way (a slow or
/// stalled client must not pin pool threads that SQLite and file writes need), and each
/// hash has at most one batch in flight plus one filling: memory stays about 2 MiB a hash.
struct Background<H> {
    hashing: Hashing<H>,
    filling: Vec<Bytes>,
    filled: usize,
}

enum Hashing<H> {
    /// No batch in flight.
    Ready(H),
    /// A batch is being hashed; the task gives the hash back.
    Busy(tokio::task::JoinHandle<H>),
    /// A hashing task panicked: the hash is lost.
    Lost,
}

impl<H: Feed> Background<H> {
    /// Bytes collected before they are handed to a pool thread.
    const BATCH: usize = 1024 * 1024;

    fn start(hash: H) -> Self {
        Background {
            hashing: Hashing::Ready(hash),
            filling: Vec::new(),
            filled: 0,
        }
    }

    async fn update(&mut self, frame: Bytes) {
        self.filled += frame.len();
        self.filling.push(frame);
        if self.filled >= Self::BATCH {
            self.hand_over().await;
        }
    }

    /// The hash once the batch in flight (if any) is done; None when it was lost.
    async fn take(&mut self) -> Option<H> {
        match std::mem::replace(&mut self.hashing, Hashing::Lost) {
            Hashing::Ready(hash) => Some(hash),
            Hashing::Busy(task) => task.await.ok(),
            Hashing::Lost => None,
        }
    }

    /// Waits for the batch in flight (if any), then starts hashing the one filled.
    async fn hand_over(&mut self) {
        let batch = std::mem::take(&mut self.filling);
        self.filled = 0;
        if let Some(mut hash) = self.take().await {
            self.hashing = Hashing::Busy(tokio::task::spawn_blocking(move || {
                for frame in &batch {
                    hash.feed(frame);
                }
                hash
            }));
        }
    }

    /// The hash of everything fed; None when a hashing task panicked (then the chunk is
    /// refused, or the whole file is hashed from disk at the end).
    async fn finish(mut self) -> Option<H> {
        if !self.filling.is_empty() {
            self.hand_over().await;
        }
        self.take().await
    }
}

/// Flushes the buffer and fsyncs the data, so that an offset covering it may be reported.
async fn durable(file: &mut BufWriter<tokio::fs::File>) -> Result<()> {
    file.flush()
        .await
        .map_err(|e| Error::io("cannot write the spool file", e))?;
    file.get_mut()
        .sync_data()
        .await
        .map_err(|e| Error::io("cannot flush the spool file to disk", e))
}
