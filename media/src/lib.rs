//! Tellus's audio codecs (issue 20, docs/data-saver.md).
//!
//! A recording is written as a 16-bit WAV. From it the phone makes a lossless FLAC copy
//! (verified sample for sample before it may replace the WAV) and a small Ogg Opus
//! listening copy. The server and a lead's pull verify what they receive with the same
//! functions. Everything streams: memory stays flat however long the recording.
//!
//! The **PCM identity** of lossless audio is the SHA-256 of its samples, interleaved
//! 16-bit little-endian — exactly the bytes of a 16-bit WAV's `data` chunk, no prefix —
//! so `flac -d --force-raw-format --endian=little --sign=signed -c F | sha256sum`
//! reproduces it.

mod digest;
mod error;
mod flac;
mod opus;
mod pcm;
mod resample;
mod wav;

use std::path::Path;

use serde::{Deserialize, Serialize};
use tellus_protocol::AudioFormat;

pub use digest::sha256_file;
pub use error::MediaError;
pub use flac::{encode_flac, flac_identity, verify_flac};
pub use opus::{encode_opus, inspect_ogg_opus, verify_opus};
pub use wav::wav_identity;

/// The shape of 16-bit PCM audio (always 16-bit: that is what the recorder writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PcmSpec {
    pub sample_rate: u32,
    pub channels: u16,
}

/// What lossless audio is, whatever file it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PcmIdentity {
    pub spec: PcmSpec,
    /// Sample frames (one sample per channel).
    pub frames: u64,
    /// Lowercase hex SHA-256 of the interleaved 16-bit little-endian samples.
    pub pcm_sha256: String,
}

impl PcmIdentity {
    /// The audio's length in milliseconds, rounded down.
    pub fn duration_ms(&self) -> u64 {
        if self.spec.sample_rate == 0 {
            return 0;
        }
        self.frames * 1000 / u64::from(self.spec.sample_rate)
    }
}

/// A whole file's size and SHA-256 (lowercase hex), as receipts carry them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub bytes: u64,
    pub sha256: String,
}

/// A lossless file written from a WAV: its own digest and the identity of the source PCM
/// (which the file has been checked to hold only by [`verify_flac`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encoded {
    pub digest: FileDigest,
    pub identity: PcmIdentity,
}

/// What an Ogg Opus file declares and holds, checked page by page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OggOpusInfo {
    /// Samples (48 kHz) the decoder drops at the start: the encoder's delay.
    pub pre_skip: u16,
    /// The sample rate of the audio the copy was made from (informational).
    pub input_sample_rate: u32,
    pub channels: u8,
    /// `samples_48k` in milliseconds, rounded to the nearest.
    pub duration_ms: u64,
    /// Decoded length at 48 kHz after pre-skip: last granule position − pre-skip.
    pub samples_48k: u64,
}

/// A listening copy written from a WAV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncodedOpus {
    pub digest: FileDigest,
    pub info: OggOpusInfo,
}

/// How the listening copy is made. Mono, 20 ms frames, speech (VOIP) tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpusSettings {
    /// Target bitrate; 16–24 kbit/s is the listening range (clamped to 6–64 kbit/s).
    pub bitrate_bps: u32,
}

impl Default for OpusSettings {
    fn default() -> Self {
        OpusSettings {
            bitrate_bps: 20_000,
        }
    }
}

/// The PCM identity of a lossless file in `format`; a lossy format has none.
pub fn identity(path: &Path, format: AudioFormat) -> Result<PcmIdentity, MediaError> {
    match format {
        AudioFormat::Wav => wav_identity(path),
        AudioFormat::Flac => flac_identity(path),
        AudioFormat::OggOpus => Err(MediaError::NotLossless),
    }
}
