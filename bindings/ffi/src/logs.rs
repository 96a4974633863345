//! The core's logs (`tracing`) for the shells: a `LogSink` the shell implements (Android
//! sends each record to logcat, iOS to os_log) receives every event at or above the
//! level it asked for. Events carry ids, counts and outcomes, never story text, names,
//! contacts, notes, codes or tokens (the core writes them that way; the FFI tests check
//! it over a whole journey).
//!
//! One subscriber is installed for the process the first time a sink is set; setting
//! another sink (or none) swaps it. A sink is called on the thread that logged, never
//! from the audio callback (which does not log), and never again from within itself.
//! A sink that throws loses that record and nothing else: whatever logged goes on, and
//! the sink keeps receiving (as the core's observers do).

use std::cell::Cell;
use std::fmt::Write as _;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

use crate::error::ObserverError;

/// How much a shell wants to hear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// One event: its level, where in the core it came from (`tellus_core::sync::engine`),
/// and its message with its fields (`sync finished documents=1 ...`).
#[derive(Debug, Clone, uniffi::Record)]
pub struct LogRecord {
    pub level: LogLevel,
    pub target: String,
    pub message: String,
}

/// Implemented by the shell: Android's forwards to `android.util.Log`, iOS's to
/// `Logger` (os_log). Called from Rust threads; keep it quick. An exception thrown here
/// (any, declared as `ObserverError`) loses that one record; it never reaches the core
/// code that logged.
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    fn log(&self, record: LogRecord) -> Result<(), ObserverError>;
}

/// Sends the core's logs at `level` and above to `sink` (None: nowhere). Call it once
/// at start (e.g. `Application.onCreate`), before opening the app.
#[uniffi::export]
pub fn set_log_sink(sink: Option<Arc<dyn LogSink>>, level: LogLevel) {
    install();
    if let Ok(mut current) = SINK.write() {
        *current = sink;
    }
    MAX_LEVEL.store(rank(level), Ordering::Release);
    // Callsites cached "never enabled" under the old level are asked again.
    tracing::callsite::rebuild_interest_cache();
}

static SINK: RwLock<Option<Arc<dyn LogSink>>> = RwLock::new(None);
/// 0: nothing; 1 error ... 5 trace.
static MAX_LEVEL: AtomicU8 = AtomicU8::new(0);

thread_local! {
    /// Set while this thread is inside the sink, so a sink that logs through the core
    /// does not call itself forever.
    static IN_SINK: Cell<bool> = const { Cell::new(false) };
}

fn rank(level: LogLevel) -> u8 {
    match level {
        LogLevel::Error => 1,
        LogLevel::Warn => 2,
        LogLevel::Info => 3,
        LogLevel::Debug => 4,
        LogLevel::Trace => 5,
    }
}

fn level_of(level: &Level) -> LogLevel {
    match *level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        _ => LogLevel::Trace,
    }
}

/// Installs the one subscriber of this library, once. If the host process already has
/// a global subscriber (an embedding app's own), that one keeps the logs.
fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = Registry::default().with(SinkLayer);
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

struct SinkLayer;

impl<S: Subscriber> Layer<S> for SinkLayer {
    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        rank(level_of(metadata.level())) <= MAX_LEVEL.load(Ordering::Acquire)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if IN_SINK.with(Cell::get) {
            return;
        }
        let Some(sink) = SINK.read().ok().and_then(|s| s.clone()) else {
            return;
        };
        let mut text = Text::default();
        event.record(&mut text);
        let record = LogRecord {
            level: level_of(event.metadata().level()),
            target: event.metadata().target().to_string(),
            message: text.message + &text.fields,
        };
        let _inside = InSink::enter();
        // Logging is called from anywhere in the core, in the middle of a sync or a
        // write: a sink's failure (an exception, or a panic lifting its answer) must not
        // unwind through it. The record is dropped; there is nowhere left to report it.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| sink.log(record)));
    }
}

/// Marks this thread as inside the sink until dropped, also when the call unwinds.
struct InSink;

impl InSink {
    fn enter() -> InSink {
        IN_SINK.with(|f| f.set(true));
        InSink
    }
}

impl Drop for InSink {
    fn drop(&mut self) {
        IN_SINK.with(|f| f.set(false));
    }
}

/// The event's message, then its fields as ` key=value`.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}
