//! The recorder's writer thread. It drains the capture ring into `<id>.partial.wav`,
//! makes the file durable as soon as the first audio is in it and then every
//! `checkpoint_every`, feeds the level meter, watches free storage, the WAV size limit
//! and the microphone, and when the session ends makes everything captured durable
//! before it lets go of the device, then finalizes, hashes, indexes and renames the file.
//!
//! The microphone is watched for errors and for silence. A failed or silent stream opens
//! an outage: one `gap` boundary and one "Gap" marker where the audio stops, then
//! restarts with backoff, each of which must bring audio back within `stall_timeout`.
//! After `RESTART_ATTEMPTS` restarts without audio the recording ends with
//! `device_failed`, keeping everything. The time an outage lasts counts on the session's
//! clock, so a requested length ends on time whatever the microphone does.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use super::device::{Device, StartPoll};
use super::level::LevelMeter;
use super::session::{
    RecorderOptions, Recording, Shared, fault_signal, finalize_name, free_bytes, lock, new_ring,
};
use super::wav::{PartialWav, sha256_file};
use crate::model::{
    CaptureEvent, CaptureEventKind, CaptureStats, NewNote, Recording as IndexedRecording,
    RecordingState, StopReason, Timestamp,
};
use crate::position::AudioPosition;

/// Restarts in a row that bring no audio back before the recording gives up.
const RESTART_ATTEMPTS: u32 = 5;
/// How long the writer sleeps when there is nothing to write: the level meter's pace,
/// for a source that pushes from a real-time callback (which must not wake anyone).
const IDLE: Duration = Duration::from_millis(50);
/// How long it sleeps when the source wakes it as audio arrives: only long enough for
/// its own duties (checkpoints, the free-space check, noticing silence).
const IDLE_WOKEN: Duration = Duration::from_millis(250);
/// How long a failed stream may take to let go of the device before a restart.
const RELEASE_BEFORE_RESTART: Duration = Duration::from_secs(2);
/// How long a stopped recording waits for its stream to let go; everything captured is
/// on disk before this wait begins.
const RELEASE_AT_STOP: Duration = Duration::from_millis(250);

pub(super) struct Writer {
    shared: Arc<Shared>,
    options: RecorderOptions,
    device: Device,
    consumer: rtrb::Consumer<i16>,
    ring_frames: u64,
    wav: Option<PartialWav>,
    partial: PathBuf,
    meter: LevelMeter,
    last_checkpoint: Instant,
}

/// A microphone that failed or went silent, while it is being brought back.
struct Outage {
    /// When the audio stopped arriving, and the device frames counted by then.
    since: Instant,
    device_frames_at: u64,
    /// Restarts that did not bring audio back.
    failed: u32,
    /// The next restart may begin then (backoff).
    next_try: Instant,
    state: Restart,
}

enum Restart {
    /// Waiting for `next_try`.
    Waiting,
    /// A start is inside the audio library since then.
    Starting(Instant),
    /// A new stream runs since then and must deliver within `stall_timeout`.
    Probation(Instant),
}

impl Outage {
    fn backoff(&self) -> Duration {
        Duration::from_millis(100) * 2u32.pow(self.failed.saturating_sub(1).min(4))
    }
}

