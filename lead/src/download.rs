//! One copy of a recording into the folder: resumable with Range, verified against the
//! SHA-256 and size the feed announced (the server's receipt) and, for a lossless copy
//! whose receipt carries one, against its PCM identity by decoding it (tellus-media),
//! then moved into place. Until then the bytes live in `.tellus-pull/partial/`, so a
//! killed pull resumes where it stopped and the folder never holds a recording that is
//! not whole and verified.

use std::fs::{self, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::client::{AudioFetch, LeadClient};
use crate::fsutil::{Durability, hash_file, move_into_place};
use crate::layout::{Layout, audio_file};
use crate::manifest::FileEntry;
use crate::{Error, Result};
use tellus_protocol::{AudioFormat, Representation};

/// Tries per recording within one run for a network failure or a passing server error;
/// each try resumes from the bytes already held.
const ATTEMPTS: u32 = 4;

/// A copy of a recording the feed says was delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub story_id: String,
    pub recording_id: String,
    pub representation: Representation,
    pub format: AudioFormat,
    pub sha256: String,
    pub bytes: u64,
    /// The PCM identity the server computed for a lossless copy (absent for recordings
    /// delivered before issue 20: their SHA-256 is the check, as it was).
    pub pcm_sha256: Option<String>,
}

impl Wanted {
    pub fn rel_path(&self) -> String {
        audio_file(&self.story_id, &self.recording_id, self.format)
    }

    fn what(&self) -> String {
        match self.representation {
            Representation::Lossless => format!("the audio of recording {}", self.recording_id),
            Representation::Listening => {
                format!("the listening copy of recording {}", self.recording_id)
            }
        }
    }

    fn entry(&self) -> FileEntry {
        FileEntry {
            sha256: self.sha256.clone(),
            bytes: self.bytes,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Fetched now: `fetched` bytes over the network, `resumed` already held from an
    /// earlier, interrupted run.
    Downloaded { fetched: u64, resumed: u64 },
    /// Already in the folder, whole (an earlier run got it before it was stopped).
    AlreadyPresent,
    /// The server no longer has it (the story was withdrawn since).
    Gone,
}

/// Gets `wanted` into the folder. `on_bytes` hears of every piece that arrives.
pub async fn fetch(
    client: &LeadClient,
    layout: &Layout,
    wanted: &Wanted,
    on_bytes: &(dyn Fn(u64) + Send + Sync),
) -> Result<Outcome> {
    let target = layout.path(&wanted.rel_path());
    if target.exists() && hash_blocking(target.clone()).await? == wanted.entry() {
        on_bytes(wanted.bytes);
        return Ok(Outcome::AlreadyPresent);
    }
    let partial = layout.partial(
        &wanted.story_id,
        &wanted.recording_id,
        wanted.representation,
    );
    let mut attempt = 0;
    loop {
        attempt += 1;
        match fetch_once(client, &partial, &target, wanted, on_bytes).await {
            Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                // Backoff for a server or network that is having a moment.
                tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
            }
            Err(Error::Integrity(_)) if attempt < ATTEMPTS && !partial.exists() => {
                // What was resumed did not add up: the partial is gone; start afresh.
            }
            other => return other,
        }
    }
}

async fn fetch_once(
    client: &LeadClient,
    partial: &Path,
    target: &Path,
    wanted: &Wanted,
    on_bytes: &(dyn Fn(u64) + Send + Sync),
) -> Result<Outcome> {
    let mut held = fs::metadata(partial).map_or(0, |m| m.len());
    if held > wanted.bytes {
        held = 0;
    }
    if held == wanted.bytes && held > 0 {
        // Everything arrived before the last run stopped; only the move was missing.
        return finish(
            partial,
            target,
            wanted,
            hash_blocking(partial.to_path_buf()).await?,
            held,
        )
        .await
        .map(|()| {
            on_bytes(held);
            Outcome::Downloaded {
                fetched: 0,
                resumed: held,
            }
        });
    }
    let (start, mut response) = match client
        .audio(
            &wanted.recording_id,
            wanted.representation,
            held,
            &wanted.sha256,
        )
        .await?
    {
        AudioFetch::Gone => {
            let _ = fs::remove_file(partial);
            return Ok(Outcome::Gone);
        }
        AudioFetch::Whole(response) => (0, response),
        AudioFetch::From(start, response) => (start, response),
    };
    on_bytes(start);
    if let Some(parent) = partial.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io_at("create", parent, e))?;
    }
    // The file is written and hashed on a blocking thread while the network is read
    // here: the two overlap, and no async task blocks on the disk.
    let (tx, rx) = mpsc::channel(16);
    let writer = {
        let partial = partial.to_path_buf();
        tokio::task::spawn_blocking(move || write_chunks(&partial, start, rx))
    };
    let what = wanted.what();
    let mut received = start;
    let streamed: Result<()> = async {
        loop {
            let piece = tokio::time::timeout(
                crate::client::READ_TIMEOUT,
                tellus_net::http::next_piece(response.body_mut()),
            )
            .await
            .map_err(|_| Error::Network {
                what: what.clone(),
                reason: format!(
                    "the download stopped for {} s",
                    crate::client::READ_TIMEOUT.as_secs()
                ),
            })?;
            let Some(chunk) = piece.transpose().map_err(|e| Error::net(what.clone(), e))? else {
                break;
            };
            received += chunk.len() as u64;
            if received > wanted.bytes {
                return Err(Error::Protocol(format!(
                    "{what} is longer than the {} bytes announced",
                    wanted.bytes
                )));
            }
            let len = chunk.len() as u64;
            if tx.send(chunk).await.is_err() {
                break; // the writer failed; its error is reported below
            }
            on_bytes(len);
        }
        Ok(())
    }
    .await;
    drop(tx);
    let written = writer
        .await
        .map_err(|e| Error::Folder(format!("a download's writer stopped: {e}")))?
        .map_err(|e| Error::io_at("write", partial, e))?;
    streamed?;
    finish(partial, target, wanted, written, start)
        .await
        .map(|()| Outcome::Downloaded {
            fetched: wanted.bytes - start,
            resumed: start,
        })
}

