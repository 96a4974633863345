//! `tellus devices` and `tellus record`: capture an interview from a microphone with a
//! live level meter, elapsed audio time and keys for pause, markers, notes and stop.

use std::fmt::Display;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use clap::Args;
use tellus_core::AudioPosition;
use tellus_core::audio::{
    AudioSource, CpalSource, FinishedRecording, GeneratedSource, Pacing, Recorder, RecorderOptions,
    RecorderStats, list_input_devices,
};
use tellus_core::model::StoryId;

use crate::{CmdResult, Context, fail, output};

#[derive(Args)]
pub struct RecordArgs {
    /// The story to record
    #[arg(long)]
    story: StoryId,
    /// Input device, as `tellus devices` lists it [default: the default input device]
    #[arg(long, value_name = "NAME", conflicts_with = "from_file")]
    device: Option<String>,
    /// Record a 16-bit WAV file, played in real time, instead of a microphone
    #[arg(long, value_name = "WAV")]
    from_file: Option<PathBuf>,
    /// Stop after this long: 30s, 500ms, 2m, 1h or 1:30 (paused time counts)
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Ask the device for this sample rate [default: the device's own]
    #[arg(long, value_name = "HZ")]
    rate: Option<u32>,
    /// Keep two channels instead of recording mono
    #[arg(long)]
    stereo: bool,
}

/// "30s", "500ms", "2m", "1h", or an audio position such as "1:30" or "75".
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let units: [(&str, u64); 4] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)];
    for (unit, millis) in units {
        if let Some(number) = text.strip_suffix(unit)
            && let Ok(n) = number.trim().parse::<f64>()
            && n.is_finite()
            && n > 0.0
        {
            return Ok(Duration::from_millis((n * millis as f64).round() as u64));
        }
    }
    match text.parse::<AudioPosition>() {
        Ok(p) if p.as_millis() > 0 => Ok(Duration::from_millis(p.as_millis())),
        _ => Err(format!(
            "'{text}' is not a length: use 30s, 500ms, 2m, 1h or 1:30"
        )),
    }
}

/// A microphone that cannot be opened or started: the error, and the two ways on.
fn no_microphone(e: tellus_core::Error) -> String {
    format!(
        "{}; `tellus devices` lists the audio inputs (--device NAME picks one), and --from-file FILE.wav records from a WAV file instead",
        fail(e)
    )
}

pub fn devices(ctx: &Context) -> CmdResult {
    let devices = list_input_devices().map_err(fail)?;
    if ctx.json {
        return output::json(&devices);
    }
    if devices.is_empty() {
        println!("No audio input devices were found.");
        return Ok(());
    }
    let mut t = output::table(&["name", "default", "format", "description"]);
    for d in &devices {
        t.add_row(vec![
            d.name.clone(),
            if d.is_default { "yes" } else { "" }.to_string(),
            d.default_config
                .clone()
                .unwrap_or_else(|| "cannot be opened now".into()),
            d.description.clone(),
        ]);
    }
    println!("{t}");
    Ok(())
}

/// What the person asks for while recording.
enum Command {
    TogglePause,
    Marker(String),
    /// A note, at the position where the person began typing it (None: now).
    Note(String, Option<AudioPosition>),
    Stop,
    /// Stdin ended: without `--for` the recording stops.
    InputEnded,
}

/// Watches for SIGTERM, SIGINT and SIGHUP (a terminal that closed, a service manager,
/// Ctrl+C outside raw mode): each stops the recording as cleanly as `q`. Sets the
/// returned flag and sends `Stop` on `commands`.
fn stop_on_signals(commands: mpsc::Sender<Command>) -> Result<Arc<AtomicBool>, String> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|e| format!("cannot watch for signals: {e}"))?;
    let flag = Arc::new(AtomicBool::new(false));
    let raised = flag.clone();
    std::thread::Builder::new()
        .name("tellus-signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                raised.store(true, Ordering::Release);
                let _ = commands.send(Command::Stop);
            }
        })
        .map_err(|e| format!("cannot watch for signals: {e}"))?;
    Ok(flag)
}

