//! The recording engine. A source (a cpal device, or a file/synthetic source) pushes
//! whole frames through a [`CaptureSink`] into a lock-free ring; the [`Recorder`]'s
//! writer thread drains it into `<id>.partial.wav`, makes it durable from the first audio
//! on and every half second, and on stop finalizes, hashes, indexes and renames it to
//! `<id>.wav`. Opening the store
//! repairs any `.partial.wav` a crash left behind (see [`recovery`]).

#[cfg(target_os = "linux")]
mod alsa_capture;
pub mod cpal_source;
mod device;
pub mod level;
#[cfg(target_os = "linux")]
mod quiet;
pub(crate) mod recovery;
pub mod representations;
pub mod session;
pub mod source;
pub mod synthetic;
pub mod wav;
mod writer;

pub use cpal_source::{CpalSource, InputDevice, list_input_devices};
pub use level::Level;
pub use recovery::{AudioFileProblem, DiscardedRecording, RecoveredRecording};
pub use representations::{
    FileStatus, FreedLossless, MadeFile, PrepareFailure, PrepareReport, free_lossless,
    prepare_audio, prepare_recording, prepare_story_audio, remove_recording_files, story_files,
};
pub use session::{Recorder, RecorderOptions, RecorderStats, Recording as FinishedRecording};
pub use source::{
    AudioFormat, AudioSource, CaptureSink, RunningStream, SAMPLE_RATES, StreamFault,
    check_sample_rate,
};
pub use synthetic::{GeneratedSource, Pacing};