impl Writer {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        shared: Arc<Shared>,
        options: RecorderOptions,
        device: Device,
        consumer: rtrb::Consumer<i16>,
        ring_frames: u64,
        wav: PartialWav,
        partial: PathBuf,
        meter: LevelMeter,
    ) -> Writer {
        Writer {
            shared,
            options,
            device,
            consumer,
            ring_frames,
            wav: Some(wav),
            partial,
            meter,
            last_checkpoint: Instant::now(),
        }
    }

    pub(super) fn run(mut self) {
        let mut reason = self.record();
        // A restart still in flight as the session ended gets a moment to return: then
        // it is counted, and its stream released below like any other.
        if matches!(self.device.wait_start(RELEASE_AT_STOP), StartPoll::Started) {
            self.shared.restarts.fetch_add(1, Ordering::AcqRel);
        }
        // From here no sink may push: what is in the ring is everything captured.
        self.shared
            .counters
            .generation
            .fetch_add(1, Ordering::AcqRel);
        // Durable before anything that can be slow: a kill from now on loses nothing.
        if self.drain().is_err() || self.checkpoint().is_err() {
            reason = StopReason::WriteFailed;
        }
        self.device.release(RELEASE_AT_STOP, || false);
        // A callback that was already running when the sinks were retired.
        if self.drain().is_err() {
            reason = StopReason::WriteFailed;
        }
        *lock(&self.shared.stopped) = Some(reason);
        let outcome = self.finish(reason);
        *lock(&self.shared.outcome) = Some(outcome);
    }

    /// Drains, checkpoints and watches until the session ends; returns why.
    fn record(&mut self) -> StopReason {
        let shared = self.shared.clone();
        let counters = &shared.counters;
        let dir = shared.store.recordings_dir();
        let frame_bytes = 2 * u64::from(shared.format.channels);
        let mut last_space_check = Instant::now();
        let mut written_at_check = 0u64;
        let mut last_device_frames = counters.device_frames.load(Ordering::Acquire);
        let mut last_delivery = Instant::now();
        let mut closed_gaps = 0u64;
        let mut outage: Option<Outage> = None;
        loop {
            let ended = counters.input_ended.load(Ordering::Acquire);
            let drained = match self.drain() {
                Ok(n) => n,
                Err(_) => return StopReason::WriteFailed,
            };
            if self.checkpoint_due() && self.checkpoint().is_err() {
                return StopReason::WriteFailed;
            }
            if self.wav.as_ref().is_some_and(|w| w.room_frames() == 0) {
                return StopReason::FileSizeLimit;
            }
            if shared.stop_requested.load(Ordering::Acquire) {
                return StopReason::Requested;
            }

            let device_frames = counters.device_frames.load(Ordering::Acquire);
            if device_frames != last_device_frames {
                last_device_frames = device_frames;
                last_delivery = Instant::now();
            }
            // Only a restarted stream's sink can push during an outage (the failed one's
            // is retired): audio counted since it began means the microphone is back.
            if let Some(o) = &outage
                && matches!(o.state, Restart::Probation(_))
                && device_frames > o.device_frames_at
            {
                closed_gaps += self.close_outage(o, device_frames);
                outage = None;
            }
            match outage.as_mut() {
                None => {
                    let failed = counters.stream_failed.swap(false, Ordering::AcqRel);
                    let stalled = !ended && last_delivery.elapsed() >= self.options.stall_timeout;
                    if failed || stalled {
                        if stalled {
                            counters.stream_errors.fetch_add(1, Ordering::AcqRel);
                        }
                        self.mark_gap(if failed {
                            "the audio stream failed"
                        } else {
                            "the audio stream stopped delivering"
                        });
                        self.retire_stream();
                        outage = Some(Outage {
                            since: last_delivery,
                            device_frames_at: last_device_frames,
                            failed: 0,
                            next_try: Instant::now(),
                            state: Restart::Waiting,
                        });
                    }
                }
                Some(o) => {
                    if !self.bring_back(o) {
                        return StopReason::DeviceFailed;
                    }
                }
            }

            let silent = outage.as_ref().map_or(0, |o| self.frames_since(o.since));
            shared
                .gap_frames
                .store(closed_gaps + silent, Ordering::Release);
            let limit = counters.limit_frames.load(Ordering::Acquire);
            if device_frames.saturating_add(silent) >= limit && self.consumer.is_empty() {
                return StopReason::DurationReached;
            }
            if ended && self.consumer.is_empty() {
                return StopReason::InputEnded;
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
                let woken = counters.wakes_writer.load(Ordering::Acquire) && outage.is_none();
                thread::park_timeout(if woken { IDLE_WOKEN } else { IDLE });
            }
        }
    }

    /// One step of bringing a failed microphone back. False when the recording must
    /// give up: too many restarts without audio, or no source left to start.
    fn bring_back(&mut self, o: &mut Outage) -> bool {
        let shared = self.shared.clone();
        let counters = &shared.counters;
        let timeout = self.options.stall_timeout;
        match o.state {
            Restart::Waiting if Instant::now() >= o.next_try => {
                let (sink, consumer) = new_ring(counters, shared.format, self.ring_frames);
                let faults = fault_signal(counters, &shared.writer);
                // The old ring is drained and its sink retired: the new one takes over.
                self.consumer = consumer;
                if !self.device.begin_start(sink, faults) {
                    return false;
                }
                o.state = Restart::Starting(Instant::now());
            }
            Restart::Waiting => {}
            Restart::Starting(since) => match self.device.poll_start() {
                StartPoll::Pending => {
                    // A start that does not return counts as a failed restart each time
                    // it takes a whole stall timeout; the source stays inside it.
                    if since.elapsed() >= timeout {
                        o.failed += 1;
                        o.state = Restart::Starting(Instant::now());
                    }
                }
                StartPoll::Started => {
                    shared.restarts.fetch_add(1, Ordering::AcqRel);
                    // Errors of the stream that just failed are no news about this one.
                    counters.stream_failed.store(false, Ordering::Release);
                    o.state = Restart::Probation(Instant::now());
                }
                StartPoll::Failed => {
                    counters.stream_errors.fetch_add(1, Ordering::AcqRel);
                    o.failed += 1;
                    o.next_try = Instant::now() + o.backoff();
                    o.state = Restart::Waiting;
                }
            },
            Restart::Probation(since) => {
                let failed = counters.stream_failed.swap(false, Ordering::AcqRel);
                if failed || since.elapsed() >= timeout {
                    if !failed {
                        counters.stream_errors.fetch_add(1, Ordering::AcqRel);
                    }
                    o.failed += 1;
                    self.retire_stream();
                    o.next_try = Instant::now() + o.backoff();
                    o.state = Restart::Waiting;
                }
            }
        }
        o.failed < RESTART_ATTEMPTS
    }

    /// Audio is back after an outage: the silent time goes on the session's clock (and
    /// so counts against a requested length). Returns the silent frames.
    fn close_outage(&mut self, over: &Outage, device_frames: u64) -> u64 {
        let delivered_since = device_frames.saturating_sub(over.device_frames_at);
        let silent = self
            .frames_since(over.since)
            .saturating_sub(delivered_since);
        let limit = &self.shared.counters.limit_frames;
        let _ = limit.fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| {
            (l != u64::MAX).then(|| l.saturating_sub(silent))
        });
        silent
    }

    fn frames_since(&self, since: Instant) -> u64 {
        let format = self.shared.format;
        format.millis_to_frames(since.elapsed().as_millis() as u64)
    }

    /// Retires the running stream's sink, writes what it delivered, and lets go of it.
    fn retire_stream(&mut self) {
        let shared = self.shared.clone();
        shared.counters.generation.fetch_add(1, Ordering::AcqRel);
        let _ = self.drain();
        let stopping = || shared.stop_requested.load(Ordering::Acquire);
        self.device.release(RELEASE_BEFORE_RESTART, stopping);
        let _ = self.drain();
    }

    /// The boundary and the marker where the audio of an outage stops: one per outage.
    fn mark_gap(&self, why: &str) {
        let shared = &self.shared;
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
            &NewNote::marker("Gap: the microphone stopped and was restarted", at, None)
                .in_recording(shared.recording),
        );
    }

    fn checkpoint_due(&self) -> bool {
        let durable = self.shared.durable.load(Ordering::Acquire);
        let frames = self.wav.as_ref().map_or(0, |w| w.frames());
        // The first audio at once: the bound on what a crash loses holds from the start.
        frames > durable
            && (durable == 0 || self.last_checkpoint.elapsed() >= self.options.checkpoint_every)
    }

    /// Updates the header and makes everything written so far durable.
    fn checkpoint(&mut self) -> std::io::Result<()> {
        let Some(wav) = self.wav.as_mut() else {
            return Ok(());
        };
        wav.checkpoint()?;
        self.last_checkpoint = Instant::now();
        self.shared.durable.store(wav.frames(), Ordering::Release);
        Ok(())
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

    /// Finalizes, hashes and indexes the file, then gives it its final name. On any
    /// failure the `.partial.wav` stays for recovery: nothing captured is lost. A session
    /// that captured nothing leaves no file and no recording, and says so.
    fn finish(&mut self, reason: StopReason) -> std::result::Result<Recording, String> {
        let shared = &self.shared;
        let wav = self.wav.take().ok_or("the recording has no file")?;
        let (frames, lock) = wav.finish().map_err(|e| {
            format!(
                "the recording could not be finished ({e}); it will be recovered the next time the app opens"
            )
        })?;
        let c = &shared.counters;
        let stats = CaptureStats {
            frames_captured: frames,
            frames_dropped: c.dropped.load(Ordering::Acquire),
            stream_errors: c.stream_errors.load(Ordering::Acquire),
            restarts: shared.restarts.load(Ordering::Acquire),
        };
        if frames == 0 {
            drop(lock);
            let _ = std::fs::remove_file(&self.partial);
            let _ = shared
                .store
                .end_capture_without_audio(shared.recording, &stats, reason);
            return Err(format!(
                "nothing was recorded: no audio had arrived from the microphone when the recording ended ({})",
                reason.message()
            ));
        }
        let (sha256, bytes) = sha256_file(&self.partial)
            .map_err(|e| format!("the recording could not be read back: {e}"))?;
        let file_name = format!("{}.wav", shared.recording);
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
            pcm_sha256: None,
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
        drop(lock);
        Ok(Recording {
            recording,
            reason,
            stats,
            path,
        })
    }
}
