//! `tellus enrol` and `tellus sync`: thin over tellus-core's sync. The CLI makes its own
//! tokio runtime; the core decides what to send.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use tellus_core::Store;
use tellus_core::model::StoryStatus;
use tellus_core::sync::{
    self, DeliveryState, HttpTransport, Network, SyncEngine, SyncError, SyncProgress, SyncReport,
    SyncSettings,
};

use crate::{CmdResult, Context, fail, output};

#[derive(Args)]
pub struct EnrolArgs {
    /// The project server's address, e.g. https://stories.example.org (an invite link
    /// carries it)
    #[arg(long, value_name = "URL", default_value = "")]
    server: String,
    /// The invite code from the project lead (XXXX-XXXX-XXXX-XXXX), or the invite link
    /// its QR code holds (tellus://enrol?...)
    #[arg(long, value_name = "CODE")]
    invite: String,
    /// The pin of the server's key (sha256:...), for a server with a self-signed
    /// certificate when the invite is a bare code (an invite link carries it)
    #[arg(long, value_name = "PIN")]
    pin: Option<String>,
    /// A name for this device the operator will recognise in `tellus admin devices`
    /// [default: "tellus on HOSTNAME"]
    #[arg(long, value_name = "NAME")]
    device_label: Option<String>,
    /// Enrol this computer as the project's lead (with a lead's invite), for
    /// `tellus pull`; without it, as a reporter's device that records and syncs
    #[arg(long)]
    lead: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum NetworkArg {
    Metered,
    Unmetered,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SyncArgs {
    #[command(subcommand)]
    command: Option<SyncCommand>,
    /// Keep running: retry while the server is unreachable, sync again as soon as it is
    /// back and whenever a story changes (Ctrl-C stops)
    #[arg(long)]
    watch: bool,
    /// The network this machine is on (audio waits for unmetered when the settings say
    /// so)
    #[arg(long, value_enum, default_value = "unmetered")]
    network: NetworkArg,
    /// With --watch: seconds between syncs when nothing changes
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    interval: u64,
}

#[derive(Subcommand)]
pub enum SyncCommand {
    /// Where each story stands: only on this device, uploading, delivered, needs attention
    Status,
    /// The delivery receipts the server gave (SHA-256 and size of each recording)
    Receipts,
    /// Show or change the sync settings
    Settings {
        /// Hold audio until the network is unmetered
        #[arg(long, value_name = "BOOL")]
        audio_on_unmetered_only: Option<bool>,
        /// Delete a recording's local file once the server's receipt matches it
        #[arg(long, value_name = "BOOL")]
        remove_local_audio_after_delivery: Option<bool>,
        /// Keep each recorded WAV beside its verified FLAC (default: the FLAC only)
        #[arg(long, value_name = "BOOL")]
        keep_wav: Option<bool>,
    },
    /// Try parked items again
    Retry,
}

fn transport() -> Result<Arc<HttpTransport>, String> {
    HttpTransport::new()
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// The invite as one link when `--pin` was given beside a bare code.
fn invite_with_pin(invite: &str, pin: Option<&str>) -> Result<String, String> {
    let Some(pin) = pin else {
        return Ok(invite.to_string());
    };
    let pin: tellus_core::net::CertificatePin = pin.parse().map_err(|e| format!("--pin: {e}"))?;
    let mut parsed = tellus_core::net::Invite::parse(invite).map_err(|e| e.to_string())?;
    if parsed.pin.is_some_and(|p| p != pin) {
        return Err("--pin differs from the pin the invite link carries".into());
    }
    parsed.pin = Some(pin);
    Ok(parsed.to_link())
}

/// This computer's host name ("tellus on amina-laptop"), so that an operator can tell
/// devices apart without every reporter typing a label.
fn default_device_label() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let name = buf.split(|&b| b == 0).next().unwrap_or_default();
    match std::str::from_utf8(name) {
        Ok(host) if ok && !host.trim().is_empty() => format!("tellus on {}", host.trim()),
        _ => "tellus cli".into(),
    }
}

pub fn enrol(ctx: &Context, args: EnrolArgs) -> CmdResult {
    let invite = invite_with_pin(&args.invite, args.pin.as_deref())?;
    let label = args.device_label.unwrap_or_else(default_device_label);
    if args.lead {
        return crate::lead::enrol(ctx, &args.server, &invite, &label);
    }
    let store = ctx.create_store()?;
    let transport = transport()?;
    let account = crate::runtime()?
        .block_on(sync::enrol(
            &store,
            transport,
            &args.server,
            &invite,
            &label,
        ))
        .map_err(|e| e.to_string())?;
    if ctx.json {
        return output::json(&account);
    }
    println!(
        "Enrolled with {} in project {} as reporter {}",
        account.server_url, account.project_id, account.reporter_id
    );
    println!("The project's configuration is on this device; `tellus sync` delivers stories.");
    Ok(())
}

pub fn run(ctx: &Context, args: SyncArgs) -> CmdResult {
    let store = Arc::new(ctx.open_store()?);
    match args.command {
        Some(SyncCommand::Status) => return status(ctx, &store),
        Some(SyncCommand::Receipts) => {
            let receipts = store.receipts().map_err(fail)?;
            if ctx.json {
                return output::json(&receipts);
            }
            let mut table =
                output::table(&["recording", "copy", "story", "bytes", "sha256", "received"]);
            for r in receipts {
                table.add_row(vec![
                    r.recording_id,
                    r.representation.to_string(),
                    r.story_id,
                    r.bytes.to_string(),
                    r.sha256,
                    r.received_at,
                ]);
            }
            println!("{table}");
            return Ok(());
        }
        Some(SyncCommand::Settings {
            audio_on_unmetered_only,
            remove_local_audio_after_delivery,
            keep_wav,
        }) => {
            let mut settings = store.sync_settings().map_err(fail)?;
            if let Some(v) = audio_on_unmetered_only {
                settings.audio_on_unmetered_only = v;
            }
            if let Some(v) = remove_local_audio_after_delivery {
                settings.remove_local_audio_after_delivery = v;
            }
            if let Some(v) = keep_wav {
                settings.keep_wav = v;
            }
            store.set_sync_settings(&settings).map_err(fail)?;
            return print_settings(ctx, &settings);
        }
        Some(SyncCommand::Retry) => {
            let n = store.retry_parked().map_err(fail)?;
            println!("{n} parked item(s) will be tried again on the next sync");
            return Ok(());
        }
        None => {}
    }
    let engine = SyncEngine::new(store.clone(), transport()?);
    engine.set_network(match args.network {
        NetworkArg::Metered => Network::Metered,
        NetworkArg::Unmetered => Network::Unmetered,
    });
    let bar = ProgressBar::new(!ctx.json && std::io::stderr().is_terminal());
    let shown = bar.clone();
    let _progress = engine.subscribe_progress(move |p: SyncProgress| shown.draw(&p));
    let rt = crate::runtime()?;
    if !args.watch {
        let result = rt.block_on(engine.sync());
        bar.clear();
        return match result {
            Ok(report) => print_report(ctx, &store, &report),
            Err(e) => Err(e.to_string()),
        };
    }
    rt.block_on(watch(
        ctx,
        &engine,
        &bar,
        Duration::from_secs(args.interval.max(1)),
    ))
}

/// Syncs until Ctrl-C, when the core says the next attempt is due (`NextAttempt`: at once
/// when more can go, at an item's retry time, after a backoff while the server is
/// unreachable) but never later than `interval`, and at once when a story changes.
async fn watch(
    ctx: &Context,
    engine: &SyncEngine,
    bar: &ProgressBar,
    interval: Duration,
) -> CmdResult {
    let changed = Arc::new(tokio::sync::Notify::new());
    let notify = changed.clone();
    let _changes = engine
        .store()
        .subscribe_story_changes(move |_| notify.notify_one());
    let stop = Arc::new(AtomicBool::new(false));
    let mut told_unreachable = false;
    loop {
        let sync = engine.sync();
        tokio::pin!(sync);
        let result = tokio::select! {
            result = &mut sync => result,
            _ = tokio::signal::ctrl_c() => {
                stop.store(true, Ordering::SeqCst);
                engine.cancel();
                sync.await
            }
        };
        bar.clear();
        match &result {
            Ok(report) => {
                told_unreachable = false;
                if report.has_news() {
                    print_report(ctx, engine.store(), report)?;
                }
            }
            Err(SyncError::Cancelled) if stop.load(Ordering::SeqCst) => return Ok(()),
            Err(e) if e.needs_enrolment() => return Err(e.to_string()),
            Err(e @ (SyncError::Unreachable(_) | SyncError::Offline)) => {
                if !told_unreachable {
                    eprintln!("waiting for the server: {e}");
                    told_unreachable = true;
                }
            }
            Err(e) => eprintln!("sync failed: {e}"),
        }
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let next = engine.next_attempt().map_err(fail)?;
        let wait = match next.at_ms {
            Some(at) => {
                let ms = at.saturating_sub(tellus_core::model::Timestamp::now().as_millis());
                Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(interval)
            }
            None => interval,
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = changed.notified() => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

fn print_settings(ctx: &Context, settings: &SyncSettings) -> CmdResult {
    if ctx.json {
        return output::json(settings);
    }
    println!(
        "audio on unmetered networks only: {}",
        settings.audio_on_unmetered_only
    );
    println!(
        "remove local audio after delivery: {}",
        settings.remove_local_audio_after_delivery
    );
    println!("keep the WAV beside its FLAC: {}", settings.keep_wav);
    Ok(())
}

fn status(ctx: &Context, store: &Store) -> CmdResult {
    let rows = store
        .story_page_on(tellus_core::store::MAX_PAGE, None, Network::Unmetered)
        .map_err(fail)?;
    if ctx.json {
        let out: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({ "story_id": r.story.id, "title": r.story.title, "delivery": r.delivery })
            })
            .collect();
        return output::json(&out);
    }
    let mut table = output::table(&["story", "title", "delivery"]);
    for r in rows {
        table.add_row(vec![
            r.story.id.to_string(),
            r.story.title.clone(),
            delivery_text(&r.delivery),
        ]);
    }
    println!("{table}");
    Ok(())
}

pub fn delivery_text(state: &DeliveryState) -> String {
    match state {
        DeliveryState::OnlyOnPhone => "only on this device".into(),
        DeliveryState::Uploading { percent } => format!("uploading {percent} %"),
        DeliveryState::WaitingForConnection { percent } => {
            format!("waiting for a connection ({percent} % on the server)")
        }
        DeliveryState::WaitingForUnmetered { percent } => {
            format!("audio waits for Wi-Fi ({percent} % on the server)")
        }
        DeliveryState::WaitingToRetry {
            percent,
            retry_at_ms,
            reason,
        } => format!(
            "tried again at {} ({percent} % on the server): {reason}",
            tellus_core::model::Timestamp::from_millis(*retry_at_ms)
        ),
        DeliveryState::Cancelled { percent } => {
            format!("cancelled, {percent} % on the server; the next sync goes on")
        }
        DeliveryState::Delivered {
            local_audio_removed: false,
        } => "delivered".into(),
        DeliveryState::Delivered {
            local_audio_removed: true,
        } => "delivered, local audio removed".into(),
        DeliveryState::NeedsAttention { reason } => format!("needs attention: {reason}"),
        DeliveryState::Withdrawn { propagated: true } => {
            "withdrawn; nothing of it is on the server".into()
        }
        DeliveryState::Withdrawn { propagated: false } => {
            "withdrawn (the server is not told yet)".into()
        }
    }
}

/// Stories still being written up here: nothing of them goes until they are ready.
fn drafts_waiting(store: &Store) -> Result<usize, String> {
    let mut drafts = 0;
    let mut before = None;
    loop {
        let page = store.list_stories(500, before).map_err(fail)?;
        for story in &page {
            if story.status == StoryStatus::Draft
                && matches!(
                    store.delivery_state(story.id).map_err(fail)?,
                    DeliveryState::OnlyOnPhone
                )
            {
                drafts += 1;
            }
        }
        match page.last() {
            Some(last) if page.len() == 500 => before = Some(last.id),
            _ => return Ok(drafts),
        }
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

fn print_report(ctx: &Context, store: &Store, report: &SyncReport) -> CmdResult {
    if ctx.json {
        return output::json(report);
    }
    if !report.has_news() {
        match drafts_waiting(store)? {
            0 => println!("Everything is delivered; nothing to send."),
            1 => println!(
                "Nothing to send: 1 draft waits on this device (`tellus story ready ID` when it is finished)."
            ),
            n => println!(
                "Nothing to send: {n} drafts wait on this device (`tellus story ready ID` when they are finished)."
            ),
        }
    }
    if report.consent_events_sent + report.documents_sent > 0 {
        println!(
            "Sent {} consent event(s) and {} story document(s)",
            report.consent_events_sent, report.documents_sent
        );
    }
    if !report.delivered.is_empty() {
        println!(
            "Delivered {} recording(s), {} confirmed; receipts:",
            report.delivered.len(),
            mb(report.audio_bytes_confirmed)
        );
        let mut table = output::table(&["recording", "bytes", "sha256 (server = this device)"]);
        for r in &report.delivered {
            table.add_row(vec![
                r.recording_id.clone(),
                r.bytes.to_string(),
                r.sha256.clone(),
            ]);
        }
        println!("{table}");
    }
    if report.withdrawals_propagated > 0 {
        println!(
            "{} withdrawal(s) reached the server ({} upload(s) ended there, {} local recording(s) deleted)",
            report.withdrawals_propagated, report.uploads_terminated, report.local_audio_removed
        );
    }
    if report.consent_changes_received > 0 {
        println!(
            "{} consent change(s) made by storytellers with their code came in ({} local recording(s) deleted); see `tellus consent show`",
            report.consent_changes_received, report.local_audio_removed
        );
    }
    if report.audio_waiting_for_unmetered > 0 {
        println!(
            "{} recording(s) wait for an unmetered network",
            report.audio_waiting_for_unmetered
        );
    }
    for f in &report.failures {
        println!("will retry: {f}");
    }
    for p in &report.parked {
        println!("needs attention: {p}");
    }
    Ok(())
}

/// A one-line progress bar on stderr (only on a terminal).
#[derive(Clone)]
struct ProgressBar {
    enabled: bool,
}

impl ProgressBar {
    fn new(enabled: bool) -> Self {
        ProgressBar { enabled }
    }

    fn draw(&self, p: &SyncProgress) {
        if !self.enabled {
            return;
        }
        let fraction = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
        let all = fraction(p.bytes_sent, p.bytes_total);
        let story = fraction(p.story_bytes_sent, p.story_bytes_total);
        let width = 24;
        let filled = ((all * width as f64) as usize).min(width);
        let line = format!(
            "\r[{}{}] {:>3.0}%  {} / {}  story {}/{} ({:.0}%)",
            "#".repeat(filled),
            "-".repeat(width - filled),
            all * 100.0,
            mb(p.bytes_sent),
            mb(p.bytes_total),
            (p.stories_done + 1).min(p.stories_total.max(1)),
            p.stories_total,
            story * 100.0
        );
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{line}\x1b[K");
        let _ = err.flush();
    }

    fn clear(&self) {
        if self.enabled {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }
}
