//! The files made from a finished recording (issue 20, docs/data-saver.md): a FLAC that
//! is verified sample for sample against the WAV before it is recorded as the lossless
//! copy, and an Ogg Opus listening copy, verified the same way. Each is written to
//! `<id>.<ext>.partial`, checked, fsynced, renamed and only then recorded in one
//! transaction; the WAV is deleted only after that, and only when the reporter does not
//! keep WAVs. A kill at any point leaves the WAV; the next run (or the next store open,
//! which removes stale `.partial` files) does the work again. Everything streams through
//! tellus-media: no recording is ever held in memory.
//!
//! Runs where the time is spent off any UI thread: the sync engine's preparation step
//! (on a blocking thread), `tellus record` after it stops, and the FFI's blocking
//! `prepare_audio` that shells call from background work.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::Serialize;
use tellus_media::{MediaError, OpusSettings, PcmIdentity, PcmSpec};
use tellus_protocol::{AudioFormat, Representation};

use super::session::finalize_name;
use crate::error::{Error, Result};
use crate::model::{Recording, RecordingFile, RecordingId, StoryId, Timestamp};
use crate::store::{Preparation, Store};

/// Held (locked) while a recording's files are being made, so that two processes (the
/// recorder's CLI and a sync) never write the same `.partial`.
pub(crate) const PREPARING: &str = ".preparing";
/// What a file being made is called until it is verified.
pub(crate) const PARTIAL: &str = ".partial";

/// One file made and recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MadeFile {
    pub recording_id: RecordingId,
    pub representation: Representation,
    pub format: AudioFormat,
    pub bytes: u64,
}

/// A file that could not be made now, and why (tried again on the next run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrepareFailure {
    pub recording_id: RecordingId,
    pub representation: Representation,
    pub reason: String,
}

/// What one preparation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PrepareReport {
    pub made: Vec<MadeFile>,
    /// Recordings whose WAV was deleted, its verified FLAC recorded (keep_wav off).
    pub wav_removed: Vec<RecordingId>,
    pub failed: Vec<PrepareFailure>,
    /// Recordings another process is preparing right now (left to it).
    pub busy: Vec<RecordingId>,
}

impl PrepareReport {
    fn absorb(&mut self, other: PrepareReport) {
        self.made.extend(other.made);
        self.wav_removed.extend(other.wav_removed);
        self.failed.extend(other.failed);
        self.busy.extend(other.busy);
    }
}

/// Makes every file any recording on this device still lacks.
pub fn prepare_audio(store: &Store) -> Result<PrepareReport> {
    let mut report = PrepareReport::default();
    for p in store.recordings_to_prepare()? {
        report.absorb(prepare_recording(store, p.recording.id)?);
    }
    Ok(report)
}

/// Makes the files the recordings of one story still lack.
pub fn prepare_story_audio(store: &Store, story: StoryId) -> Result<PrepareReport> {
    let mut report = PrepareReport::default();
    for p in store.recordings_to_prepare()? {
        if p.recording.story_id == story {
            report.absorb(prepare_recording(store, p.recording.id)?);
        }
    }
    Ok(report)
}

/// Makes the files one recording still lacks (nothing when it has them).
pub fn prepare_recording(store: &Store, id: RecordingId) -> Result<PrepareReport> {
    let mut report = PrepareReport::default();
    let dir = store.recordings_dir();
    let Some(_lock) = WorkLock::take(&dir, id)? else {
        report.busy.push(id);
        return Ok(report);
    };
    // Read under the lock: another process may have finished it meanwhile.
    let Some(p) = store.preparation(id)? else {
        return Err(Error::NotFound {
            what: "recording",
            id: id.to_string(),
        });
    };
    let wav = dir.join(&p.recording.file_name);
    if (p.needs_lossless || p.needs_listening) && !wav.exists() {
        report.failed.push(PrepareFailure {
            recording_id: id,
            representation: if p.needs_lossless {
                Representation::Lossless
            } else {
                Representation::Listening
            },
            reason: "the recorded WAV is not on this device".into(),
        });
        return Ok(report);
    }
    if p.needs_lossless {
        match make_lossless(store, &dir, &p) {
            Ok(file) => report.made.push(made(&file)),
            Err(reason) => {
                report.failed.push(PrepareFailure {
                    recording_id: id,
                    representation: Representation::Lossless,
                    reason,
                });
                return Ok(report);
            }
        }
    }
    let Some(p) = store.preparation(id)? else {
        return Ok(report);
    };
    if p.needs_listening {
        match make_listening(store, &dir, &p.recording) {
            Ok(file) => report.made.push(made(&file)),
            Err(reason) => report.failed.push(PrepareFailure {
                recording_id: id,
                representation: Representation::Listening,
                reason,
            }),
        }
    }
    if remove_wav_if_replaced(store, &dir, id)? {
        report.wav_removed.push(id);
    }
    Ok(report)
}

