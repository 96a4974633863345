//! `tellus`: the command line for reporters' laptops and operators. Thin over tellus-core:
//! it parses arguments, calls the core and prints tables (or JSON with `--json`).

mod consent;
mod demo;
mod lead;
mod logging;
mod migrate;
mod note;
mod output;
mod project;
mod record;
mod server;
mod story;
mod sync;
mod transcribe;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tellus_core::Store;

#[derive(Parser)]
#[command(
    name = "tellus",
    version,
    about = "Capture people's stories with their consent, offline first",
    propagate_version = true
)]
struct Cli {
    /// Folder holding the database and recordings [default: your user data folder]
    #[arg(long, global = true, env = "TELLUS_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Print JSON for scripts instead of tables for people
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Set up or show the project this data folder belongs to
    #[command(subcommand)]
    Project(project::ProjectCommand),
    /// Create, list, show, edit and finish stories
    #[command(subcommand)]
    Story(story::StoryCommand),
    /// Add notes and markers to a story
    #[command(subcommand)]
    Note(note::NoteCommand),
    /// Record, amend, withdraw and show a storyteller's consent
    #[command(subcommand)]
    Consent(consent::ConsentCommand),
    /// Tag stories with the project's themes
    #[command(subcommand)]
    Tag(story::TagCommand),
    /// List the audio input devices
    Devices,
    /// Record a story's interview from a microphone (keys: space, m, n, q)
    Record(record::RecordArgs),
    /// Walk through a reporter's journey in a temporary data folder and print it
    Demo(demo::DemoArgs),
    /// Run the project server (data in --data-dir, default <user data folder>/server)
    Serve(server::ServeArgs),
    /// Operate the project server: projects, invites, revocation
    #[command(subcommand)]
    Admin(server::AdminCommand),
    /// Pull the project's stories from the server into a folder, verified (lead)
    Pull(lead::PullArgs),
    /// Export stories from a pulled folder, as far as their consent allows (lead)
    Export(lead::ExportArgs),
    /// The leads' web page: `tellus lead open` prints a one-time sign-in link
    #[command(subcommand)]
    Lead(lead::LeadCommand),
    /// Run transcription jobs from the server's database (--data-dir of the server)
    TranscribeWorker(transcribe::WorkerArgs),
    /// Join a project server with an invite code
    Enrol(sync::EnrolArgs),
    /// Deliver ready stories to the project server (--watch keeps going)
    Sync(sync::SyncArgs),
}

/// What every command gets: where the data is and how to print.
pub struct Context {
    data_dir: Option<PathBuf>,
    pub json: bool,
}

impl Context {
    /// The data folder: --data-dir, else the user's data folder for tellus.
    pub fn data_dir(&self) -> Result<PathBuf, String> {
        match &self.data_dir {
            Some(dir) => Ok(dir.clone()),
            None => directories::ProjectDirs::from("org", "Tellus", "tellus")
                .map(|dirs| dirs.data_dir().to_path_buf())
                .ok_or_else(|| "cannot find your user data folder; pass --data-dir".to_string()),
        }
    }

    /// Where this computer's lead enrolments are kept (`tellus enrol --lead`).
    pub fn lead_accounts(&self) -> Result<PathBuf, String> {
        Ok(self.data_dir()?.join(tellus_lead::accounts::FILE_NAME))
    }

    /// Opens the store of an existing data folder, telling the user about anything
    /// opening found. A folder that does not exist is refused rather than made: it is a
    /// mistyped --data-dir far more often than a new one (`create_store` makes one).
    pub fn open_store(&self) -> Result<Store, String> {
        let dir = self.data_dir()?;
        if !dir.exists() {
            return Err(format!(
                "no data folder at {}: check --data-dir (`tellus project init` or `tellus enrol` makes one)",
                dir.display()
            ));
        }
        self.open_report(Store::open(dir).map_err(|e| e.to_string())?)
    }

    /// Opens the store, making the data folder when it is missing (`project init`,
    /// `enrol`: the commands that start one).
    pub fn create_store(&self) -> Result<Store, String> {
        self.open_report(Store::open(self.data_dir()?).map_err(|e| e.to_string())?)
    }

