//! Transcripts (issue 22, docs/transcripts.md): timed segments per recording, a machine
//! draft from a pluggable engine run on the project's own server, corrected by people
//! (revisioned), searchable down to the moment, and governed by the one visibility rule
//! (visibility.rs): every lead-facing read asks it, and a withdrawal forgets them.

pub mod engine;
pub mod flags;
pub mod model;
pub mod queue;
pub mod remote;
pub mod routes;
pub mod search;
pub mod vtt;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;
use tellus_protocol::Representation;
use tokio::io::AsyncWriteExt;

use crate::clock::now_ms;
use crate::data::Data;
use crate::db::blocking;
use crate::error::{Error, Result};
use crate::storage::AudioStorage;

/// `[transcribe]` in the server's settings. Without a command and a model the server
/// still queues a job for every delivered recording; a worker started later (or
/// `tellus transcribe-worker`) runs them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TranscribeConfig {
    /// The engine, run as `COMMAND... AUDIO MODEL LANGUAGE`, printing WebVTT.
    pub command: Vec<String>,
    /// The model folder the engine loads (never fetched at run time).
    pub model: Option<PathBuf>,
    /// The language passed to the engine and recorded with the draft.
    pub language: String,
    /// A run that takes longer is stopped and retried later.
    pub timeout_secs: u64,
    /// The first retry's delay; it doubles with each attempt.
    pub retry_secs: u64,
    /// How often an idle worker looks for a job.
    pub poll_millis: u64,
}

impl Default for TranscribeConfig {
    fn default() -> Self {
        TranscribeConfig {
            command: Vec::new(),
            model: None,
            language: "en".into(),
            timeout_secs: 1800,
            retry_secs: 60,
            poll_millis: 2000,
        }
    }
}

impl TranscribeConfig {
    /// Said at start, not found out job by job: a model folder that is not there.
    pub fn check(&self) -> Result<()> {
        match self.engine() {
            Some(engine) if !engine.model.is_dir() => Err(Error::Config(format!(
                "the transcription model folder {} does not exist ([transcribe] model)",
                engine.model.display()
            ))),
            _ => Ok(()),
        }
    }

    /// The engine, when one is configured.
    pub fn engine(&self) -> Option<engine::Engine> {
        let model = self.model.clone()?;
        (!self.command.is_empty()).then(|| engine::Engine {
            command: self.command.clone(),
            model,
            language: self.language.clone(),
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
        })
    }
}

/// Whether a changes-feed request asks for `transcript` changes (`with=transcript`);
/// a client from before issue 22 would fail on a kind it does not know.
pub fn feed_wants_transcripts(query: &std::collections::HashMap<String, String>) -> bool {
    query
        .get("with")
        .is_some_and(|w| w.split(',').any(|k| k.trim() == "transcript"))
}

/// Called in the transaction that records a delivered recording, and in the one of a
/// withdrawal (SQLite; tus and routes::stories run them inside their own transaction).
pub use crate::data::sqlite::transcripts::{on_delivered, on_withdrawn};

/// Runs queued jobs with one engine, one at a time.
pub struct Worker {
    pub data: Arc<dyn Data>,
    pub storage: Arc<dyn AudioStorage>,
    pub engine: engine::Engine,
    /// Unique per process, so that a claim names who holds it.
    pub id: String,
    /// Where the audio is copied for the engine (emptied after each run).
    pub scratch: PathBuf,
    pub retry: Duration,
    pub poll: Duration,
}

impl Worker {
    pub fn new(
        data: Arc<dyn Data>,
        storage: Arc<dyn AudioStorage>,
        data_dir: &std::path::Path,
        config: &TranscribeConfig,
    ) -> Result<Worker> {
        let engine = config.engine().ok_or_else(|| {
            Error::Config("transcription needs [transcribe] command and model".into())
        })?;
        config.check()?;
        let id = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
        sweep_scratch(&data_dir.join("transcribe"));
        Ok(Worker {
            data,
            storage,
            engine,
            scratch: data_dir.join("transcribe").join(&id),
            id,
            retry: Duration::from_secs(config.retry_secs),
            poll: Duration::from_millis(config.poll_millis.max(10)),
        })
    }

    fn lease_ms(&self) -> i64 {
        // Longer than any run may take (the engine is stopped at its timeout), so a live
        // worker never loses its claim; twice the timeout, at most a minute more.
        let timeout = i64::try_from(self.engine.timeout.as_millis()).unwrap_or(i64::MAX / 4);
        timeout + timeout.min(60_000)
    }

