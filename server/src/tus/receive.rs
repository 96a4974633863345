//! Writing one request body into an upload's spool file.
//!
//! Bytes are written through as they stream and fsynced before the offset that covers
//! them is committed. A body cut off mid-way keeps what arrived (DESIGN.md §3: the
//! whole-file SHA-256 at the end is the backstop); a body that arrives whole but does
//! not match its `Upload-Checksum` is cut back to where it started (460); a full disk
//! cuts back to the last committed offset (507), so nothing is ever half-written.

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use std::sync::Arc;

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

/// Inside one long body, commit the offset about this often, so a server crash costs the
/// client little more than this in sending again.
const CHECKPOINT_BYTES: u64 = 8 * 1024 * 1024;
const WRITE_BUFFER: usize = 1024 * 1024;

pub(super) enum Hasher {
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Hasher {
    pub(super) fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
        }
    }

    pub(super) fn finish(self) -> Vec<u8> {
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
    let mut checkpoints = Checkpoints::new(app, &upload.id, &file, start).await?;
    let mut file = BufWriter::with_capacity(WRITE_BUFFER, file);
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(|e| Error::io("cannot seek in the spool file", e))?;

    // The whole file's running hash, when it is known up to `start`.
    let known = app
        .uploads
        .take_hash(&upload.id, start)
        .or_else(|| (start == 0).then(Sha256::new));
    // A SHA-256 checksum of a body from the first byte is the running hash itself at the
    // body's end: hashing once halves the work of a whole-file PATCH.
    let shared = start == 0 && matches!(checksum, Some((Algorithm::Sha256, _)));
    let mut hasher = checksum
        .as_ref()
        .filter(|_| !shared)
        .map(|(a, _)| Background::start(Hasher::new(*a)));
    let before = known.clone();
    let mut whole = known.map(Background::start);
    let mut received: u64 = 0;
    let mut cut = false;
    let mut stream = body.into_data_stream();
    let idle = std::time::Duration::from_secs(app.config.body_idle_timeout_secs.max(1));
    let failure: Option<Error> = 'body: loop {
        // A link that dies without a reset sends nothing more; after `idle` the body
        // counts as cut, so the upload's lock is not held until TCP gives up.
        let quiet_until = tokio::time::Instant::now() + idle;
        let next = loop {
            tokio::select! {
                // A checkpoint that ends while the body is quiet lets the next one start
                // now, not only when more bytes come.
                settled = checkpoints.settle(), if checkpoints.in_flight() => {
                    let next_one = match settled {
                        Ok(()) => checkpoints.offer(&mut file, start + received).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = next_one {
                        break 'body Some(e);
                    }
                }
                next = tokio::time::timeout_at(quiet_until, stream.next()) => break next,
            }
        };
        let bytes = match next {
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
        if let Err(e) = checkpoints.offer(&mut file, start + received).await {
            break Some(e);
        }
    };
    // Nothing may be cut back while an offset past it is being committed.
    let settled = checkpoints.settle().await;
    let committed = checkpoints.committed;
    upload.offset = committed;

    if let Some(error) = failure.or(settled.err()) {
        // Back to the last committed offset: the database and the file agree again.
        let _ = file.flush().await;
        let inner = file.into_inner();
        let _ = inner.set_len(committed).await;
        let _ = inner.sync_all().await;
        return Err(error);
    }

    let whole_hash = match whole {
        Some(w) => w.finish().await,
        None => None,
    };
    if !cut && let Some((algorithm, expected)) = checksum {
        // A hashing thread that died leaves the chunk unverified: refused like a
        // mismatch, so the client sends it again.
        let digest = match hasher {
            Some(h) => h.finish().await.map(Hasher::finish),
            None => whole_hash.clone().map(|h| h.finalize().to_vec()),
        };
        if digest != Some(expected) {
            // The offset goes back before the bytes do: a crash in between leaves a tail
            // past the offset, which the next PATCH trims.
            if committed != start {
                state::set_offset(app, &upload.id, start).await?;
            }
            upload.offset = start;
            let _ = file.flush().await;
            file.into_inner()
                .set_len(start)
                .await
                .map_err(|e| Error::io("cannot discard a corrupted chunk", e))?;
            if let Some(before) = before {
                app.uploads.keep_hash(&upload.id, start, before);
            }
            return Err(checksum_mismatch(algorithm, start));
        }
    }

    if let Err(e) = durable(&mut file).await {
        let inner = file.into_inner();
        let _ = inner.set_len(committed).await;
        return Err(e);
    }
    if start + received != committed {
        state::set_offset(app, &upload.id, start + received).await?;
    }
    upload.offset = start + received;
    if let Some(hash) = whole_hash {
        app.uploads.keep_hash(&upload.id, upload.offset, hash);
    }
    Ok(if cut { Outcome::Cut } else { Outcome::Stored })
}

/// 413: the body goes past the upload's length (or the server's limit); the bytes up to
/// the offset are kept, none past it.
pub(super) fn past_length() -> Error {
    Error::refused(
        StatusCode::PAYLOAD_TOO_LARGE,
        "beyond_length",
        "this body goes past the upload's length; nothing past the offset was kept",
    )
}

/// 460: the body did not match its `Upload-Checksum`; nothing of it was kept.
pub(super) fn checksum_mismatch(algorithm: Algorithm, start: u64) -> Error {
    Error::refused(
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
    )
}

/// Commits the offset every `CHECKPOINT_BYTES` inside a long body, so that a server crash
/// costs the client at most that much sending again. The fsync and the commit of one
/// checkpoint run in the background while later bytes keep arriving (stopping to read
/// for each would idle the link for the disk's flush); at most one is in flight, and an
/// offset is committed only after the bytes below it are on disk. A checksummed body's
/// checkpoints are taken back if the whole body then does not match.
struct Checkpoints {
    app: App,
    id: String,
    /// A second handle on the spool file, for fsyncs beside the writes.
    sync: Arc<std::fs::File>,
    /// The offset the database holds.
    committed: u64,
    in_flight: Option<(u64, tokio::task::JoinHandle<Result<()>>)>,
}

impl Checkpoints {
    async fn new(app: &App, id: &str, file: &tokio::fs::File, committed: u64) -> Result<Self> {
        let sync = file
            .try_clone()
            .await
            .map_err(|e| Error::io("cannot open the upload's spool file", e))?
            .into_std()
            .await;
        Ok(Checkpoints {
            app: app.clone(),
            id: id.to_string(),
            sync: Arc::new(sync),
            committed,
            in_flight: None,
        })
    }

    /// Called after each write with the offset the written bytes reach: collects a
    /// finished checkpoint and starts the next when one is due.
    async fn offer(&mut self, file: &mut BufWriter<tokio::fs::File>, reached: u64) -> Result<()> {
        if self
            .in_flight
            .as_ref()
            .is_some_and(|(_, t)| t.is_finished())
        {
            self.settle().await?;
        }
        if self.in_flight.is_some() || reached - self.committed < CHECKPOINT_BYTES {
            return Ok(());
        }
        // The bytes below `reached` reach the kernel before the fsync starts.
        file.flush()
            .await
            .map_err(|e| Error::io("cannot write the spool file", e))?;
        let (app, id, sync) = (self.app.clone(), self.id.clone(), self.sync.clone());
        let task = tokio::spawn(async move {
            tokio::task::spawn_blocking(move || sync.sync_data())
                .await
                .map_err(|e| Error::io("cannot flush the spool file to disk", e.into()))?
                .map_err(|e| Error::io("cannot flush the spool file to disk", e))?;
            state::set_offset(&app, &id, reached).await
        });
        self.in_flight = Some((reached, task));
        Ok(())
    }

    fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Waits for the checkpoint in flight, if any. Cancel-safe: dropped before the
    /// checkpoint ends, it leaves it in flight.
    async fn settle(&mut self) -> Result<()> {
        let Some((offset, task)) = self.in_flight.as_mut() else {
            return Ok(());
        };
        let joined = task.await;
        let offset = *offset;
        self.in_flight = None;
        match joined {
            Ok(Ok(())) => {
                self.committed = offset;
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(e) => Err(Error::io("cannot flush the spool file to disk", e.into())),
        }
    }
}

pub(super) trait Feed: Send + 'static {
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
pub(super) struct Background<H> {
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

    pub(super) fn start(hash: H) -> Self {
        Background {
            hashing: Hashing::Ready(hash),
            filling: Vec::new(),
            filled: 0,
        }
    }

    pub(super) async fn update(&mut self, frame: Bytes) {
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
    pub(super) async fn finish(mut self) -> Option<H> {
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