fn made(file: &RecordingFile) -> MadeFile {
    MadeFile {
        recording_id: file.recording_id,
        representation: file.representation,
        format: file.format,
        bytes: file.bytes,
    }
}

/// The lossless file: a verified FLAC, or the WAV itself when its upload began before
/// issue 20 (or when no FLAC of it can be made that holds exactly its samples).
fn make_lossless(
    store: &Store,
    dir: &Path,
    p: &Preparation,
) -> std::result::Result<RecordingFile, String> {
    let rec = &p.recording;
    let wav = dir.join(&rec.file_name);
    if p.wav_is_lossless {
        return record_wav_as_lossless(store, &wav, rec);
    }
    let partial = dir.join(format!("{}.flac{PARTIAL}", rec.id));
    let done = dir.join(format!("{}.flac", rec.id));
    let attempt = (|| -> std::result::Result<RecordingFile, MediaError> {
        let encoded = tellus_media::encode_flac(&wav, &partial)?;
        let verified = tellus_media::verify_flac(&partial, &wav)?;
        if verified != encoded.identity {
            return Err(MediaError::Mismatch { frame: 0 });
        }
        finalize_name(&partial, &done).map_err(|e| MediaError::Io {
            path: done.clone(),
            source: e,
        })?;
        Ok(RecordingFile {
            recording_id: rec.id,
            representation: Representation::Lossless,
            format: AudioFormat::Flac,
            file_name: format!("{}.flac", rec.id),
            bytes: encoded.digest.bytes,
            sha256: encoded.digest.sha256,
            pcm_sha256: Some(verified.pcm_sha256),
            verified_at: Timestamp::now(),
            removed: false,
        })
    })();
    match attempt {
        Ok(file) => {
            if let Err(e) = store.record_file(&file) {
                let _ = std::fs::remove_file(&done);
                return Err(e.to_string());
            }
            tracing::info!(recording = %rec.id, bytes = file.bytes, wav_bytes = rec.bytes, "lossless FLAC made and verified");
            Ok(file)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            if can_be_retried(&e) {
                return Err(format!("the FLAC could not be made now: {e}"));
            }
            // The FLAC does not hold exactly the recorded samples (or the WAV is one
            // the encoder cannot take): the WAV stays the archive, nothing is lost.
            tracing::warn!(recording = %rec.id, error = %e, "no verified FLAC could be made; the WAV stays the lossless copy");
            record_wav_as_lossless(store, &wav, rec)
        }
    }
}

/// A failure worth trying again later (the disk, a file being written), as opposed to
/// audio the encoder will never turn into a verified FLAC.
fn can_be_retried(e: &MediaError) -> bool {
    matches!(e, MediaError::Io { .. } | MediaError::Truncated { .. })
}

fn record_wav_as_lossless(
    store: &Store,
    wav: &Path,
    rec: &Recording,
) -> std::result::Result<RecordingFile, String> {
    let pcm_sha256 = match tellus_media::wav_identity(wav) {
        Ok(identity) => Some(identity.pcm_sha256),
        Err(e) => {
            tracing::warn!(recording = %rec.id, error = %e, "the WAV's PCM identity could not be read");
            None
        }
    };
    let file = RecordingFile {
        recording_id: rec.id,
        representation: Representation::Lossless,
        format: AudioFormat::Wav,
        file_name: rec.file_name.clone(),
        bytes: rec.bytes,
        sha256: rec.sha256.clone(),
        pcm_sha256,
        verified_at: Timestamp::now(),
        removed: false,
    };
    store.record_file(&file).map_err(|e| e.to_string())?;
    Ok(file)
}