    fn open_report(&self, store: Store) -> Result<Store, String> {
        let report = store.open_report();
        if let Some(moved) = &report.damaged_database_moved_to {
            eprintln!(
                "warning: the database could not be read ({}); it was moved to {} and a new one was created",
                report.damage.as_deref().unwrap_or("unknown damage"),
                moved.display()
            );
        }
        for r in &report.recovered_recordings {
            eprintln!(
                "recovered: a recording of story {} was interrupted; {} ms of audio were saved as {}{}",
                r.story_id,
                r.duration_ms,
                r.file.display(),
                if r.header_rebuilt {
                    " (its damaged header was rebuilt from what the recording session stored)"
                } else {
                    ""
                }
            );
        }
        for d in &report.discarded_empty_recordings {
            eprintln!(
                "note: a recording of story {} was interrupted before any audio arrived; its empty file {} was removed",
                d.story_id,
                d.file.display()
            );
        }
        for p in &report.audio_problems {
            eprintln!("warning: {}: {}", p.file.display(), p.problem);
        }
        Ok(store)
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return argument_error(e),
    };
    // `serve` installs its own default (info); every other command logs only when asked.
    if !matches!(
        cli.command,
        Command::Serve(_) | Command::TranscribeWorker(_)
    ) {
        logging::init("off");
    }
    let ctx = Context {
        data_dir: cli.data_dir,
        json: cli.json,
    };
    let result = match cli.command {
        Command::Project(cmd) => project::run(&ctx, cmd),
        Command::Story(cmd) => story::run(&ctx, cmd),
        Command::Note(cmd) => note::run(&ctx, cmd),
        Command::Consent(cmd) => consent::run(&ctx, cmd),
        Command::Tag(cmd) => story::run_tag(&ctx, cmd),
        Command::Devices => record::devices(&ctx),
        Command::Record(args) => record::record(&ctx, args),
        Command::Demo(args) => demo::run(&ctx, args),
        Command::Serve(args) => server::serve(&ctx, args),
        Command::Admin(cmd) => server::admin(&ctx, cmd),
        Command::Pull(args) => lead::pull(&ctx, args),
        Command::Export(args) => lead::export_cmd(&ctx, args),
        Command::Lead(cmd) => lead::run(&ctx, cmd),
        Command::TranscribeWorker(args) => transcribe::worker(&ctx, args),
        Command::Enrol(args) => sync::enrol(&ctx, args),
        Command::Sync(args) => sync::run(&ctx, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Help and the version print as clap prints them; a mistyped command is one line and
/// exit code 1 like every other failure (the README's promise), naming the --help to
/// read.
fn argument_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.use_stderr() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    eprintln!("{}", one_line(&e.render().to_string()));
    ExitCode::FAILURE
}

/// clap's message ("error: ..." and any lines that continue it, e.g. the missing
/// arguments), joined, then the help of the command it was about.
fn one_line(rendered: &str) -> String {
    let mut lines = rendered.lines();
    let mut message = lines
        .next()
        .unwrap_or("error: invalid arguments")
        .to_string();
    let mut command = "tellus".to_string();
    for line in lines {
        let trimmed = line.trim();
        if let Some(usage) = trimmed.strip_prefix("Usage: ") {
            command = usage
                .split_whitespace()
                .take_while(|w| !w.starts_with(['-', '<', '[']))
                .collect::<Vec<_>>()
                .join(" ");
        } else if line.starts_with("  ") && !trimmed.is_empty() {
            message.push(' ');
            message.push_str(trimmed);
        }
    }
    format!("{message} (see `{command} --help`)")
}

/// Every command returns its failure as the one line the user sees.
pub type CmdResult = Result<(), String>;

/// The async runtime of the commands that talk to the network (sync, pull, serve, demo).
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the network runtime: {e}"))
}

/// Turns a core error into that line.
pub fn fail(e: tellus_core::Error) -> String {
    e.to_string()
}
