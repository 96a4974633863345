//! Capture from an ALSA device on Linux, read the way `arecord` reads it.
//!
//! cpal's ALSA backend wakes for a whole period and, when the device says "readable"
//! with less than a period there, polls again at once. ALSA's PulseAudio plugin (what
//! "default" is on most Linux desktops, and the test microphone `tellus_pulse_mic`) says
//! exactly that for long stretches: cpal's capture thread then spins, 70-100 % of a core
//! with its default buffer and still 1-20 % (and a second of it at every start) with a
//! fixed one. Reading whatever is available whenever the device wakes us, as alsa-lib's
//! own blocking read does, never spins: the thread sleeps between periods.
//!
//! The device is opened at the rate, channel count and sample format the cpal source
//! chose, with a period of about `PERIOD_MS` taken from the range the device offers and
//! a buffer of four periods. The reading thread pushes through the same
//! [`CaptureSink::push`] as a cpal callback; an overrun is counted, any other error ends
//! the stream and the recorder rebuilds it (see `writer.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};

use alsa::pcm::{Access, Format, HwParams, IO, PCM};
use alsa::poll::{Descriptors, Flags};
use alsa::{Direction, ValueOr};
use cpal::{FromSample, SampleFormat};

use super::source::{CaptureSink, RunningStream, StreamFault};
use crate::error::{Error, Result};

/// The period aimed at: the reading thread wakes about ten times a second.
const PERIOD_MS: u32 = 100;
/// How long the reading thread waits for the device before it looks whether it should
/// stop (data wakes it sooner).
const POLL_MS: i32 = 100;

/// What to open: the device's ALSA name and the configuration the cpal source chose.
#[derive(Debug, Clone)]
pub(super) struct AlsaInput {
    pub name: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub format: SampleFormat,
}

impl AlsaInput {
    /// Whether this capture can read the format (others go through cpal).
    pub(super) fn reads(format: SampleFormat) -> bool {
        matches!(
            format,
            SampleFormat::I16 | SampleFormat::I32 | SampleFormat::F32
        )
    }

    /// Opens the device and starts reading it on a thread of its own. Returns once the
    /// device is open and running, or with why it is not.
    pub(super) fn start(
        &self,
        sink: CaptureSink,
        faults: StreamFault,
    ) -> Result<Box<dyn RunningStream>> {
        let (opened, open_result) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let input = self.clone();
        let thread = thread::Builder::new()
            .name("tellus-alsa-capture".into())
            .spawn(move || match input.open() {
                Ok(pcm) => {
                    let _ = opened.send(Ok(()));
                    input.read(&pcm, sink, &faults, &stopping);
                }
                Err(e) => {
                    let _ = opened.send(Err(e));
                }
            })
            .map_err(|e| Error::io("cannot start the audio capture thread", e))?;
        match open_result.recv() {
            Ok(Ok(())) => Ok(Box::new(AlsaStream {
                stop,
                thread: Some(thread),
            })),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(Error::Audio(format!(
                "the audio input device '{}' failed while opening",
                self.name
            ))),
        }
    }

