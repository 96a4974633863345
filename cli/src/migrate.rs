//! `tellus admin migrate`: the source is this server's settings (data folder, listen
//! address, storage), the target a PostgreSQL URL and an object store URL, from flags or
//! the target server's TOML (tellus_server::migrate does the work).

use std::path::PathBuf;

use clap::Args;
use tellus_server::ServerConfig;
use tellus_server::migrate::{MigrateReport, Target};

use crate::server::server_config;
use crate::{CmdResult, Context, output};

#[derive(Args)]
pub struct MigrateArgs {
    /// The source server's TOML settings (its data folder, listen address, storage)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The target server's TOML settings: its `database` and `storage` keys are the
    /// target (the flags below override them)
    #[arg(long, value_name = "FILE")]
    pub to_config: Option<PathBuf>,
    /// The target PostgreSQL database: postgres://user:password@host:port/database
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// The target object store: s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION or
    /// az://CONTAINER[/PREFIX]?account=ACCOUNT&endpoint=URL
    #[arg(long, value_name = "URL")]
    pub storage: Option<String>,
}

pub fn migrate(ctx: &Context, args: MigrateArgs) -> CmdResult {
    let source = server_config(ctx, args.config.as_ref())?;
    let target_config = args
        .to_config
        .as_ref()
        .map(|path| ServerConfig::from_toml_file(path).map_err(|e| e.to_string()))
        .transpose()?;
    let database = args
        .database
        .or_else(|| target_config.as_ref().and_then(|c| c.database.clone()))
        .ok_or("give the target database: --database postgres://... (or --to-config with a database key)")?;
    let storage = args
        .storage
        .or_else(|| target_config.as_ref().and_then(|c| c.storage.clone()))
        .ok_or(
            "give the target object store: --storage s3://... (or --to-config with a storage key)",
        )?;
    let target = Target { database, storage };
    let quiet = ctx.json;
    let progress = move |line: &str| {
        if !quiet {
            eprintln!("{line}");
        }
    };
    let started = std::time::Instant::now();
    let report = crate::runtime()?
        .block_on(tellus_server::migrate::migrate(&source, &target, &progress))
        .map_err(|e| e.to_string())?;
    if ctx.json {
        return output::json(&report);
    }
    println!("{}", summary(&report, started.elapsed().as_secs_f64()));
    Ok(())
}

fn summary(report: &MigrateReport, secs: f64) -> String {
    let audio = output::count(report.audio_files as u64, "audio file", "audio files");
    if report.nothing_new() {
        return format!(
            "Nothing new to copy: the target already holds all {} rows and {audio} (each checked by SHA-256).",
            report.rows
        );
    }
    format!(
        "Copied {} of {} rows and {} of {audio} ({} bytes; the other {} were there already), every file checked by SHA-256, in {secs:.1} s. Start the server with the target's database and storage.",
        report.rows_inserted,
        report.rows,
        report.audio_copied,
        report.audio_bytes_copied,
        report.audio_present,
    )
}