/// The listening copy, made from the WAV and checked (Ogg pages, pre-skip, duration).
fn make_listening(
    store: &Store,
    dir: &Path,
    rec: &Recording,
) -> std::result::Result<RecordingFile, String> {
    let wav = dir.join(&rec.file_name);
    let partial = dir.join(format!("{}.opus{PARTIAL}", rec.id));
    let done = dir.join(format!("{}.opus", rec.id));
    let source = PcmIdentity {
        spec: PcmSpec {
            sample_rate: rec.sample_rate,
            channels: rec.channels,
        },
        frames: rec.frames,
        pcm_sha256: rec.pcm_sha256.clone().unwrap_or_default(),
    };
    let attempt = (|| -> std::result::Result<RecordingFile, MediaError> {
        let encoded = tellus_media::encode_opus(&wav, &partial, &OpusSettings::default())?;
        tellus_media::verify_opus(&partial, &source)?;
        finalize_name(&partial, &done).map_err(|e| MediaError::Io {
            path: done.clone(),
            source: e,
        })?;
        Ok(RecordingFile {
            recording_id: rec.id,
            representation: Representation::Listening,
            format: AudioFormat::OggOpus,
            file_name: format!("{}.opus", rec.id),
            bytes: encoded.digest.bytes,
            sha256: encoded.digest.sha256,
            pcm_sha256: None,
            verified_at: Timestamp::now(),
            removed: false,
        })
    })();
    match attempt {
        Ok(file) => {
            if let Err(e) = store.record_file(&file) {
                let _ = std::fs::remove_file(&done);
                return Err(e.to_string());
            }
            tracing::info!(recording = %rec.id, bytes = file.bytes, "listening copy made and checked");
            Ok(file)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(format!("the listening copy could not be made: {e}"))
        }
    }
}

/// Deletes the WAV once a verified FLAC is recorded in its place and the listening copy
/// (made from the WAV) is there or not wanted, unless the reporter keeps WAVs.
fn remove_wav_if_replaced(store: &Store, dir: &Path, id: RecordingId) -> Result<bool> {
    if store.sync_settings()?.keep_wav {
        return Ok(false);
    }
    let Some(p) = store.preparation(id)? else {
        return Ok(false);
    };
    let flac_recorded = store
        .recording_file(id, Representation::Lossless)?
        .is_some_and(|f| f.format == AudioFormat::Flac && !f.removed);
    if !flac_recorded || p.needs_listening {
        return Ok(false);
    }
    remove_file(&dir.join(&p.recording.file_name))
}

fn remove_file(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                let _ = File::open(dir).and_then(|d| d.sync_all());
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(format!("cannot delete {}", path.display()), e)),
    }
}

/// Deletes every file of a recording from this device (a withdrawal with erasure): the
/// WAV, its FLAC, its listening copy and anything half made. Returns whether any was
/// there.
pub fn remove_recording_files(store: &Store, recording: &Recording) -> Result<bool> {
    let dir = store.recordings_dir();
    let id = recording.id;
    let mut removed = false;
    for name in [
        recording.file_name.clone(),
        format!("{id}.flac"),
        format!("{id}.opus"),
        format!("{id}.flac{PARTIAL}"),
        format!("{id}.opus{PARTIAL}"),
    ] {
        removed |= remove_file(&dir.join(name))?;
    }
    for representation in Representation::ALL {
        store.mark_file_removed(id, representation)?;
    }
    Ok(removed)
}

/// What `free_lossless` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FreedLossless {
    /// Recordings whose lossless copy (and WAV) left this device.
    pub recordings: Vec<RecordingId>,
    pub bytes_freed: u64,
}

