//! The seam between a source of audio and the recorder: the [`AudioSource`] trait and
//! the [`CaptureSink`] a source pushes frames into from its real-time callback.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::{Error, Result};

/// The format stored: 16-bit PCM at the device's rate, mono or stereo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFormat {
    pub sample_rate: u32,
    pub channels: u16,
}

/// The sample rates Tellus records: the standard ones, from telephone to studio. A rate
/// outside this list (12345 Hz, 7 Hz, 2^31 Hz) is refused before any device is opened, any
/// buffer is sized from it or any file is created.
pub const SAMPLE_RATES: [u32; 13] = [
    8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 88_200, 96_000, 176_400,
    192_000,
];

/// Refuses a sample rate Tellus does not record, with a message that lists what it does.
pub fn check_sample_rate(rate: u32) -> Result<()> {
    if SAMPLE_RATES.contains(&rate) {
        return Ok(());
    }
    let rates: Vec<String> = SAMPLE_RATES.iter().map(u32::to_string).collect();
    Err(Error::invalid(format!(
        "{rate} Hz is not a sample rate Tellus records; use one of {} Hz",
        rates.join(", ")
    )))
}

impl AudioFormat {
    /// Refuses a format Tellus does not record: a rate outside [`SAMPLE_RATES`], or other
    /// than one or two channels.
    pub fn check(&self) -> Result<()> {
        check_sample_rate(self.sample_rate)?;
        if !(1..=2).contains(&self.channels) {
            return Err(Error::invalid(format!(
                "{} channels cannot be recorded: Tellus records mono or stereo",
                self.channels
            )));
        }
        Ok(())
    }

    pub fn frames_to_millis(&self, frames: u64) -> u64 {
        frames.saturating_mul(1000) / u64::from(self.sample_rate.max(1))
    }

    pub fn millis_to_frames(&self, millis: u64) -> u64 {
        millis.saturating_mul(u64::from(self.sample_rate)) / 1000
    }
}

/// Something that captures audio: a microphone through cpal, or a file or generator.
pub trait AudioSource: Send {
    /// A name for the person (and the recording's record): which device this is.
    fn describe(&self) -> String;

    /// The format the frames pushed into the sink have.
    fn format(&self) -> AudioFormat;

    /// Starts delivering frames into `sink`, reporting failures to `faults`. Called again
    /// with a fresh sink after a stream failure, to restart into the same recording.
    /// Dropping the returned stream stops the delivery.
    fn start(&mut self, sink: CaptureSink, faults: StreamFault) -> Result<Box<dyn RunningStream>>;
}

/// A running capture; dropping it stops it.
pub trait RunningStream: Send {}

/// Counters shared by the real-time side and the recorder. Atomics only: the callback
/// never waits for anyone.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Frames the device delivered since the start, paused or not (the session clock).
    pub device_frames: AtomicU64,
    /// Frames put into the ring: the recording's audio position.
    pub captured: AtomicU64,
    /// Frames lost because the ring was full.
    pub dropped: AtomicU64,
    /// Frames the device delivered while paused (not recorded).
    pub paused_frames: AtomicU64,
    pub paused: AtomicBool,
    /// The session ends at this many device frames (`u64::MAX`: no limit).
    pub limit_frames: AtomicU64,
    /// Errors the stream reported, and whether one needs a restart.
    pub stream_errors: AtomicU64,
    pub stream_failed: AtomicBool,
    /// A file or generated source has nothing more to give.
    pub input_ended: AtomicBool,
    /// Which sink may push: a sink made for an earlier generation (a stream being
    /// replaced or stopped) is ignored, so nothing arrives after its last drain.
    pub generation: AtomicU64,
    /// The source wakes the writer when it pushes (`StreamFault::audio_pushed`).
    pub wakes_writer: AtomicBool,
}

impl Counters {
    pub(crate) fn new(limit_frames: Option<u64>) -> Self {
        Counters {
            limit_frames: AtomicU64::new(limit_frames.unwrap_or(u64::MAX)),
            ..Counters::default()
        }
    }
}

