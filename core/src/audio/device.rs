//! The source and its running stream, driven so that nothing the audio library does can
//! hold the recorder up. Starting a stream and releasing one both call into the audio
//! library, which can block for a long time or for ever (a sound server that is frozen
//! or died: seen with ALSA's PulseAudio plugin). So both run on threads of their own and
//! are waited for in short slices: the writer thread keeps its promises (stop within a
//! second, a bounded number of restarts) whatever the device does, and a call that never
//! returns is left to its thread.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use super::source::{AudioSource, CaptureSink, RunningStream, StreamFault};
use crate::error::Result;

/// What a start running on its own thread hands back: the source (so it can be started
/// again) and the stream, or why there is none.
type Started = (Box<dyn AudioSource>, Result<Box<dyn RunningStream>>);

/// How a start in flight is doing.
pub(super) enum StartPoll {
    /// Still inside the audio library.
    Pending,
    /// The stream runs.
    Started,
    /// The device refused (or the start broke down); a source that came back can be
    /// started again.
    Failed,
}

pub(super) struct Device {
    /// None while a start has it (or after a start that never returned).
    source: Option<Box<dyn AudioSource>>,
    stream: Option<Box<dyn RunningStream>>,
    starting: Option<Receiver<Started>>,
}

/// How often a wait on the audio library looks whether it should give up.
const SLICE: Duration = Duration::from_millis(10);

impl Device {
    pub(super) fn new(source: Box<dyn AudioSource>, stream: Box<dyn RunningStream>) -> Device {
        Device {
            source: Some(source),
            stream: Some(stream),
            starting: None,
        }
    }

    /// Stops the running stream, if any. Waits up to `budget` for the audio library to
    /// let go, less once `give_up` says so; a stream that does not stop by then is left
    /// to its thread (it delivers nothing more: its sink has been retired).
    pub(super) fn release(&mut self, budget: Duration, give_up: impl Fn() -> bool) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        let (done, released) = mpsc::channel();
        let releasing = thread::Builder::new()
            .name("tellus-stream-release".into())
            .spawn(move || {
                drop(stream);
                let _ = done.send(());
            });
        if releasing.is_err() {
            return;
        }
        let deadline = Instant::now() + budget;
        while !give_up() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match released.recv_timeout(left.min(SLICE)) {
                Err(RecvTimeoutError::Timeout) => continue,
                _ => return,
            }
        }
    }

    /// Begins starting the source into `sink` on a thread of its own; `poll_start` says
    /// how it goes. False when there is no source to start: a start that never returned
    /// still has it, or no thread could be made for it.
    pub(super) fn begin_start(&mut self, sink: CaptureSink, faults: StreamFault) -> bool {
        let Some(mut source) = self.source.take() else {
            return false;
        };
        let (done, started) = mpsc::channel();
        let spawned = thread::Builder::new()
            .name("tellus-stream-start".into())
            .spawn(move || {
                let stream = source.start(sink, faults);
                // Nobody waits any more when the recording ended meanwhile: the stream
                // and the source are dropped here, on this thread.
                let _ = done.send((source, stream));
            });
        let begun = spawned.is_ok();
        if begun {
            self.starting = Some(started);
        }
        begun
    }

    /// How the start begun by `begin_start` is doing (`Failed` when none is).
    pub(super) fn poll_start(&mut self) -> StartPoll {
        self.wait_start(Duration::ZERO)
    }

    /// Like `poll_start`, waiting up to `budget` for a start in flight to return.
    pub(super) fn wait_start(&mut self, budget: Duration) -> StartPoll {
        let Some(starting) = &self.starting else {
            return StartPoll::Failed;
        };
        let result = if budget.is_zero() {
            starting.try_recv().map_err(|e| match e {
                TryRecvError::Empty => RecvTimeoutError::Timeout,
                TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            })
        } else {
            starting.recv_timeout(budget)
        };
        match result {
            Err(RecvTimeoutError::Timeout) => StartPoll::Pending,
            Err(RecvTimeoutError::Disconnected) => {
                // The start panicked inside the audio library: the source went with it.
                self.starting = None;
                StartPoll::Failed
            }
            Ok((source, result)) => {
                self.starting = None;
                self.source = Some(source);
                match result {
                    Ok(stream) => {
                        self.stream = Some(stream);
                        StartPoll::Started
                    }
                    Err(_) => StartPoll::Failed,
                }
            }
        }
    }
}
