//! `tellus pull` and `tellus export`: a project lead's commands, thin over tellus-lead.
//! Progress bars go to stderr (hidden when it is not a terminal); results to stdout.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tellus_lead::export::{ExportOptions, Format, export};
use tellus_lead::{ExportScope, LeadAccounts, PullOptions, PullProgress, PulledFolder};

use crate::{CmdResult, Context, output};

#[derive(Args)]
pub struct PullArgs {
    /// The project server, e.g. https://stories.example.org [default: the one server
    /// `tellus enrol --lead` enrolled this computer with]
    #[arg(long, value_name = "URL", env = "TELLUS_SERVER")]
    server: Option<String>,
    /// A lead's token; by default the one `tellus enrol --lead` kept for this server
    /// (safer in TELLUS_TOKEN than on the command line, where other users can see it)
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TELLUS_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// The folder to pull into (created when missing; keeps its own cursor)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Re-hash every file in DIR against its manifest instead of pulling
    #[arg(long)]
    verify: bool,
    /// Recordings downloaded at once
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    concurrency: u16,
    /// Also fetch each recording's listening copy (small Ogg Opus, `<id>.opus`) beside
    /// its lossless copy (`<id>.flac`, or `.wav` for older recordings)
    #[arg(long)]
    listening: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// A folder made by `tellus pull`
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// Which stories: those whose storytellers agreed to public sharing, to research
    /// use, or all the project holds with consent to record
    #[arg(long, value_parser = ["public", "research", "all"])]
    scope: String,
    /// csv (one row per story), json, or ohms (OHMS 5.4 XML, one file per story)
    #[arg(long, value_parser = ["csv", "json", "ohms"])]
    format: String,
    /// Where to write: a file for csv and json (default: stdout), a folder for ohms
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Add contact details of storytellers who agreed to be contacted again (recontact)
    #[arg(long)]
    include_contacts: bool,
}

/// Two bars: story documents and audio bytes; both grow as pages of the feed arrive.
struct Bars {
    stories: ProgressBar,
    audio: ProgressBar,
}