/// A line on stdout that may no longer be there (a terminal that hung up, a closed
/// pipe): the recording is finished and kept either way.
fn say(line: impl Display) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

pub fn record(ctx: &Context, args: RecordArgs) -> CmdResult {
    let (commands_tx, commands) = mpsc::channel();
    let signalled = stop_on_signals(commands_tx.clone())?;
    let store = Arc::new(ctx.open_store()?);
    store.ensure_story_open(args.story).map_err(fail)?;
    let source: Box<dyn AudioSource> = match &args.from_file {
        Some(path) => Box::new(GeneratedSource::from_wav(path, Pacing::RealTime).map_err(fail)?),
        None => Box::new(
            CpalSource::open(args.device.as_deref(), args.rate, args.stereo)
                .map_err(no_microphone)?,
        ),
    };
    let device = source.describe();
    let options = RecorderOptions {
        max_duration: args.duration,
        ..RecorderOptions::default()
    };
    let recorder = Recorder::start(store.clone(), args.story, source, options).map_err(|e| {
        if args.from_file.is_some() {
            fail(e)
        } else {
            no_microphone(e)
        }
    })?;
    let done = if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() && !ctx.json {
        interactive(&recorder, &device, &signalled)
    } else {
        read_commands(commands_tx);
        // A file has its own end, as `--for` has: the recording runs to it.
        let has_end = args.duration.is_some() || args.from_file.is_some();
        scripted(ctx, &recorder, &device, has_end, commands)
    };
    let finished = recorder.stop().map_err(fail)?;
    done?;
    let prepared = prepare(store.as_ref(), finished.recording.id);
    report(ctx, store.as_ref(), &finished, prepared.as_ref())
}

/// Makes the recording's FLAC (verified against the WAV) and listening copy now, so the
/// files are there when the reporter looks; a failure is said and left to the next sync,
/// which tries again. The recording itself is kept either way.
fn prepare(
    store: &tellus_core::Store,
    recording: tellus_core::model::RecordingId,
) -> Option<tellus_core::audio::PrepareReport> {
    match tellus_core::audio::prepare_recording(store, recording) {
        Ok(report) => {
            for failure in &report.failed {
                eprintln!(
                    "note: the {} copy was not made now ({}); the next sync tries again",
                    failure.representation, failure.reason
                );
            }
            Some(report)
        }
        Err(e) => {
            eprintln!(
                "note: the recording's copies were not made now ({e}); the next sync makes them"
            );
            None
        }
    }
}