    /// Runs a data-layer operation on a blocking thread (as `App::data`).
    async fn data<R: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Data) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let data = self.data.clone();
        blocking(move || f(&*data)).await
    }

    /// Claims and runs one job; false when none was due.
    pub async fn run_once(&self) -> Result<bool> {
        let (worker, lease) = (self.id.clone(), self.lease_ms());
        let job = self
            .data(move |d| d.claim_transcript_job(&worker, now_ms(), lease))
            .await?;
        let Some(job) = job else {
            return Ok(false);
        };
        let outcome = self.transcribe(&job.recording_id).await;
        let (worker, recording) = (self.id.clone(), job.recording_id.clone());
        let language = self.engine.language.clone();
        let retry_ms = i64::try_from(self.retry.as_millis()).unwrap_or(i64::MAX / 4);
        match outcome {
            Ok(segments) => {
                let kept = self
                    .data(move |d| {
                        d.finish_transcript_job(&worker, &recording, &language, &segments)
                    })
                    .await?;
                tracing::info!(recording = %job.recording_id, attempt = job.attempt, kept, "transcription draft done");
            }
            Err(message) => {
                tracing::warn!(recording = %job.recording_id, attempt = job.attempt, error = %message, "transcription failed; retried later");
                self.data(move |d| {
                    d.fail_transcript_job(&worker, &recording, &message, now_ms(), retry_ms)
                })
                .await?;
            }
        }
        Ok(true)
    }

    /// The engine's segments for a stored recording, or why not (no text of the audio).
    async fn transcribe(
        &self,
        recording_id: &str,
    ) -> std::result::Result<Vec<model::Segment>, String> {
        let copied = self
            .copy_for_engine(recording_id)
            .await
            .map_err(|e| e.to_string())?;
        let Some(path) = copied else {
            return Err("the recording's audio is not stored (withdrawn?)".into());
        };
        let result = self.engine.run(&path).await.map_err(|e| e.to_string());
        let _ = std::fs::remove_file(&path);
        result
    }

    /// Copies the best stored copy of a recording into the scratch folder for the engine:
    /// the lossless one, else the listening copy (a phone on mobile data sends that
    /// first, and a draft need not wait for the other). None when neither is stored.
    async fn copy_for_engine(&self, recording_id: &str) -> Result<Option<PathBuf>> {
        let write_error = |e| Error::io("cannot write the transcription copy", e);
        tokio::fs::create_dir_all(&self.scratch)
            .await
            .map_err(|e| Error::io("cannot create the transcription folder", e))?;
        for representation in Representation::ALL {
            let key = crate::storage::key(recording_id, representation);
            let read = |e| Error::io("cannot read stored audio", e);
            let Some(size) = self.storage.size(&key).await.map_err(read)? else {
                continue;
            };
            let Some(mut stream) = self.storage.read(&key, 0..size).await.map_err(read)? else {
                continue;
            };
            let path = self.scratch.join(format!("{recording_id}.audio"));
            let mut out = tokio::fs::File::create(&path).await.map_err(write_error)?;
            while let Some(chunk) = stream.next().await {
                out.write_all(&chunk.map_err(read)?)
                    .await
                    .map_err(write_error)?;
            }
            out.flush().await.map_err(write_error)?;
            return Ok(Some(path));
        }
        Ok(None)
    }

    /// Runs jobs until the task is dropped or aborted.
    pub async fn run(self) {
        loop {
            match self.run_once().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "the transcription worker could not reach the queue")
                }
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

/// Starts the in-server worker when `[transcribe]` names an engine.
pub fn spawn_worker(app: &crate::App) -> Result<Option<tokio::task::JoinHandle<()>>> {
    if app.config.transcribe.engine().is_none() {
        return Ok(None);
    }
    let worker = Worker::new(
        app.data.clone(),
        app.storage.clone(),
        &app.config.data_dir,
        &app.config.transcribe,
    )?;
    tracing::info!("transcription worker started");
    Ok(Some(tokio::spawn(worker.run())))
}

/// Removes the audio copies that workers which are no longer running left behind (a
/// worker killed mid-run): a withdrawn story's audio must not linger there. Each
/// worker's folder is named after its process id.
fn sweep_scratch(root: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').next().and_then(|p| p.parse::<i32>().ok());
        if pid.is_none_or(|pid| !process_alive(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(unix)]
fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // Signal 0 checks that the process exists without touching it.
    // SAFETY: kill with signal 0 sends nothing; it only reports whether `pid` exists.
    let answer = unsafe { libc::kill(pid, 0) };
    answer == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn process_alive(_pid: i32) -> bool {
    true
}
