//! The [`Recorder`]: one recording session of a story. Start, pause, resume, stop;
//! markers and notes at the current audio position; statistics and a level meter. Its
//! writer thread (`writer.rs`) drains the capture ring into `<id>.partial.wav`, makes it
//! durable from the first audio on, watches free storage, the WAV size limit and the
//! microphone, and on stop finalizes, hashes, indexes and renames the file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::{self, JoinHandle, Thread};
use std::time::Duration;

use serde::Serialize;

use super::device::Device;
use super::level::{Level, LevelMeter};
use super::source::{AudioFormat, AudioSource, CaptureSink, Counters, StreamFault};
use super::wav::{PartialWav, WAV_MAX_DATA_BYTES};
use super::writer::Writer;
use crate::error::{Error, Result};
use crate::model::{
    CaptureEvent, CaptureEventKind, CaptureStats, NewNote, Note, Recording as IndexedRecording,
    RecordingId, StopReason, StoryId,
};
use crate::observe::{Hub, Observer, Subscription};
use crate::position::AudioPosition;
use crate::store::{NewCapture, Store};

/// How a recording session behaves. The defaults suit a phone.
#[derive(Debug, Clone)]
pub struct RecorderOptions {
    /// End the session after this much device time (paused time counts).
    pub max_duration: Option<Duration>,
    /// Stop cleanly when free storage falls below this many bytes.
    pub min_free_bytes: u64,
    /// Stop cleanly when the audio reaches this many bytes (at most the WAV limit).
    pub max_file_bytes: u64,
    /// How much audio the ring between the callback and the writer holds.
    pub ring: Duration,
    /// How often the file's header is updated and its data fsynced (and at once when
    /// the first audio arrives). With the writer's wake-ups and the device's own
    /// buffering this bounds what a crash can lose: half a second keeps it under one.
    pub checkpoint_every: Duration,
    /// The level meter's window.
    pub level_window: Duration,
    /// A stream that delivers nothing for this long is treated as failed and rebuilt
    /// (a sound server that died, a device that went away without an error); a rebuilt
    /// one that stays silent this long counts as a failed restart.
    pub stall_timeout: Duration,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            max_duration: None,
            min_free_bytes: 64 << 20,
            max_file_bytes: WAV_MAX_DATA_BYTES,
            ring: Duration::from_secs(10),
            checkpoint_every: Duration::from_millis(500),
            level_window: Duration::from_millis(50),
            // The first callback of a stream can come 2 s late; a stall is longer.
            stall_timeout: Duration::from_secs(4),
        }
    }
}

/// A snapshot of a recording session, for a meter and a status line.
#[derive(Debug, Clone, Serialize)]
pub struct RecorderStats {
    /// The recording's audio position: frames captured so far, as time.
    pub position: AudioPosition,
    /// The session's length: the device's clock, paused time and the time a failed
    /// microphone was silent included.
    pub session: AudioPosition,
    pub paused: bool,
    pub frames_captured: u64,
    pub frames_written: u64,
    /// Frames lost to ring overflow. Reported, never hidden.
    pub frames_dropped: u64,
    /// Frames on disk as of the last checkpoint: what a crash now would keep.
    pub frames_durable: u64,
    pub stream_errors: u64,
    pub restarts: u64,
    pub level: Option<Level>,
    /// Why the session ended, once it has.
    pub stopped: Option<StopReason>,
}

/// A finished recording: indexed in the store and renamed to `<id>.wav`.
#[derive(Debug, Clone, Serialize)]
pub struct Recording {
    pub recording: IndexedRecording,
    pub reason: StopReason,
    pub stats: CaptureStats,
    pub path: PathBuf,
}

/// What the recorder's API and its writer thread share.
pub(super) struct Shared {
    pub(super) store: Arc<Store>,
    pub(super) story: StoryId,
    pub(super) recording: RecordingId,
    pub(super) format: AudioFormat,
    pub(super) counters: Arc<Counters>,
    pub(super) stop_requested: AtomicBool,
    pub(super) written: AtomicU64,
    /// Frames on disk as of the last checkpoint.
    pub(super) durable: AtomicU64,
    pub(super) restarts: AtomicU64,
    /// Session time the microphone was silent while it was being restarted, as frames.
    pub(super) gap_frames: AtomicU64,
    pub(super) levels: Hub<(), Level>,
    pub(super) last_level: Mutex<Option<Level>>,
    pub(super) stopped: Mutex<Option<StopReason>>,
    pub(super) outcome: Mutex<Option<std::result::Result<Recording, String>>>,
    /// Serializes pause and resume, and remembers the paused-frame count at the pause.
    pause: Mutex<Option<u64>>,
    pub(super) writer: Arc<OnceLock<Thread>>,
}

/// One recording session. `Send + Sync`; every method takes `&self`.
pub struct Recorder {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

// The FFI shares one recorder between the UI and the service threads.
const _: fn() = || {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Recorder>();
};

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    fs4::statvfs(dir).map(|s| s.available_space())
}