/// A terminal: raw-mode keys and a redrawn meter line.
fn interactive(recorder: &Recorder, device: &str, signalled: &AtomicBool) -> CmdResult {
    use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    use crossterm::terminal;

    say(format_args!("Recording from {device}"));
    say("Keys: space pause/resume · m marker · n note · q stop");
    terminal::enable_raw_mode().map_err(|e| format!("cannot read keys: {e}"))?;
    // Raw mode is undone on every way out of this function.
    struct Cooked;
    impl Drop for Cooked {
        fn drop(&mut self) {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
    let _cooked = Cooked;
    // A note being typed, and the audio position where typing began.
    let mut typing: Option<(String, AudioPosition)> = None;
    let mut last_message = String::new();
    let mut out = std::io::stdout();
    loop {
        if recorder.has_stopped() || signalled.load(Ordering::Acquire) {
            break;
        }
        if event::poll(Duration::from_millis(50)).unwrap_or(false)
            && let Ok(Event::Key(key)) = event::read()
            && key.kind != KeyEventKind::Release
        {
            let ctrl_c =
                key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c');
            let command = match (&mut typing, key.code) {
                _ if ctrl_c => Some(Command::Stop),
                (Some((text, at)), KeyCode::Enter) => {
                    let command = Command::Note(std::mem::take(text), Some(*at));
                    typing = None;
                    Some(command)
                }
                (Some(_), KeyCode::Esc) => {
                    typing = None;
                    None
                }
                (Some((text, _)), KeyCode::Backspace) => {
                    text.pop();
                    None
                }
                (Some((text, _)), KeyCode::Char(c)) => {
                    text.push(c);
                    None
                }
                (Some(_), _) => None,
                (None, KeyCode::Char(' ')) => Some(Command::TogglePause),
                (None, KeyCode::Char('m')) => Some(Command::Marker("Marker".into())),
                (None, KeyCode::Char('n')) => {
                    typing = Some((String::new(), recorder.position()));
                    None
                }
                (None, KeyCode::Char('q') | KeyCode::Esc) => Some(Command::Stop),
                _ => None,
            };
            match command {
                Some(Command::Stop) => break,
                Some(command) => last_message = apply(recorder, command),
                None => {}
            }
        }
        let stats = recorder.stats();
        let line = match &typing {
            Some((text, at)) => format!("note at {at}: {text}_"),
            None => format!("{}  {last_message}", meter_line(&stats)),
        };
        let _ = write!(
            out,
            "\r{}{line}",
            crossterm::terminal::Clear(crossterm::terminal::ClearType::CurrentLine)
        );
        let _ = out.flush();
    }
    drop(_cooked);
    say("");
    Ok(())
}

/// Not a terminal (a script, a test): status lines every 50 ms and commands as stdin
/// lines ("space" or "p", "m TEXT", "n TEXT", "q"). When stdin ends, `--for` (or the
/// end of `--from-file`) decides when to stop; without either the recording stops then.
fn scripted(
    ctx: &Context,
    recorder: &Recorder,
    device: &str,
    has_end: bool,
    commands: Receiver<Command>,
) -> CmdResult {
    let format = recorder.format();
    if ctx.json {
        print_json(&serde_json::json!({
            "event": "started",
            "recording_id": recorder.recording_id(),
            "device": device,
            "sample_rate": format.sample_rate,
            "channels": format.channels,
        }));
    } else {
        say(format_args!("Recording from {device}"));
    }
    // Commands and signals wake the loop at once; otherwise it wakes for the status
    // line only (a plain one twice a second: a recording laptop stays idle).
    let every = Duration::from_millis(if ctx.json { 50 } else { 500 });
    let mut next_status = Instant::now();
    while !recorder.has_stopped() {
        let wait = next_status.saturating_duration_since(Instant::now());
        match commands.recv_timeout(wait) {
            Ok(Command::Stop) => return Ok(()),
            Ok(Command::InputEnded) if !has_end => return Ok(()),
            Ok(Command::InputEnded) => {}
            Ok(command) => {
                let message = apply(recorder, command);
                if ctx.json {
                    print_json(&serde_json::json!({"event": "command", "result": message}));
                } else {
                    say(message);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            // The signal watcher keeps a sender for as long as the process runs.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
        }
        if Instant::now() >= next_status {
            next_status = Instant::now() + every;
            let stats = recorder.stats();
            if ctx.json {
                print_json(&serde_json::json!({"event": "status", "stats": stats}));
            } else {
                say(meter_line(&stats));
            }
        }
    }
    Ok(())
}

/// Reads commands from stdin lines on a thread of its own.
fn read_commands(tx: mpsc::Sender<Command>) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let (word, rest) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
            let command = match word {
                "space" | "p" | "pause" | "resume" => Command::TogglePause,
                "m" => Command::Marker(if rest.is_empty() { "Marker" } else { rest }.into()),
                "n" => Command::Note(rest.to_string(), None),
                "q" | "quit" | "stop" => Command::Stop,
                _ => continue,
            };
            if tx.send(command).is_err() {
                return;
            }
        }
        let _ = tx.send(Command::InputEnded);
    });
}