    fn open(&self) -> Result<PCM> {
        super::quiet::quiet_audio_libraries();
        let cannot = |what: &str, e: alsa::Error| {
            Error::Audio(format!(
                "the audio input device '{}' {what}: {e}",
                self.name
            ))
        };
        let pcm = PCM::new(&self.name, Direction::Capture, true)
            .map_err(|e| cannot("cannot be opened", e))?;
        {
            let hw = HwParams::any(&pcm).map_err(|e| cannot("cannot be configured", e))?;
            let format = match self.format {
                SampleFormat::I32 => Format::s32(),
                SampleFormat::F32 => Format::float(),
                _ => Format::s16(),
            };
            hw.set_access(Access::RWInterleaved)
                .and_then(|_| hw.set_format(format))
                .and_then(|_| hw.set_channels(u32::from(self.channels)))
                .and_then(|_| hw.set_rate(self.sample_rate, ValueOr::Nearest))
                .map_err(|e| cannot("cannot record in this format", e))?;
            let rate = hw
                .get_rate()
                .map_err(|e| cannot("cannot be configured", e))?;
            if rate != self.sample_rate {
                return Err(Error::Audio(format!(
                    "the audio input device '{}' cannot record at {} Hz (it offers {rate} Hz)",
                    self.name, self.sample_rate
                )));
            }
            // About PERIOD_MS per period, within what the device offers; four periods of
            // buffer, as arecord keeps.
            let wanted = alsa::pcm::Frames::from(self.sample_rate / 1000 * PERIOD_MS);
            let period = match (hw.get_period_size_min(), hw.get_period_size_max()) {
                (Ok(min), Ok(max)) if min <= max => wanted.clamp(min, max),
                _ => wanted,
            };
            if let Ok(period) = hw.set_period_size_near(period, ValueOr::Nearest) {
                let _ = hw.set_buffer_size_near(period * 4);
            }
            pcm.hw_params(&hw)
                .map_err(|e| cannot("cannot be configured", e))?;
        }
        let (_, period) = pcm
            .get_params()
            .map_err(|e| cannot("cannot be configured", e))?;
        {
            let sw = pcm
                .sw_params_current()
                .map_err(|e| cannot("cannot be configured", e))?;
            sw.set_avail_min(period as alsa::pcm::Frames)
                .and_then(|_| sw.set_start_threshold(1))
                .and_then(|_| pcm.sw_params(&sw))
                .map_err(|e| cannot("cannot be configured", e))?;
        }
        pcm.start().map_err(|e| cannot("cannot be started", e))?;
        Ok(pcm)
    }

    fn read(&self, pcm: &PCM, sink: CaptureSink, faults: &StreamFault, stop: &AtomicBool) {
        let result = match self.format {
            SampleFormat::I32 => pcm
                .io_i32()
                .map(|io| read_all(pcm, io, self, sink, faults, stop)),
            SampleFormat::F32 => pcm
                .io_f32()
                .map(|io| read_all(pcm, io, self, sink, faults, stop)),
            _ => pcm
                .io_i16()
                .map(|io| read_all(pcm, io, self, sink, faults, stop)),
        };
        if result.is_err() {
            faults.report(true);
        }
    }
}

/// Reads everything the device has each time it wakes the thread, until `stop` or an
/// error that ends the stream (reported to `faults`).
fn read_all<T>(
    pcm: &PCM,
    io: IO<'_, T>,
    input: &AlsaInput,
    mut sink: CaptureSink,
    faults: &StreamFault,
    stop: &AtomicBool,
) where
    T: Copy + Default + cpal::Sample,
    i16: FromSample<T>,
{
    let channels = usize::from(input.channels.max(1));
    let frames = pcm
        .get_params()
        .map_or(4096, |(buffer, _)| buffer as usize)
        .max(1);
    let mut buffer = vec![T::default(); frames * channels];
    let mut fds = match Descriptors::get(pcm) {
        Ok(fds) => fds,
        Err(_) => {
            faults.report(true);
            return;
        }
    };
    while !stop.load(Ordering::Acquire) {
        let ready = match alsa::poll::poll(&mut fds, POLL_MS) {
            Ok(ready) => ready,
            Err(e) if e.errno() == EINTR => continue,
            Err(_) => {
                faults.report(true);
                return;
            }
        };
        if ready == 0 {
            continue;
        }
        match pcm.revents(&fds) {
            Ok(events) if events.intersects(Flags::HUP | Flags::NVAL) => {
                faults.report(true); // the device went away
                return;
            }
            Ok(_) => {}
            Err(_) => {
                faults.report(true);
                return;
            }
        }
        let mut pushed = false;
        loop {
            match io.readi(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    sink.push(&buffer[..n * channels], channels, i16::from_sample_);
                    pushed = true;
                }
                Err(e) if e.errno() == EAGAIN => break,
                Err(e) => {
                    // An overrun (or a suspend) is recovered and counted; anything else
                    // ends this stream and the recorder rebuilds it.
                    if pcm.try_recover(e, true).is_ok() && pcm.start().is_ok() {
                        faults.report(false);
                        break;
                    }
                    faults.report(true);
                    return;
                }
            }
        }
        // Not a real-time callback: this thread may wake the writer, which then sleeps
        // until audio arrives instead of polling.
        if pushed {
            faults.audio_pushed();
        }
    }
}

const EAGAIN: i32 = 11;
const EINTR: i32 = 4;

/// The reading thread; dropping it stops the thread and closes the device.
struct AlsaStream {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RunningStream for AlsaStream {}

impl Drop for AlsaStream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
