//! A source that needs no microphone: audio from a WAV file or a tone, delivered from its
//! own thread through the same [`CaptureSink::push`] a cpal callback uses. For tests, the
//! benchmark, and machines without a microphone.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::source::{AudioFormat, AudioSource, CaptureSink, RunningStream, StreamFault};
use crate::error::{Error, Result};

/// How fast a generated source delivers its audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Like a microphone: one 10 ms block every 10 ms.
    RealTime,
    /// As fast as the recorder takes it: waits for room in the ring, so nothing is
    /// dropped (the benchmark's writer-throughput mode).
    AsFastAsTaken,
}

#[derive(Clone)]
enum Audio {
    /// Interleaved samples, played once.
    Samples(Arc<[i16]>),
    /// A sine tone for `frames` frames (`u64::MAX`: forever).
    Tone {
        hertz: f64,
        amplitude: f64,
        frames: u64,
    },
}

/// Audio from a file or a tone generator.
pub struct GeneratedSource {
    name: String,
    format: AudioFormat,
    audio: Audio,
    pacing: Pacing,
    /// Where the next start resumes, in frames (a restart continues the audio).
    next_frame: Arc<std::sync::atomic::AtomicU64>,
    /// Test hook: report a fatal stream fault after this many frames, once.
    fail_after: Option<u64>,
}

impl GeneratedSource {
    /// Plays a 16-bit PCM WAV file once, then reports that the input ended.
    pub fn from_wav(path: &Path, pacing: Pacing) -> Result<Self> {
        let reader = hound::WavReader::open(path).map_err(|e| {
            Error::invalid(format!("cannot read {} as a WAV file: {e}", path.display()))
        })?;
        let spec = reader.spec();
        if spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
            return Err(Error::invalid(format!(
                "{} is not 16-bit PCM audio",
                path.display()
            )));
        }
        if spec.channels == 0 || spec.channels > 2 {
            return Err(Error::invalid(format!(
                "{} has {} channels; mono or stereo is needed",
                path.display(),
                spec.channels
            )));
        }
        let samples: Vec<i16> = reader
            .into_samples::<i16>()
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::invalid(format!("{} is damaged: {e}", path.display())))?;
        Ok(GeneratedSource {
            name: format!("file {}", path.display()),
            format: AudioFormat {
                sample_rate: spec.sample_rate,
                channels: spec.channels,
            },
            audio: Audio::Samples(samples.into()),
            pacing,
            next_frame: Arc::default(),
            fail_after: None,
        })
    }

    /// Interleaved samples held in memory, played once.
    pub fn from_samples(format: AudioFormat, samples: Vec<i16>, pacing: Pacing) -> Self {
        GeneratedSource {
            name: "samples".into(),
            format,
            audio: Audio::Samples(samples.into()),
            pacing,
            next_frame: Arc::default(),
            fail_after: None,
        }
    }

    /// A sine tone at `amplitude` (0..=1 of full scale), for `frames` frames or forever.
    pub fn tone(
        format: AudioFormat,
        hertz: f64,
        amplitude: f64,
        frames: Option<u64>,
        pacing: Pacing,
    ) -> Self {
        GeneratedSource {
            name: format!("{hertz} Hz tone"),
            format,
            audio: Audio::Tone {
                hertz,
                amplitude,
                frames: frames.unwrap_or(u64::MAX),
            },
            pacing,
            next_frame: Arc::default(),
            fail_after: None,
        }
    }

    /// Test hook: the stream fails once after `frames` frames, as a device would.
    pub fn failing_after(mut self, frames: u64) -> Self {
        self.fail_after = Some(frames);
        self
    }
}

struct Generated {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RunningStream for Generated {}

impl Drop for Generated {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl AudioSource for GeneratedSource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn format(&self) -> AudioFormat {
        self.format
    }

    fn start(
        &mut self,
        mut sink: CaptureSink,
        faults: StreamFault,
    ) -> Result<Box<dyn RunningStream>> {
        let stop = Arc::new(AtomicBool::new(false));
        let audio = self.audio.clone();
        let format = self.format;
        let pacing = self.pacing;
        let next_frame = self.next_frame.clone();
        let fail_at = self.fail_after.take();
        let stopping = stop.clone();
        let thread = thread::Builder::new()
            .name("tellus-generated-source".into())
            .spawn(move || {
                let channels = usize::from(format.channels);
                let block = (format.sample_rate as usize / 100).max(1);
                let mut buffer = vec![0i16; block * channels];
                let started = Instant::now();
                let mut blocks = 0u32;
                while !stopping.load(Ordering::Acquire) {
                    let frame = next_frame.load(Ordering::Relaxed);
                    if fail_at.is_some_and(|at| frame >= at) {
                        faults.report(true);
                        return;
                    }
                    let n = fill(&audio, format, frame, &mut buffer);
                    if n == 0 {
                        faults.input_ended();
                        return;
                    }
                    if pacing == Pacing::AsFastAsTaken && sink.free_frames() < n {
                        // The ring is full: the writer should be writing, not waiting
                        // for its next look (this is not a real-time callback).
                        faults.audio_pushed();
                        while sink.free_frames() < n && !stopping.load(Ordering::Acquire) {
                            thread::sleep(Duration::from_micros(200));
                        }
                    }
                    sink.push(&buffer[..n * channels], channels, |s| s);
                    next_frame.store(frame + n as u64, Ordering::Relaxed);
                    if pacing == Pacing::RealTime {
                        blocks += 1;
                        let due = started + Duration::from_millis(10) * blocks;
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            thread::sleep(wait);
                        }
                    }
                }
            })
            .map_err(|e| Error::io("cannot start the audio source", e))?;
        Ok(Box::new(Generated {
            stop,
            thread: Some(thread),
        }))
    }
}

/// Fills `buffer` with the frames from `frame` on; returns how many frames it filled.
fn fill(audio: &Audio, format: AudioFormat, frame: u64, buffer: &mut [i16]) -> usize {
    let channels = usize::from(format.channels);
    let capacity = buffer.len() / channels;
    match audio {
        Audio::Samples(samples) => {
            let start = (frame as usize).saturating_mul(channels).min(samples.len());
            let n = ((samples.len() - start) / channels).min(capacity);
            buffer[..n * channels].copy_from_slice(&samples[start..start + n * channels]);
            n
        }
        Audio::Tone {
            hertz,
            amplitude,
            frames,
        } => {
            let n = frames.saturating_sub(frame).min(capacity as u64) as usize;
            let step = 2.0 * std::f64::consts::PI * hertz / f64::from(format.sample_rate);
            for (i, out) in buffer.chunks_exact_mut(channels).take(n).enumerate() {
                let value = (amplitude * 32767.0 * ((frame + i as u64) as f64 * step).sin()) as i16;
                out.fill(value);
            }
            n
        }
    }
}
