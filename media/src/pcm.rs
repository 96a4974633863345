//! Streaming PCM: a source of interleaved 16-bit frames, and the identity hash over them.

use sha2::{Digest, Sha256};

use crate::{MediaError, PcmIdentity, PcmSpec};

/// Frames read per call by the streaming loops: 4096 frames, a FLAC block's worth.
pub(crate) const CHUNK_FRAMES: usize = 4096;

/// Interleaved 16-bit audio read a piece at a time.
pub(crate) trait PcmSource {
    fn spec(&self) -> PcmSpec;
    /// Replaces `buf` with up to `max_frames` frames; returns the frames read, 0 at the
    /// end. Errors on a damaged or truncated file.
    fn read_frames(&mut self, buf: &mut Vec<i16>, max_frames: usize) -> Result<usize, MediaError>;
}

/// SHA-256 over interleaved little-endian i16 samples, and the frame count.
pub(crate) struct PcmHasher {
    spec: PcmSpec,
    hasher: Sha256,
    frames: u64,
    bytes: Vec<u8>,
}

impl PcmHasher {
    pub(crate) fn new(spec: PcmSpec) -> Self {
        PcmHasher {
            spec,
            hasher: Sha256::new(),
            frames: 0,
            bytes: Vec::new(),
        }
    }

    pub(crate) fn update(&mut self, samples: &[i16]) {
        self.bytes.clear();
        self.bytes.reserve(samples.len() * 2);
        for s in samples {
            self.bytes.extend_from_slice(&s.to_le_bytes());
        }
        self.hasher.update(&self.bytes);
        self.frames += (samples.len() / usize::from(self.spec.channels.max(1))) as u64;
    }

    pub(crate) fn finish(self) -> PcmIdentity {
        PcmIdentity {
            spec: self.spec,
            frames: self.frames,
            pcm_sha256: hex::encode(self.hasher.finalize()),
        }
    }
}

/// Reads a whole source, hashing it.
pub(crate) fn identity_of(source: &mut dyn PcmSource) -> Result<PcmIdentity, MediaError> {
    let mut hasher = PcmHasher::new(source.spec());
    let mut buf = Vec::new();
    while source.read_frames(&mut buf, CHUNK_FRAMES)? > 0 {
        hasher.update(&buf);
    }
    Ok(hasher.finish())
}
