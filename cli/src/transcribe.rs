//! `tellus transcribe-worker`, and the engine flags it shares with `tellus serve`: a
//! worker that claims transcription jobs from the server's own database (`--data-dir`,
//! beside the server), or from a server on another machine over HTTP (`--server URL
//! --token TOKEN`, an operator's token; docs/transcripts.md).

use std::path::PathBuf;

use clap::Args;
use tellus_server::transcripts::{TranscribeConfig, Worker};
use tellus_server::{App, ServerConfig};

use crate::{CmdResult, Context};

#[derive(Args, Default)]
pub struct EngineArgs {
    /// The transcription engine, run as COMMAND AUDIO MODEL LANGUAGE and printing
    /// WebVTT, split at spaces (e.g. "python3 server/engines/faster_whisper_vtt.py");
    /// `[transcribe] command` in the TOML file takes a list
    #[arg(long, value_name = "COMMAND", env = "TELLUS_TRANSCRIBE_COMMAND")]
    transcribe_command: Option<String>,
    /// The model folder the engine loads (never fetched at run time)
    #[arg(long, value_name = "DIR", env = "TELLUS_TRANSCRIBE_MODEL")]
    transcribe_model: Option<PathBuf>,
    /// A run that takes longer is stopped and retried later [default: 1800]
    #[arg(long, value_name = "SECS", env = "TELLUS_TRANSCRIBE_TIMEOUT_SECS")]
    transcribe_timeout_secs: Option<u64>,
}

impl EngineArgs {
    pub fn apply(self, config: &mut TranscribeConfig) {
        if let Some(command) = self.transcribe_command {
            config.command = command.split_whitespace().map(str::to_string).collect();
        }
        if let Some(model) = self.transcribe_model {
            config.model = Some(model);
        }
        if let Some(secs) = self.transcribe_timeout_secs {
            config.timeout_secs = secs;
        }
    }
}

#[derive(Args)]
pub struct WorkerArgs {
    /// A TOML file with the server's settings (its [transcribe] table is used)
    #[arg(long, value_name = "FILE", env = "TELLUS_SERVER_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
    /// Run the jobs that are due, then exit (instead of waiting for more)
    #[arg(long)]
    once: bool,
    /// Claim jobs from this server over HTTP instead of from a local data folder
    #[arg(long, value_name = "URL", requires = "token")]
    server: Option<String>,
    /// An operator's token for --server (`tellus admin token` on the server)
    #[arg(long, value_name = "TOKEN", env = "TELLUS_WORKER_TOKEN")]
    token: Option<String>,
}

pub fn worker(ctx: &Context, args: WorkerArgs) -> CmdResult {
    let mut config: ServerConfig = crate::server::server_config(ctx, args.config.as_ref())?;
    args.engine.apply(&mut config.transcribe);
    if config.transcribe.engine().is_none() {
        return Err(
            "no transcription engine: pass --transcribe-command and --transcribe-model (or [transcribe] in --config)"
                .into(),
        );
    }
    if let (Some(server), Some(token)) = (&args.server, &args.token) {
        return remote(&config, server, token, args.once);
    }
    if !config.db_path().is_file() {
        return Err(format!(
            "no server database in {}: point --data-dir at the server's data folder",
            config.data_dir.display()
        ));
    }
    crate::logging::init("info");
    let db = App::open_db(&config).map_err(|e| e.to_string())?;
    let runtime = crate::runtime()?;
    runtime.block_on(async move {
        // The server's audio, wherever its `storage` keeps it (the folder or a bucket).
        let storage = tellus_server::storage::open(config.storage.as_deref(), &config.audio_dir())
            .await
            .map_err(|e| e.to_string())?;
        let worker = Worker::new(
            std::sync::Arc::new(tellus_server::data::SqliteData::new(db)),
            storage,
            &config.data_dir,
            &config.transcribe,
        )
        .map_err(|e| e.to_string())?;
        if args.once {
            let mut done = 0;
            while worker.run_once().await.map_err(|e| e.to_string())? {
                done += 1;
            }
            println!("{done} transcription job(s) run");
            Ok(())
        } else {
            tokio::select! {
                _ = worker.run() => Ok(()),
                _ = tellus_server::shutdown_signal() => Ok(()),
            }
        }
    })
}

/// The worker over HTTP: claim, fetch the audio into a temporary folder, run the engine,
/// post its WebVTT (or why it failed); the audio copy is deleted after each job.
fn remote(config: &ServerConfig, server: &str, token: &str, once: bool) -> CmdResult {
    use tellus_lead::transcribe_client::WorkerClient;
    let Some(mut engine) = config.transcribe.engine() else {
        return Err("no transcription engine".into());
    };
    let name = format!(
        "{}-{}-{:08x}",
        hostname(),
        std::process::id(),
        rand_suffix()
    );
    let client = WorkerClient::new(server, token, &name, None).map_err(|e| e.to_string())?;
    // A private folder for the audio copies, removed when the worker exits.
    let scratch =
        tempfile::tempdir().map_err(|e| format!("cannot create a temporary folder: {e}"))?;
    crate::logging::init("info");
    let runtime = crate::runtime()?;
    let poll = std::time::Duration::from_millis(config.transcribe.poll_millis.max(10));
    let result = runtime.block_on(async {
        let mut done = 0;
        loop {
            let job = client.claim().await.map_err(|e| e.to_string())?;
            let Some(job) = job else {
                if once {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(poll) => continue,
                    _ = tellus_server::shutdown_signal() => break,
                }
            };
            // Finish well within the server's lease.
            let lease = std::time::Duration::from_millis(
                u64::try_from(job.lease_ms / 2).unwrap_or(1).max(1),
            );
            engine.timeout = engine.timeout.min(lease);
            let audio = scratch.path().join(format!("{}.audio", job.recording_id));
            let outcome = match client.audio_to(&job.recording_id, &audio).await {
                Ok(()) => engine.run(&audio).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let _ = std::fs::remove_file(&audio);
            match outcome {
                Ok(segments) => {
                    let vtt = tellus_server::transcripts::vtt::write_vtt(&segments);
                    client
                        .finish(&job.recording_id, &vtt)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Err(why) => {
                    eprintln!("transcription of {} failed: {why}", job.recording_id);
                    client
                        .fail(&job.recording_id, &why)
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
            done += 1;
        }
        Ok::<_, String>(done)
    })?;
    println!("{result} transcription job(s) run");
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into())
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish() as u32
}
