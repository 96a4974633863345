//! The engine contract: an audio file in, WebVTT out. The operator names a command
//! (for example `python3 server/engines/faster_whisper_vtt.py`) and a model folder;
//! the command is run as `COMMAND... AUDIO MODEL LANGUAGE` with a timeout, its standard
//! output parsed as WebVTT. Nothing is fetched at run time: the model is a folder the
//! operator installed, and the engine is told to stay offline.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::model::Segment;
use super::vtt;

#[derive(Debug, Clone)]
pub struct Engine {
    pub command: Vec<String>,
    pub model: PathBuf,
    pub language: String,
    pub timeout: Duration,
}

/// Why a run gave no transcript. Never carries what was said (logs must not).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the transcription engine could not be started: {0}")]
    Start(std::io::Error),
    #[error("the transcription engine ran longer than {0:?} and was stopped")]
    Timeout(Duration),
    #[error("the transcription engine failed ({status}): {detail}")]
    Failed { status: String, detail: String },
    #[error("the transcription engine's output is not WebVTT: {0}")]
    NotVtt(String),
}

impl Engine {
    /// Transcribes `audio`.
    pub async fn run(&self, audio: &Path) -> Result<Vec<Segment>, EngineError> {
        let (program, args) = self.command.split_first().ok_or_else(|| {
            EngineError::Start(std::io::Error::other("no engine command is configured"))
        })?;
        let child = tokio::process::Command::new(program)
            .args(args)
            .arg(audio)
            .arg(&self.model)
            .arg(&self.language)
            .env("HF_HUB_OFFLINE", "1")
            .env("TRANSFORMERS_OFFLINE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(EngineError::Start)?;
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| EngineError::Timeout(self.timeout))?
            .map_err(EngineError::Start)?;
        if !output.status.success() {
            // The last line of stderr says why (a missing model, an unreadable file); it
            // is the engine's message, not the audio's words.
            let stderr = String::from_utf8_lossy(&output.stderr);
            let detail = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no message")
                .chars()
                .take(300)
                .collect();
            return Err(EngineError::Failed {
                status: output.status.to_string(),
                detail,
            });
        }
        let text = String::from_utf8(output.stdout)
            .map_err(|_| EngineError::NotVtt("the output is not UTF-8".into()))?;
        vtt::parse(&text).map_err(|e| EngineError::NotVtt(e.0))
    }
}
