//! 16-bit WAV read as a stream: hound parses the header, the data chunk is read raw.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::pcm::{PcmSource, identity_of};
use crate::{MediaError, PcmIdentity, PcmSpec};

/// The PCM identity of a 16-bit WAV: the SHA-256 of its `data` chunk.
pub fn wav_identity(path: &Path) -> Result<PcmIdentity, MediaError> {
    let mut source = WavSource::open(path)?;
    identity_of(&mut source)
}

pub(crate) struct WavSource {
    path: PathBuf,
    spec: PcmSpec,
    reader: BufReader<File>,
    remaining_frames: u64,
    bytes: Vec<u8>,
}

impl WavSource {
    pub(crate) fn open(path: &Path) -> Result<Self, MediaError> {
        let file = File::open(path).map_err(|e| MediaError::io(path, e))?;
        let wav = hound::WavReader::new(BufReader::new(file)).map_err(|e| match e {
            hound::Error::IoError(io) => MediaError::reading(path, io),
            other => MediaError::malformed(path, "WAV", other.to_string()),
        })?;
        let header = wav.spec();
        if header.sample_format != hound::SampleFormat::Int || header.bits_per_sample != 16 {
            return Err(MediaError::NotSixteenBit {
                path: path.to_path_buf(),
                bits: header.bits_per_sample,
            });
        }
        if header.sample_rate == 0 || header.channels == 0 {
            return Err(MediaError::malformed(
                path,
                "WAV",
                "no sample rate or no channels",
            ));
        }
        let spec = PcmSpec {
            sample_rate: header.sample_rate,
            channels: header.channels,
        };
        // hound's len() is whole samples in the data chunk; a trailing odd sample is not
        // a frame and is not audio.
        let remaining_frames = u64::from(wav.len()) / u64::from(spec.channels);
        Ok(WavSource {
            path: path.to_path_buf(),
            spec,
            // The header is parsed: the reader stands at the first sample.
            reader: wav.into_inner(),
            remaining_frames,
            bytes: Vec::new(),
        })
    }

    /// Frames not yet read.
    pub(crate) fn remaining_frames(&self) -> u64 {
        self.remaining_frames
    }
}

impl PcmSource for WavSource {
    fn spec(&self) -> PcmSpec {
        self.spec
    }

    fn read_frames(&mut self, buf: &mut Vec<i16>, max_frames: usize) -> Result<usize, MediaError> {
        buf.clear();
        let frames = self.remaining_frames.min(max_frames as u64) as usize;
        if frames == 0 {
            return Ok(0);
        }
        let samples = frames * usize::from(self.spec.channels);
        self.bytes.resize(samples * 2, 0);
        self.reader.read_exact(&mut self.bytes).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                MediaError::truncated(&self.path, "the data chunk is shorter than its header says")
            } else {
                MediaError::io(&self.path, e)
            }
        })?;
        buf.extend(
            self.bytes
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]])),
        );
        self.remaining_frames -= frames as u64;
        Ok(frames)
    }
}
