//! `tellus transcribe-worker`, and the engine flags it shares with `tellus serve`: a
//! worker that claims transcription jobs from the server's own database (the same data
//! folder, or one shared with it), so it can run beside the server or in its place. A
//! worker on another machine over HTTP is not built (docs/transcripts.md).

use std::path::PathBuf;

use clap::Args;
use tellus_server::storage::LocalStorage;
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
    if !config.db_path().is_file() {
        return Err(format!(
            "no server database in {}: point --data-dir at the server's data folder",
            config.data_dir.display()
        ));
    }
    crate::logging::init("info");
    let db = App::open_db(&config).map_err(|e| e.to_string())?;
    let storage = LocalStorage::new(config.audio_dir())
        .map_err(|e| format!("cannot open the audio folder: {e}"))?;
    let worker = Worker::new(
        db,
        std::sync::Arc::new(storage),
        &config.data_dir,
        &config.transcribe,
    )
    .map_err(|e| e.to_string())?;
    let runtime = crate::runtime()?;
    runtime.block_on(async move {
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