/// Where a source reports that its stream failed (from any thread, e.g. cpal's error
/// callback). Lock-free.
#[derive(Clone)]
pub struct StreamFault {
    pub(crate) counters: Arc<Counters>,
    pub(crate) wake: Arc<dyn Fn() + Send + Sync>,
}

impl StreamFault {
    /// Counts an error; `fatal` asks the recorder to rebuild the stream.
    pub fn report(&self, fatal: bool) {
        self.counters.stream_errors.fetch_add(1, Ordering::Relaxed);
        if fatal {
            self.counters.stream_failed.store(true, Ordering::Release);
            (self.wake)();
        }
    }

    /// Audio was pushed: wakes the writer at once. Only for a source that pushes from a
    /// thread of its own (never from a real-time callback: this makes a system call);
    /// from the first call on, the writer stops polling and waits to be woken.
    pub fn audio_pushed(&self) {
        self.counters.wakes_writer.store(true, Ordering::Release);
        (self.wake)();
    }

    /// A file or generated source has delivered all it has.
    pub fn input_ended(&self) {
        self.counters.input_ended.store(true, Ordering::Release);
        (self.wake)();
    }
}

/// The real-time end of the ring. [`CaptureSink::push`] is the whole body of an audio
/// callback: it copies whole frames into a lock-free SPSC ring and bumps atomic counters,
/// with no lock, no allocation, no I/O and no logging (proved by `tests/realtime.rs`).
pub struct CaptureSink {
    pub(crate) producer: rtrb::Producer<i16>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) channels: u16,
    pub(crate) generation: u64,
}

impl CaptureSink {
    /// The channel count frames are stored with (1 or 2).
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Frames the ring can take right now (for sources that pace themselves).
    pub fn free_frames(&self) -> usize {
        self.producer.slots() / usize::from(self.channels.max(1))
    }

    /// Pushes `data`: interleaved samples with `in_channels` channels, converted to i16
    /// by `convert`. Mono is stored as the mean of the input channels; stereo keeps the
    /// first two (a mono input is duplicated). Frames past the session's length, or from
    /// a stream the recorder has retired, are ignored; frames while paused are only
    /// counted; frames that do not fit in the ring are counted as dropped.
    pub fn push<T: Copy>(&mut self, data: &[T], in_channels: usize, convert: impl Fn(T) -> i16) {
        let counters = &*self.counters;
        if counters.generation.load(Ordering::Acquire) != self.generation {
            return;
        }
        let in_channels = in_channels.max(1);
        let frames = (data.len() / in_channels) as u64;
        let device = counters.device_frames.load(Ordering::Relaxed);
        let limit = counters.limit_frames.load(Ordering::Relaxed);
        let take = frames.min(limit.saturating_sub(device));
        if take == 0 {
            return;
        }
        if counters.paused.load(Ordering::Acquire) {
            counters.paused_frames.fetch_add(take, Ordering::Relaxed);
            counters.device_frames.fetch_add(take, Ordering::Release);
            return;
        }
        let out_channels = usize::from(self.channels.max(1));
        let fit = take.min((self.producer.slots() / out_channels) as u64);
        if fit > 0 {
            // `fit` whole frames are free, so the chunk cannot fail.
            if let Ok(chunk) = self
                .producer
                .write_chunk_uninit(fit as usize * out_channels)
            {
                let frames = data.chunks_exact(in_channels).take(fit as usize);
                if out_channels == 1 {
                    chunk.fill_from_iter(frames.map(|frame| {
                        let sum: i32 = frame.iter().map(|&s| i32::from(convert(s))).sum();
                        (sum / in_channels as i32) as i16
                    }));
                } else {
                    chunk.fill_from_iter(frames.flat_map(|frame| {
                        let left = convert(frame[0]);
                        let right = frame.get(1).map_or(left, |&s| convert(s));
                        [left, right]
                    }));
                }
            }
        }
        counters.captured.fetch_add(fit, Ordering::Release);
        counters.dropped.fetch_add(take - fit, Ordering::Relaxed);
        counters.device_frames.fetch_add(take, Ordering::Release);
    }
}