/// Carries out a command; returns the line that tells the person what happened.
fn apply(recorder: &Recorder, command: Command) -> String {
    let result = match command {
        Command::TogglePause if recorder.is_paused() => recorder
            .resume()
            .map(|_| format!("resumed at {}", recorder.position())),
        Command::TogglePause => recorder
            .pause()
            .map(|_| format!("paused at {}", recorder.position())),
        Command::Marker(text) => recorder
            .add_marker(&text, None)
            .map(|n| format!("marker at {}", position_text(n.at))),
        Command::Note(text, at) => at
            .map_or_else(
                || recorder.add_note(&text),
                |at| recorder.add_note_at(&text, at),
            )
            .map(|n| format!("note at {}", position_text(n.at))),
        Command::Stop | Command::InputEnded => Ok(String::new()),
    };
    result.unwrap_or_else(|e| format!("not done: {e}"))
}

fn position_text(at: Option<AudioPosition>) -> String {
    at.map(|p| p.to_string()).unwrap_or_default()
}

fn meter_line(stats: &RecorderStats) -> String {
    let state = if stats.paused {
        "⏸ PAUSED"
    } else {
        "● REC"
    };
    let (bar, db) = match stats.level {
        Some(level) => {
            // -60 dBFS and below is an empty bar; 0 dBFS a full one.
            let filled = (((level.rms_dbfs + 60.0) / 60.0).clamp(0.0, 1.0) * 20.0) as usize;
            (
                format!("{}{}", "█".repeat(filled), "░".repeat(20 - filled)),
                format!("{:>6.1} dBFS", level.rms_dbfs),
            )
        }
        None => ("░".repeat(20), "     - dBFS".to_string()),
    };
    let mut line = format!("{state} {}  {bar} {db}", stats.position);
    if stats.frames_dropped > 0 || stats.stream_errors > 0 {
        line.push_str(&format!(
            "  dropped {} frames, {} stream errors",
            stats.frames_dropped, stats.stream_errors
        ));
    }
    line
}

fn print_json(value: &serde_json::Value) {
    say(value);
}

fn report(
    ctx: &Context,
    store: &tellus_core::Store,
    finished: &FinishedRecording,
    prepared: Option<&tellus_core::audio::PrepareReport>,
) -> CmdResult {
    let capture = store.capture(finished.recording.id).map_err(fail)?;
    if ctx.json {
        print_json(&serde_json::json!({
            "event": "stopped",
            "reason": finished.reason,
            "message": finished.reason.message(),
            "recording": finished.recording,
            "path": finished.path,
            "stats": finished.stats,
            "segments": capture.events,
            "prepared": prepared,
        }));
        return Ok(());
    }
    let r = &finished.recording;
    say(format_args!("Stopped: {}", finished.reason.message()));
    say(format_args!("  recording  {}", r.id));
    say(format_args!("  file       {}", finished.path.display()));
    say(format_args!(
        "  audio      {} ({} Hz, {} ch, {} frames, {} bytes)",
        AudioPosition::from_millis(r.duration_ms()),
        r.sample_rate,
        r.channels,
        r.frames,
        r.bytes
    ));
    say(format_args!("  sha256     {}", r.sha256));
    let s = &finished.stats;
    say(format_args!(
        "  dropped {} · {} · {} · {}",
        output::count(s.frames_dropped, "frame", "frames"),
        output::count(s.stream_errors, "stream error", "stream errors"),
        output::count(s.restarts, "restart", "restarts"),
        output::count(
            capture
                .events
                .iter()
                .filter(|e| e.kind == tellus_core::model::CaptureEventKind::Pause)
                .count() as u64,
            "pause",
            "pauses"
        )
    ));
    for made in prepared.iter().flat_map(|p| &p.made) {
        say(format_args!(
            "  {:<10} {}, {} bytes, verified",
            made.representation.as_str(),
            made.format,
            made.bytes
        ));
    }
    if prepared.is_some_and(|p| !p.wav_removed.is_empty()) {
        say("  the WAV was removed: its verified FLAC holds the same samples");
    }
    Ok(())
}
