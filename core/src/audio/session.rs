//! The [`Recorder`]: one recording session of a story. Start, pause, resume, stop;
//! markers and notes at the current audio position; statistics and a level meter. A
//! writer thread drains the capture ring into `<id>.partial.wav`, checkpoints it every
//! second, watches free storage and the WAV size limit, rebuilds a failed stream into
//! the same recording, and on stop finalizes, hashes, indexes and renames the file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, mpsc};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::level::{Level, LevelMeter};
use super::source::{AudioFormat, AudioSource, CaptureSink, Counters, RunningStream, StreamFault};
use super::wav::{PartialWav, WAV_MAX_DATA_BYTES, sha256_file};
use crate::error::{Error, Result};
use crate::model::{
    CaptureEvent, CaptureEventKind, CaptureStats, NewNote, Note, Recording as IndexedRecording,
    RecordingId, RecordingState, StopReason, StoryId, Timestamp,
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
    /// How often the file's header is updated and its data fsynced.
    pub checkpoint_every: Duration,
    /// The level meter's window.
    pub level_window: Duration,
    /// A stream that delivers nothing for this long is treated as failed and rebuilt
    /// (a sound server that died, a device that went away without an error).
    pub stall_timeout: Duration,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            max_duration: None,
            min_free_bytes: 64 << 20,
            max_file_bytes: WAV_MAX_DATA_BYTES,
            ring: Duration::from_secs(10),
            checkpoint_every: Duration::from_secs(1),
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
    /// The session's length on the device's clock, paused time included.
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

/// How many times a failed stream is rebuilt in a row before the recording gives up.
const RESTART_ATTEMPTS: u32 = 5;

struct Shared {
    store: Arc<Store>,
    story: StoryId,
    recording: RecordingId,
    format: AudioFormat,
    counters: Arc<Counters>,
    stop_requested: AtomicBool,
    written: AtomicU64,
    restarts: AtomicU64,
    levels: Hub<(), Level>,
    last_level: Mutex<Option<Level>>,
    stopped: Mutex<Option<StopReason>>,
    outcome: Mutex<Option<std::result::Result<Recording, String>>>,
    /// Serializes pause and resume, and remembers the paused-frame count at the pause.
    pause: Mutex<Option<u64>>,
    writer: Arc<OnceLock<Thread>>,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    fs4::statvfs(dir).map(|s| s.available_space())
}

impl Recorder {
    /// Starts recording `story` from `source` into the store's recordings folder.
    pub fn start(
        store: Arc<Store>,
        story: StoryId,
        mut source: Box<dyn AudioSource>,
        options: RecorderOptions,
    ) -> Result<Recorder> {
        let format = source.format();
        if !(1..=2).contains(&format.channels) || format.sample_rate == 0 {
            return Err(Error::invalid(format!(
                "cannot record {} channels at {} Hz",
                format.channels, format.sample_rate
            )));
        }
        let dir = store.recordings_dir();
        let free = free_bytes(&dir)
            .map_err(|e| Error::io(format!("cannot check free space in {}", dir.display()), e))?;
        if free < options.min_free_bytes {
            return Err(Error::StorageFull);
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
            restarts: AtomicU64::new(0),
            levels: Hub::default(),
            last_level: Mutex::new(None),
            stopped: Mutex::new(None),
            outcome: Mutex::new(None),
            pause: Mutex::new(None),
            writer,
        });
        let session = Session {
            shared: shared.clone(),
            source,
            stream: Some(stream),
            consumer,
            ring_frames,
            wav: Some(wav),
            partial,
            meter: LevelMeter::new(
                format.sample_rate,
                format.channels,
                options.level_window.as_millis() as u32,
            ),
            options,
        };
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
        self.shared
            .store
            .add_note(self.shared.story, &NewNote::marker(text, at, question_id))
    }

    /// A note at the current audio position.
    pub fn add_note(&self, text: &str) -> Result<Note> {
        self.add_note_at(text, self.position())
    }

    /// A note at an audio position taken earlier: where the reporter started typing it.
    pub fn add_note_at(&self, text: &str, at: AudioPosition) -> Result<Note> {
        self.shared
            .store
            .add_note(self.shared.story, &NewNote::note(text, Some(at)))
    }

    pub fn stats(&self) -> RecorderStats {
        let shared = &self.shared;
        let c = &shared.counters;
        let ms = |frames| AudioPosition::from_millis(shared.format.frames_to_millis(frames));
        RecorderStats {
            position: self.position(),
            session: ms(c.device_frames.load(Ordering::Acquire)),
            paused: c.paused.load(Ordering::Acquire),
            frames_captured: c.captured.load(Ordering::Acquire),
            frames_written: shared.written.load(Ordering::Acquire),
            frames_dropped: c.dropped.load(Ordering::Acquire),
            frames_durable: 0,
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
    /// Calling it again returns the same result.
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

fn new_ring(
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
        },
        consumer,
    )
}

fn fault_signal(counters: &Arc<Counters>, writer: &Arc<OnceLock<Thread>>) -> StreamFault {
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

/// The writer thread's state.
struct Session {
    shared: Arc<Shared>,
    options: RecorderOptions,
    source: Box<dyn AudioSource>,
    stream: Option<Box<dyn RunningStream>>,
    consumer: rtrb::Consumer<i16>,
    ring_frames: u64,
    wav: Option<PartialWav>,
    partial: PathBuf,
    meter: LevelMeter,
}

impl Session {
    fn run(mut self) {
        let reason = self.record();
        release(self.stream.take());
        // Whatever is still in the ring was captured: it goes into the file too.
        let reason = match self.drain() {
            Ok(_) => reason,
            Err(_) => StopReason::WriteFailed,
        };
        *lock(&self.shared.stopped) = Some(reason);
        let outcome = self.finish(reason);
        *lock(&self.shared.outcome) = Some(outcome);
    }

    /// Drains, checkpoints and watches until the session ends; returns why.
    fn record(&mut self) -> StopReason {
        let shared = self.shared.clone();
        let counters = &shared.counters;
        let dir = shared.store.recordings_dir();
        let mut last_checkpoint = Instant::now();
        let mut last_space_check = Instant::now();
        let frame_bytes = 2 * u64::from(shared.format.channels);
        let mut written_at_check = 0u64;
        let mut last_device_frames = 0u64;
        let mut last_delivery = Instant::now();
        loop {
            let limit_reached = counters.limit_reached();
            let ended = counters.input_ended.load(Ordering::Acquire);
            let drained = match self.drain() {
                Ok(n) => n,
                Err(_) => return StopReason::WriteFailed,
            };
            if self.wav.as_ref().is_some_and(|w| w.room_frames() == 0) {
                return StopReason::FileSizeLimit;
            }
            if shared.stop_requested.load(Ordering::Acquire) {
                return StopReason::Requested;
            }
            if (limit_reached || ended) && self.consumer.is_empty() {
                return if limit_reached {
                    StopReason::DurationReached
                } else {
                    StopReason::InputEnded
                };
            }
            if counters.stream_failed.swap(false, Ordering::AcqRel)
                && !self.restart("the audio stream failed and was restarted")
            {
                return StopReason::DeviceFailed;
            }
            let device_frames = counters.device_frames.load(Ordering::Acquire);
            if device_frames != last_device_frames {
                last_device_frames = device_frames;
                last_delivery = Instant::now();
            } else if !ended && last_delivery.elapsed() >= self.options.stall_timeout {
                counters.stream_errors.fetch_add(1, Ordering::AcqRel);
                if !self.restart("the audio stream stopped delivering and was restarted") {
                    return StopReason::DeviceFailed;
                }
                last_delivery = Instant::now();
            }
            if last_checkpoint.elapsed() >= self.options.checkpoint_every {
                last_checkpoint = Instant::now();
                if let Some(wav) = self.wav.as_mut()
                    && wav.checkpoint().is_err()
                {
                    return StopReason::WriteFailed;
                }
            }
            // Every second, and sooner when audio arrives faster than real time, so the
            // margin is never used up between two checks.
            let written = self.wav.as_ref().map_or(0, |w| w.frames()) * frame_bytes;
            if last_space_check.elapsed() >= Duration::from_secs(1)
                || written - written_at_check >= self.options.min_free_bytes / 4
            {
                last_space_check = Instant::now();
                written_at_check = written;
                if free_bytes(&dir).is_ok_and(|free| free < self.options.min_free_bytes) {
                    return StopReason::LowDiskSpace;
                }
            }
            if drained == 0 {
                thread::park_timeout(Duration::from_millis(10));
            }
        }
    }

    /// Moves everything in the ring into the file (up to the size limit) and feeds the
    /// level meter. Returns the frames written.
    fn drain(&mut self) -> std::io::Result<u64> {
        let Some(wav) = self.wav.as_mut() else {
            return Ok(0);
        };
        let channels = usize::from(self.shared.format.channels);
        let available = self.consumer.slots() / channels;
        let frames = (available as u64).min(wav.room_frames()) as usize;
        if frames == 0 {
            return Ok(0);
        }
        let Ok(chunk) = self.consumer.read_chunk(frames * channels) else {
            return Ok(0);
        };
        let (first, second) = chunk.as_slices();
        let mut level = None;
        for part in [first, second] {
            if !part.is_empty() {
                wav.write(part)?;
                level = self.meter.feed(part).or(level);
            }
        }
        chunk.commit_all();
        self.shared.written.store(wav.frames(), Ordering::Release);
        if let Some(level) = level {
            *lock(&self.shared.last_level) = Some(level);
            self.shared.levels.publish((), level);
        }
        Ok(frames as u64)
    }

    /// Rebuilds a failed stream into the same recording, with a gap marker where the
    /// audio is missing. False when the device cannot be restarted.
    fn restart(&mut self, why: &str) -> bool {
        release(self.stream.take());
        let _ = self.drain();
        let shared = self.shared.clone();
        let at_frame = shared.counters.captured.load(Ordering::Acquire);
        let at = AudioPosition::from_millis(shared.format.frames_to_millis(at_frame));
        let _ = shared.store.add_capture_event(
            shared.recording,
            &CaptureEvent {
                at_frame,
                kind: CaptureEventKind::Gap,
                detail: why.into(),
            },
        );
        // The marker puts the gap on the story's timeline; the event above is the record.
        let _ = shared.store.add_note(
            shared.story,
            &NewNote::marker("Gap: the microphone stopped and was restarted", at, None),
        );
        let mut wait = Duration::from_millis(100);
        for _ in 0..RESTART_ATTEMPTS {
            if shared.stop_requested.load(Ordering::Acquire) {
                return true;
            }
            let (sink, consumer) = new_ring(&shared.counters, shared.format, self.ring_frames);
            let faults = fault_signal(&shared.counters, &shared.writer);
            if let Ok(stream) = self.source.start(sink, faults) {
                self.consumer = consumer;
                self.stream = Some(stream);
                shared.restarts.fetch_add(1, Ordering::AcqRel);
                return true;
            }
            thread::park_timeout(wait);
            wait *= 2;
        }
        false
    }

    /// Finalizes, hashes and indexes the file, then gives it its final name. On any
    /// failure the `.partial.wav` stays for recovery: nothing captured is lost.
    fn finish(&mut self, reason: StopReason) -> std::result::Result<Recording, String> {
        let shared = &self.shared;
        let wav = self.wav.take().ok_or("the recording has no file")?;
        let (frames, _lock) = wav.finish().map_err(|e| {
            format!(
                "the recording could not be finished ({e}); it will be recovered the next time the app opens"
            )
        })?;
        let (sha256, bytes) = sha256_file(&self.partial)
            .map_err(|e| format!("the recording could not be read back: {e}"))?;
        let file_name = format!("{}.wav", shared.recording);
        let c = &shared.counters;
        let stats = CaptureStats {
            frames_captured: frames,
            frames_dropped: c.dropped.load(Ordering::Acquire),
            stream_errors: c.stream_errors.load(Ordering::Acquire),
            restarts: shared.restarts.load(Ordering::Acquire),
        };
        let recording = IndexedRecording {
            id: shared.recording,
            story_id: shared.story,
            file_name: file_name.clone(),
            format: "wav".into(),
            sample_rate: shared.format.sample_rate,
            channels: shared.format.channels,
            frames,
            bytes,
            sha256,
            state: RecordingState::Complete,
            created_at: Timestamp::now(),
        };
        // Indexed first, renamed second: a crash in between leaves an indexed
        // `.partial.wav`, which recovery completes by renaming it.
        shared
            .store
            .finish_capture(&recording, &stats, reason)
            .map_err(|e| format!("the recording could not be indexed: {e}"))?;
        let path = shared.store.recordings_dir().join(&file_name);
        finalize_name(&self.partial, &path)
            .map_err(|e| format!("the recording could not be renamed: {e}"))?;
        Ok(Recording {
            recording,
            reason,
            stats,
            path,
        })
    }
}

/// Stops a stream without waiting on it forever: a sound server that died can leave the
/// stream's own thread stuck inside the audio library (seen with ALSA's PulseAudio
/// plugin), and the recording must go on, or end, regardless. A stream that does not stop
/// within 2 s is left to its thread.
fn release(stream: Option<Box<dyn RunningStream>>) {
    let Some(stream) = stream else {
        return;
    };
    let (done, stopped) = mpsc::channel();
    let releasing = thread::Builder::new()
        .name("tellus-stream-release".into())
        .spawn(move || {
            drop(stream);
            let _ = done.send(());
        });
    if releasing.is_ok() {
        let _ = stopped.recv_timeout(Duration::from_secs(2));
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