/// Deletes a story's lossless copies (and WAVs) from this device without delivering
/// them: allowed only when the project declared the listening copy enough and every
/// recording's listening copy has its receipt. Anything else is refused, changing
/// nothing. The lossless uploads are then no longer attempted.
pub fn free_lossless(store: &Store, story: StoryId) -> Result<FreedLossless> {
    if !store.project()?.upload_policy.listening_is_enough {
        return Err(Error::invalid(
            "this project keeps every recording's lossless copy: it cannot be freed before it is delivered",
        ));
    }
    let recordings: Vec<Recording> = store
        .recordings(story)?
        .into_iter()
        .filter(|r| r.state != crate::model::RecordingState::Erased)
        .collect();
    let items = store.outbox_items(story)?;
    let delivered = |id: &str| {
        items
            .iter()
            .any(|i| i.item_id == id && i.state == crate::sync::ItemState::Delivered)
    };
    for r in &recordings {
        let listening = crate::store::audio_item_id(r.id, Representation::Listening);
        if !delivered(&listening) {
            return Err(Error::invalid(format!(
                "the listening copy of recording {} is not delivered yet: sync first, then free the lossless copy",
                r.id
            )));
        }
    }
    let dir = store.recordings_dir();
    let mut freed = FreedLossless::default();
    for r in &recordings {
        let lossless_item = crate::store::audio_item_id(r.id, Representation::Lossless);
        let lossless = store.recording_file(r.id, Representation::Lossless)?;
        let mut bytes = 0;
        for name in [
            lossless
                .as_ref()
                .filter(|f| !f.removed)
                .map(|f| f.file_name.clone()),
            Some(r.file_name.clone()),
        ]
        .into_iter()
        .flatten()
        {
            let path = dir.join(&name);
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if remove_file(&path)? {
                bytes += size;
            }
        }
        store.mark_file_removed(r.id, Representation::Lossless)?;
        if !delivered(&lossless_item) {
            store.mark_dropped(&lossless_item)?;
        }
        store.mark_local_removed(&lossless_item)?;
        if bytes > 0 {
            freed.recordings.push(r.id);
            freed.bytes_freed += bytes;
        }
    }
    Ok(freed)
}

/// An exclusive lock on `<id>.preparing` for as long as a recording's files are made;
/// the file goes when the work ends (a stale one is removed at the next open).
struct WorkLock {
    path: PathBuf,
    _file: File,
}

impl WorkLock {
    /// None when another process holds it.
    fn take(dir: &Path, id: RecordingId) -> Result<Option<WorkLock>> {
        let path = dir.join(format!("{id}{PREPARING}"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
        if fs4::FileExt::try_lock(&file).is_err() {
            return Ok(None);
        }
        Ok(Some(WorkLock { path, _file: file }))
    }
}

impl Drop for WorkLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One file of a recording as a reporter sees it: the recorded WAV, its lossless copy,
/// its listening copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileStatus {
    pub recording_id: RecordingId,
    /// None: the WAV as recorded (when it is not itself the lossless copy).
    pub representation: Option<Representation>,
    pub format: AudioFormat,
    pub file_name: String,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the whole file.
    pub sha256: String,
    /// The file is on this device now.
    pub on_device: bool,
    /// The server's receipt for it matched.
    pub delivered: bool,
}

/// The files of a story's recordings, recording by recording: the WAV while it is
/// there (unless it is the lossless copy itself), then each copy made.
pub fn story_files(store: &Store, story: StoryId) -> Result<Vec<FileStatus>> {
    let dir = store.recordings_dir();
    let files = store.recording_files(story)?;
    let items = store.outbox_items(story)?;
    let mut out = Vec::new();
    for r in store.recordings(story)? {
        let wav_on_device = dir.join(&r.file_name).exists();
        let wav_is_lossless = files.iter().any(|f| {
            f.recording_id == r.id
                && f.representation == Representation::Lossless
                && f.format == AudioFormat::Wav
        });
        if wav_on_device && !wav_is_lossless {
            out.push(FileStatus {
                recording_id: r.id,
                representation: None,
                format: AudioFormat::Wav,
                file_name: r.file_name.clone(),
                bytes: r.bytes,
                sha256: r.sha256.clone(),
                on_device: true,
                delivered: false,
            });
        }
        for f in files.iter().filter(|f| f.recording_id == r.id) {
            let item = crate::store::audio_item_id(r.id, f.representation);
            out.push(FileStatus {
                recording_id: r.id,
                representation: Some(f.representation),
                format: f.format,
                file_name: f.file_name.clone(),
                bytes: f.bytes,
                sha256: f.sha256.clone(),
                on_device: !f.removed && dir.join(&f.file_name).exists(),
                delivered: items
                    .iter()
                    .any(|i| i.item_id == item && i.state == crate::sync::ItemState::Delivered),
            });
        }
    }
    Ok(out)
}