impl Recorder {
    /// Starts recording `story` from `source` into the store's recordings folder. A
    /// format Tellus does not record, or too little free storage, is refused before
    /// anything is created.
    pub fn start(
        store: Arc<Store>,
        story: StoryId,
        mut source: Box<dyn AudioSource>,
        options: RecorderOptions,
    ) -> Result<Recorder> {
        let format = source.format();
        format.check()?;
        let dir = store.recordings_dir();
        let free = free_bytes(&dir)
            .map_err(|e| Error::io(format!("cannot check free space in {}", dir.display()), e))?;
        if free < options.min_free_bytes {
            return Err(Error::NotEnoughStorage {
                path: dir,
                free_bytes: free,
                needed_bytes: options.min_free_bytes,
            });
        }
        let recording = RecordingId::new();
        store.begin_capture(&NewCapture {
            recording_id: recording,
            story_id: story,
            device: source.describe(),
            sample_rate: format.sample_rate,
            channels: format.channels,
        })?;
        let partial = dir.join(format!("{recording}.partial.wav"));
        let wav = PartialWav::create(&partial, format, options.max_file_bytes)?;

        let limit = options
            .max_duration
            .map(|d| format.millis_to_frames(d.as_millis() as u64));
        let counters = Arc::new(Counters::new(limit));
        let writer: Arc<OnceLock<Thread>> = Arc::default();
        let ring_frames = format
            .millis_to_frames(options.ring.as_millis() as u64)
            .max(1024);
        let (sink, consumer) = new_ring(&counters, format, ring_frames);
        let faults = fault_signal(&counters, &writer);
        let stream = match source.start(sink, faults) {
            Ok(stream) => stream,
            Err(e) => {
                drop(wav);
                let _ = std::fs::remove_file(&partial); // empty: nothing was captured
                let _ = store.end_capture_without_audio(
                    recording,
                    &CaptureStats::default(),
                    StopReason::DeviceFailed,
                );
                return Err(e);
            }
        };
        let shared = Arc::new(Shared {
            store,
            story,
            recording,
            format,
            counters,
            stop_requested: AtomicBool::new(false),
            written: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            gap_frames: AtomicU64::new(0),
            levels: Hub::default(),
            last_level: Mutex::new(None),
            stopped: Mutex::new(None),
            outcome: Mutex::new(None),
            pause: Mutex::new(None),
            writer,
        });
        let meter = LevelMeter::new(
            format.sample_rate,
            format.channels,
            options.level_window.as_millis() as u32,
        );
        let session = Writer::new(
            shared.clone(),
            options,
            Device::new(source, stream),
            consumer,
            ring_frames,
            wav,
            partial,
            meter,
        );
        let thread = thread::Builder::new()
            .name("tellus-recorder".into())
            .spawn(move || session.run())
            .map_err(|e| Error::io("cannot start the recording thread", e))?;
        let _ = shared.writer.set(thread.thread().clone());
        Ok(Recorder {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn recording_id(&self) -> RecordingId {
        self.shared.recording
    }

    pub fn story_id(&self) -> StoryId {
        self.shared.story
    }

    pub fn format(&self) -> AudioFormat {
        self.shared.format
    }

    /// The current audio position: where a marker placed now belongs.
    pub fn position(&self) -> AudioPosition {
        let frames = self.shared.counters.captured.load(Ordering::Acquire);
        AudioPosition::from_millis(self.shared.format.frames_to_millis(frames))
    }

    /// Pauses: the device keeps running, its frames are counted but not recorded.
    pub fn pause(&self) -> Result<()> {
        self.ensure_running()?;
        let mut pause = lock(&self.shared.pause);
        if pause.is_some() {
            return Ok(());
        }
        let counters = &self.shared.counters;
        counters.paused.store(true, Ordering::Release);
        *pause = Some(counters.paused_frames.load(Ordering::Acquire));
        self.event(CaptureEventKind::Pause, String::new())
    }

    /// Resumes after a pause; the new segment starts at the current audio position.
    pub fn resume(&self) -> Result<()> {
        self.ensure_running()?;
        let mut pause = lock(&self.shared.pause);
        let Some(paused_at) = pause.take() else {
            return Ok(());
        };
        let counters = &self.shared.counters;
        // Read before resuming: nothing is captured while paused, so this is exactly
        // where the next segment starts.
        let paused_ms = self
            .shared
            .format
            .frames_to_millis(counters.paused_frames.load(Ordering::Acquire) - paused_at);
        let result = self.event(
            CaptureEventKind::Resume,
            format!("paused for {paused_ms} ms"),
        );
        counters.paused.store(false, Ordering::Release);
        result
    }

    pub fn is_paused(&self) -> bool {
        self.shared.counters.paused.load(Ordering::Acquire)
    }

    /// A marker at the current audio position.
    pub fn add_marker(&self, text: &str, question_id: Option<&str>) -> Result<Note> {
        let at = self.position();
        self.shared.store.add_note(
            self.shared.story,
            &NewNote::marker(text, at, question_id).in_recording(self.shared.recording),
        )
    }

    /// A note at the current audio position.
    pub fn add_note(&self, text: &str) -> Result<Note> {
        self.add_note_at(text, self.position())
    }

    /// A note at an audio position taken earlier: where the reporter started typing it.
    pub fn add_note_at(&self, text: &str, at: AudioPosition) -> Result<Note> {
        self.shared.store.add_note(
            self.shared.story,
            &NewNote::note(text, Some(at)).in_recording(self.shared.recording),
        )
    }

    pub fn stats(&self) -> RecorderStats {
        let shared = &self.shared;
        let c = &shared.counters;
        let ms = |frames| AudioPosition::from_millis(shared.format.frames_to_millis(frames));
        RecorderStats {
            position: self.position(),
            session: ms(
                c.device_frames.load(Ordering::Acquire) + shared.gap_frames.load(Ordering::Acquire)
            ),
            paused: c.paused.load(Ordering::Acquire),
            frames_captured: c.captured.load(Ordering::Acquire),
            frames_written: shared.written.load(Ordering::Acquire),
            frames_dropped: c.dropped.load(Ordering::Acquire),
            frames_durable: shared.durable.load(Ordering::Acquire),
            stream_errors: c.stream_errors.load(Ordering::Acquire),
            restarts: shared.restarts.load(Ordering::Acquire),
            level: *lock(&shared.last_level),
            stopped: *lock(&shared.stopped),
        }
    }

    /// Calls `observer` with the level of every ~50 ms of audio, on its own thread;
    /// a slow observer sees fewer, newer levels and never slows the recording.
    pub fn subscribe_levels(&self, observer: impl Observer<Level>) -> Subscription {
        self.shared.levels.subscribe(observer)
    }

    /// True once the session has ended, by `stop` or by itself (length reached, storage
    /// low, size limit, a device that could not be restarted).
    pub fn has_stopped(&self) -> bool {
        lock(&self.shared.stopped).is_some()
    }

    /// Stops (if still running), finishes the file and returns the indexed recording.
    /// Returns promptly whatever the device does (a device that hangs is left to its
    /// thread). A recording that captured no audio at all is not indexed: that is an
    /// error saying so. Calling it again returns the same result.
    pub fn stop(&self) -> Result<Recording> {
        self.shared.stop_requested.store(true, Ordering::Release);
        if let Some(t) = self.shared.writer.get() {
            t.unpark();
        }
        let handle = lock(&self.thread).take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            return Err(Error::Audio(
                "the recording thread failed; the audio captured so far is recovered the next time the app opens".into(),
            ));
        }
        match lock(&self.shared.outcome).clone() {
            Some(Ok(recording)) => Ok(recording),
            Some(Err(message)) => Err(Error::Audio(message)),
            None => Err(Error::Audio("the recording did not finish".into())),
        }
    }

    fn ensure_running(&self) -> Result<()> {
        match *lock(&self.shared.stopped) {
            Some(reason) => Err(Error::Audio(format!(
                "the recording has already stopped: {}",
                reason.message()
            ))),
            None => Ok(()),
        }
    }

    fn event(&self, kind: CaptureEventKind, detail: String) -> Result<()> {
        let at_frame = self.shared.counters.captured.load(Ordering::Acquire);
        self.shared.store.add_capture_event(
            self.shared.recording,
            &CaptureEvent {
                at_frame,
                kind,
                detail,
            },
        )
    }
}

impl Drop for Recorder {
    /// A recorder dropped while running still finishes its file: audio is never left
    /// as a partial file by choice.
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A ring for the current generation of sinks: only its sink may push.
pub(super) fn new_ring(
    counters: &Arc<Counters>,
    format: AudioFormat,
    frames: u64,
) -> (CaptureSink, rtrb::Consumer<i16>) {
    let (producer, consumer) =
        rtrb::RingBuffer::new(frames as usize * usize::from(format.channels));
    (
        CaptureSink {
            producer,
            counters: counters.clone(),
            channels: format.channels,
            generation: counters.generation.load(Ordering::Acquire),
        },
        consumer,
    )
}

pub(super) fn fault_signal(
    counters: &Arc<Counters>,
    writer: &Arc<OnceLock<Thread>>,
) -> StreamFault {
    let writer = writer.clone();
    StreamFault {
        counters: counters.clone(),
        wake: Arc::new(move || {
            if let Some(t) = writer.get() {
                t.unpark();
            }
        }),
    }
}

/// Renames `from` to `to` and makes the rename durable.
pub(crate) fn finalize_name(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)?;
    if let Some(dir) = to.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}