/// Moves a whole, verified partial into place; a partial that does not verify is
/// deleted, never moved.
async fn finish(
    partial: &Path,
    target: &Path,
    wanted: &Wanted,
    found: FileEntry,
    resumed: u64,
) -> Result<()> {
    if found.bytes < wanted.bytes {
        // The body ended early (the connection closed): keep what came, resume later.
        return Err(Error::Incomplete(format!(
            "{} stopped at {} of {} bytes",
            wanted.what(),
            found.bytes,
            wanted.bytes
        )));
    }
    if found != wanted.entry() {
        let _ = fs::remove_file(partial);
        return Err(Error::Integrity(format!(
            "{} does not match the SHA-256 the server announced{}; it was discarded",
            wanted.what(),
            if resumed > 0 {
                " (resumed from an earlier run)"
            } else {
                ""
            }
        )));
    }
    if let Some(expected) = wanted.pcm_sha256.clone() {
        let (path, format) = (partial.to_path_buf(), wanted.format);
        let decoded = tokio::task::spawn_blocking(move || tellus_media::identity(&path, format))
            .await
            .map_err(|e| Error::Folder(format!("decoding stopped: {e}")))?;
        let problem = match decoded {
            Ok(identity) if identity.pcm_sha256.eq_ignore_ascii_case(&expected) => None,
            Ok(_) => Some("decodes to other audio than its receipt's PCM identity".to_string()),
            Err(e) => Some(format!("does not decode as {format} ({e})")),
        };
        if let Some(problem) = problem {
            let _ = fs::remove_file(partial);
            return Err(Error::Integrity(format!(
                "{} {problem}; it was discarded",
                wanted.what()
            )));
        }
    }
    move_into_place(partial, target, Durability::WithPage)
}

/// Writes the pieces after the first `start` bytes of `path` (kept from an earlier
/// run), hashing the kept prefix and the new pieces.
fn write_chunks<B: AsRef<[u8]>>(
    path: &PathBuf,
    start: u64,
    mut rx: mpsc::Receiver<B>,
) -> std::io::Result<FileEntry> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)?;
    file.set_len(start)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut prefix = (&mut file).take(start);
    loop {
        let n = prefix.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    file.seek(SeekFrom::Start(start))?;
    // Small enough that a killed run keeps most of what arrived.
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let mut bytes = start;
    while let Some(chunk) = rx.blocking_recv() {
        let chunk = chunk.as_ref();
        out.write_all(chunk)?;
        hasher.update(chunk);
        bytes += chunk.len() as u64;
    }
    let file = out.into_inner().map_err(|e| e.into_error())?;
    // Durable with the page (fsutil::sync_page); elsewhere than Linux, now.
    if !cfg!(target_os = "linux") {
        file.sync_all()?;
    }
    Ok(FileEntry {
        sha256: hex::encode(hasher.finalize()),
        bytes,
    })
}

async fn hash_blocking(path: PathBuf) -> Result<FileEntry> {
    tokio::task::spawn_blocking(move || hash_file(&path))
        .await
        .map_err(|e| Error::Folder(format!("hashing stopped: {e}")))?
}