impl Bars {
    fn new() -> Bars {
        let multi = MultiProgress::new();
        let stories = multi.add(ProgressBar::new(0));
        stories.set_style(
            ProgressStyle::with_template("stories    {bar:30} {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let audio = multi.add(ProgressBar::new(0));
        audio.set_style(
            ProgressStyle::with_template(
                "recordings {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Bars { stories, audio }
    }

    fn finish(&self) {
        self.stories.finish_and_clear();
        self.audio.finish_and_clear();
    }
}

impl PullProgress for Bars {
    fn planned(&self, stories: usize, _recordings: usize, bytes: u64) {
        self.stories.inc_length(stories as u64);
        self.audio.inc_length(bytes);
    }
    fn story_done(&self) {
        self.stories.inc(1);
    }
    fn audio_bytes(&self, bytes: u64) {
        self.audio.inc(bytes);
    }
    fn withdrawn(&self, story_id: &str, files_removed: usize) {
        self.audio.println(format!(
            "withdrawn: story {story_id}; {files_removed} files removed (see withdrawals.log)"
        ));
    }
}

/// `tellus enrol --lead`: spends a lead's invite and keeps the token for `tellus pull`.
pub fn enrol(ctx: &Context, server: &str, invite: &str, label: &str) -> CmdResult {
    let accounts = ctx.lead_accounts()?;
    let account = crate::runtime()?
        .block_on(tellus_lead::accounts::enrol(
            &accounts, server, invite, label,
        ))
        .map_err(|e| e.to_string())?;
    if ctx.json {
        return output::json(&serde_json::json!({
            "server": account.server,
            "lead_id": account.lead_id,
            "project_id": account.project_id,
            "kept_in": accounts,
        }));
    }
    println!(
        "Enrolled with {} as a lead of project {} (lead {}); the token is kept in {}",
        account.server,
        account.project_id,
        account.lead_id,
        accounts.display()
    );
    println!(
        "`tellus pull --server {} --out DIR` pulls the project's stories; `tellus lead open` signs you in to the web page.",
        account.server
    );
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum LeadCommand {
    /// Print a one-time link that signs you in to the leads' web page (it works once,
    /// for ten minutes): no token to copy
    Open {
        /// The project server [default: the one server this computer is enrolled with]
        #[arg(long, value_name = "URL", env = "TELLUS_SERVER")]
        server: Option<String>,
    },
}

pub fn run(ctx: &Context, cmd: LeadCommand) -> CmdResult {
    match cmd {
        LeadCommand::Open { server } => {
            let accounts = LeadAccounts::load(&ctx.lead_accounts()?).map_err(|e| e.to_string())?;
            let server = enrolled_server(&accounts, server)?;
            let account = accounts.get(&server).ok_or_else(|| {
                format!(
                    "this computer is not enrolled as a lead with {server}: run `tellus enrol --lead --server {server} --invite CODE` with a lead's invite"
                )
            })?;
            let pin = account.pin().map_err(|e| e.to_string())?;
            let client = tellus_lead::LeadClient::new(&account.server, &account.token, pin)
                .map_err(|e| e.to_string())?;
            let (url, expires_at) = crate::runtime()?
                .block_on(client.sign_in_link())
                .map_err(|e| e.to_string())?;
            if ctx.json {
                return output::json(&serde_json::json!({ "url": url, "expires_at": expires_at }));
            }
            println!("Open this link in your browser to sign in to the leads' web page:");
            println!("{url}");
            println!(
                "It works once, until {expires_at}; run `tellus lead open` again for another."
            );
            Ok(())
        }
    }
}

/// `--server` as given, else the one server this computer is enrolled with as a lead.
fn enrolled_server(accounts: &LeadAccounts, server: Option<String>) -> Result<String, String> {
    if let Some(server) = server {
        return Ok(server);
    }
    let enrolled: Vec<&str> = accounts.servers().collect();
    match enrolled.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(
            "give --server URL: this computer is not enrolled as a lead (`tellus enrol --lead`)"
                .into(),
        ),
        several => Err(format!(
            "this computer is enrolled as a lead with {}: give --server URL",
            several.join(", ")
        )),
    }
}

pub fn pull(ctx: &Context, args: PullArgs) -> CmdResult {
    if args.verify {
        return verify(ctx, &args.out);
    }
    let accounts = LeadAccounts::load(&ctx.lead_accounts()?).map_err(|e| e.to_string())?;
    let server = enrolled_server(&accounts, args.server)?;
    let account = accounts.get(&server);
    // The enrolment's pin holds for this server whichever token is used.
    let pin = account
        .map(|a| a.pin())
        .transpose()
        .map_err(|e| e.to_string())?
        .flatten();
    let token = match args.token {
        Some(token) => token,
        None => account.map(|account| account.token.clone()).ok_or_else(|| {
            format!(
                "this computer is not enrolled as a lead with {server}: run `tellus enrol --lead --server {server} --invite CODE` with a lead's invite (or set TELLUS_TOKEN)"
            )
        })?,
    };
    let mut options = PullOptions::new(server, token, &args.out);
    options.pin = pin;
    options.concurrency = usize::from(args.concurrency);
    options.listening = args.listening;
    let runtime = crate::runtime()?;
    let bars = Bars::new();
    let result = runtime.block_on(tellus_lead::pull(&options, &bars));
    bars.finish();
    let report = result.map_err(|e| e.to_string())?;
    if ctx.json {
        return output::json(&report);
    }
    let mb = |b: u64| format!("{:.1} MB", b as f64 / 1e6);
    if report.changes == 0 {
        println!("nothing new on the server since the last pull");
    } else {
        print_changes(&report, &mb);
    }
    for id in &report.recordings_gone {
        println!("note: recording {id} is no longer on the server (its story was withdrawn)");
    }
    for id in &report.recordings_waiting {
        println!(
            "waiting: recording {id}'s lossless copy has not reached the server yet; a later pull fetches it"
        );
    }
    if report.listening_not_fetched > 0 {
        println!(
            "{} on the server were left there (`tellus pull --listening` fetches them)",
            output::count(
                report.listening_not_fetched as u64,
                "listening copy",
                "listening copies"
            )
        );
    }
    println!(
        "{} holds {}, each with its SHA-256 in manifest.json",
        args.out.display(),
        output::count(report.files as u64, "file", "files")
    );
    Ok(())
}

fn print_changes(report: &tellus_lead::PullReport, mb: &dyn Fn(u64) -> String) {
    println!(
        "{}: {} written, {} downloaded ({}{}), {} ({} removed)",
        output::count(report.changes as u64, "change", "changes"),
        output::count(report.stories_written as u64, "story", "stories"),
        output::count(
            report.recordings_downloaded as u64,
            "recording",
            "recordings"
        ),
        mb(report.bytes_downloaded),
        if report.bytes_resumed > 0 {
            format!(", {} resumed from an earlier run", mb(report.bytes_resumed))
        } else {
            String::new()
        },
        output::count(report.withdrawals as u64, "withdrawal", "withdrawals"),
        output::count(report.files_removed as u64, "file", "files"),
    );
}

fn verify(ctx: &Context, dir: &std::path::Path) -> CmdResult {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("verifying {bar:30} {bytes}/{total_bytes}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let total: u64 = tellus_lead::Manifest::load(&tellus_lead::layout::Layout::new(dir))
        .map(|m| m.files.values().map(|f| f.bytes).sum())
        .unwrap_or(0);
    bar.set_length(total);
    let result = tellus_lead::verify(dir, &|bytes| bar.inc(bytes));
    bar.finish_and_clear();
    let report = result.map_err(|e| e.to_string())?;
    if ctx.json {
        output::json(&report)?;
    } else {
        for path in &report.altered {
            println!("ALTERED  {path}");
        }
        for path in &report.missing {
            println!("MISSING  {path}");
        }
        for path in &report.unexpected {
            println!("not in the manifest: {path}");
        }
        println!(
            "{} verified ({:.1} MB)",
            output::count(report.verified as u64, "file", "files"),
            report.bytes as f64 / 1e6
        );
    }
    if report.is_intact() {
        Ok(())
    } else {
        Err(format!(
            "{} altered and {} missing in {}; pull into a new folder to get good copies",
            output::count(report.altered.len() as u64, "file", "files"),
            report.missing.len(),
            dir.display()
        ))
    }
}

pub fn export_cmd(ctx: &Context, args: ExportArgs) -> CmdResult {
    let scope = ExportScope::parse(&args.scope).ok_or("unknown scope")?;
    let format = Format::parse(&args.format).ok_or("unknown format")?;
    let folder = PulledFolder::read(&args.from).map_err(|e| e.to_string())?;
    let options = ExportOptions {
        scope,
        format,
        include_contacts: args.include_contacts,
    };
    let exported = export(&folder, &options).map_err(|e| e.to_string())?;
    for why in &exported.skipped {
        eprintln!("warning: {why}");
    }
    let written: Vec<String> = match (format, &args.out) {
        (Format::Ohms, None) => {
            return Err("an OHMS export is one file per story: give a folder with --out".into());
        }
        (Format::Ohms, Some(dir)) => exported
            .write_into(dir)
            .map_err(|e| e.to_string())?
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        (_, Some(file)) => {
            exported.write_file(file).map_err(|e| e.to_string())?;
            vec![file.display().to_string()]
        }
        (_, None) => {
            let mut stdout = std::io::stdout().lock();
            for (_, bytes) in &exported.files {
                stdout
                    .write_all(bytes)
                    .map_err(|e| format!("cannot write the export: {e}"))?;
            }
            Vec::new()
        }
    };
    let summary = format!(
        "exported {} ({} scope); {} left out because their consent does not cover it",
        output::count(exported.stories as u64, "story", "stories"),
        scope.as_str(),
        exported.left_out
    );
    if ctx.json && args.out.is_some() {
        output::json(&serde_json::json!({
            "stories": exported.stories,
            "left_out": exported.left_out,
            "skipped": exported.skipped,
            "scope": scope.as_str(),
            "files": written,
        }))
    } else {
        eprintln!("{summary}");
        Ok(())
    }
}
