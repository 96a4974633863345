//! FLAC: streaming encode (flacenc, frame by frame), streaming decode (claxon), and the
//! sample-for-sample check of a FLAC against its WAV.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flacenc::bitsink::ByteSink;
use flacenc::component::{BitRepr, StreamInfo};
use flacenc::error::Verify;
use flacenc::source::{Context, Fill, FrameBuf};

use crate::digest::sha256_file;
use crate::pcm::{CHUNK_FRAMES, PcmHasher, PcmSource, identity_of};
use crate::wav::WavSource;
use crate::{Encoded, MediaError, PcmIdentity, PcmSpec};

/// Samples per channel in each FLAC frame (libFLAC's for -3 to -8).
const BLOCK_SIZE: usize = 4096;

/// "fLaC", the STREAMINFO block's header (last metadata block, type 0, 34 bytes).
const STREAMINFO_BLOCK_HEADER: [u8; 8] = [b'f', b'L', b'a', b'C', 0x80, 0, 0, 34];
const HEADER_LEN: usize = STREAMINFO_BLOCK_HEADER.len() + 34;

/// The PCM identity of a FLAC file, decoding every frame (each frame's CRC is checked;
/// a damaged or truncated file is an error).
pub fn flac_identity(path: &Path) -> Result<PcmIdentity, MediaError> {
    let mut source = FlacSource::open(path)?;
    identity_of(&mut source)
}

/// Encodes a 16-bit WAV to FLAC at `out`, one frame at a time, and fsyncs it. `out` should
/// be a `.partial` path the caller renames once [`verify_flac`] has passed. Returns the
/// FLAC's digest and the identity of the WAV's PCM.
pub fn encode_flac(wav: &Path, out: &Path) -> Result<Encoded, MediaError> {
    let mut source = WavSource::open(wav)?;
    let spec = source.spec();
    let channels = usize::from(spec.channels);
    let unsupported = |what: &'static str, value: u64| MediaError::Unsupported {
        path: wav.to_path_buf(),
        what,
        value,
    };
    if channels > 8 {
        return Err(unsupported("channel count for FLAC", channels as u64));
    }
    let mut stream_info = StreamInfo::new(spec.sample_rate as usize, channels, 16)
        .map_err(|_| unsupported("sample rate for FLAC", spec.sample_rate.into()))?;
    let config = encoder_config()
        .into_verified()
        .map_err(|(_, e)| encoder_error(out, e))?;

    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(out)
        .map_err(|e| MediaError::io(out, e))?;
    let mut writer = BufWriter::new(file);
    // The STREAMINFO (length, MD5) is known at the end: room for it now, written last.
    writer
        .write_all(&[0u8; HEADER_LEN])
        .map_err(|e| MediaError::io(out, e))?;

    let mut frame_buf =
        FrameBuf::with_size(channels, BLOCK_SIZE).map_err(|e| encoder_error(out, e))?;
    let mut md5 = Context::new(16, channels);
    let mut hasher = PcmHasher::new(spec);
    let mut samples = Vec::with_capacity(BLOCK_SIZE * channels);
    let mut bytes = Vec::with_capacity(BLOCK_SIZE * channels * 2);
    let mut sink = ByteSink::new();
    let mut frame_number = 0usize;
    let mut frame_sizes: Option<(usize, usize)> = None;
    while source.read_frames(&mut samples, BLOCK_SIZE)? > 0 {
        hasher.update(&samples);
        bytes.clear();
        for s in &samples {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        (&mut frame_buf, &mut md5)
            .fill_le_bytes(&bytes, 2)
            .map_err(|e| encoder_error(out, e))?;
        let frame =
            flacenc::encode_fixed_size_frame(&config, &frame_buf, frame_number, &stream_info)
                .map_err(|e| encoder_error(out, e))?;
        sink.clear();
        frame
            .write(&mut sink)
            .map_err(|e| encoder_error(out, format!("{e:?}")))?;
        writer
            .write_all(sink.as_slice())
            .map_err(|e| MediaError::io(out, e))?;
        let size = sink.as_slice().len();
        frame_sizes = Some(match frame_sizes {
            None => (size, size),
            Some((min, max)) => (min.min(size), max.max(size)),
        });
        frame_number += 1;
    }

    let (min_frame, max_frame) = frame_sizes.unwrap_or((0, 0));
    stream_info
        .set_frame_sizes(min_frame, max_frame)
        .map_err(|e| encoder_error(out, e))?;
    // A fixed-block-size stream declares its block size as both bounds (the last block
    // may be shorter), as libFLAC does.
    stream_info
        .set_block_sizes(BLOCK_SIZE, BLOCK_SIZE)
        .map_err(|e| encoder_error(out, e))?;
    stream_info.set_total_samples(md5.total_samples());
    stream_info.set_md5_digest(&md5.md5_digest());
    sink.clear();
    stream_info
        .write(&mut sink)
        .map_err(|e| encoder_error(out, format!("{e:?}")))?;

    let mut file = writer
        .into_inner()
        .map_err(|e| MediaError::io(out, e.into_error()))?;
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.write_all(&STREAMINFO_BLOCK_HEADER))
        .and_then(|_| file.write_all(sink.as_slice()))
        .and_then(|_| file.sync_all())
        .map_err(|e| MediaError::io(out, e))?;
    drop(file);

    Ok(Encoded {
        digest: sha256_file(out)?,
        identity: hasher.finish(),
    })
}

/// Decodes `flac` and reads `wav` side by side and compares them sample for sample.
/// Returns the identity of the (equal) PCM.
pub fn verify_flac(flac: &Path, wav: &Path) -> Result<PcmIdentity, MediaError> {
    let mut decoded = FlacSource::open(flac)?;
    let mut original = WavSource::open(wav)?;
    if decoded.spec() != original.spec() {
        return Err(MediaError::SpecMismatch {
            expected: original.spec(),
            found: decoded.spec(),
        });
    }
    let mut hasher = PcmHasher::new(original.spec());
    let channels = usize::from(original.spec().channels);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut frame = 0u64;
    loop {
        let got = decoded.read_frames(&mut a, CHUNK_FRAMES)?;
        let want = original.read_frames(&mut b, CHUNK_FRAMES)?;
        if let Some(i) = a.iter().zip(&b).position(|(x, y)| x != y) {
            return Err(MediaError::Mismatch {
                frame: frame + (i / channels) as u64,
            });
        }
        if got != want {
            return Err(MediaError::Mismatch {
                frame: frame + got.min(want) as u64,
            });
        }
        if got == 0 {
            break;
        }
        hasher.update(&b);
        frame += got as u64;
    }
    Ok(hasher.finish())
}

fn encoder_config() -> flacenc::config::Encoder {
    let mut config = flacenc::config::Encoder::default();
    config.block_size = BLOCK_SIZE;
    config.multithread = false;
    // flacenc's default LPC order of 10 came out 1.5% larger than `flac -8` on the
    // benchmark's speech (docs/benchmarks.md); libFLAC -8's 12 about as large as it
    // (-0.7% to +1%); 16 is smaller than it on every file for a sixth more encoding time
    // (still about 300 times real time on one core); 20 gains another 0.3%.
    config.subframe_coding.qlpc.lpc_order = 16;
    config
}

fn encoder_error(out: &Path, e: impl std::fmt::Display) -> MediaError {
    MediaError::Encoder {
        path: out.to_path_buf(),
        detail: e.to_string(),
    }
}

/// A FLAC file decoded block by block, served as interleaved 16-bit frames.
pub(crate) struct FlacSource {
    path: PathBuf,
    spec: PcmSpec,
    reader: claxon::FlacReader<BufReader<File>>,
    /// Frames the STREAMINFO declares (None: unknown).
    declared_frames: Option<u64>,
    decoded_frames: u64,
    block: Vec<i32>,
    pending: Vec<i16>,
    pending_at: usize,
    finished: bool,
}

impl FlacSource {
    pub(crate) fn open(path: &Path) -> Result<Self, MediaError> {
        let file = File::open(path).map_err(|e| MediaError::io(path, e))?;
        let reader =
            claxon::FlacReader::new(BufReader::new(file)).map_err(|e| flac_error(path, e))?;
        let info = reader.streaminfo();
        if info.bits_per_sample != 16 {
            return Err(MediaError::NotSixteenBit {
                path: path.to_path_buf(),
                bits: info.bits_per_sample as u16,
            });
        }
        let channels = u16::try_from(info.channels)
            .ok()
            .filter(|c| (1..=8).contains(c))
            .ok_or_else(|| MediaError::malformed(path, "FLAC", "bad channel count"))?;
        Ok(FlacSource {
            path: path.to_path_buf(),
            spec: PcmSpec {
                sample_rate: info.sample_rate,
                channels,
            },
            reader,
            declared_frames: info.samples,
            decoded_frames: 0,
            block: Vec::new(),
            pending: Vec::new(),
            pending_at: 0,
            finished: false,
        })
    }

    /// Decodes the next block into `pending`; false at the end of the stream.
    fn next_block(&mut self) -> Result<bool, MediaError> {
        let buffer = std::mem::take(&mut self.block);
        let block = match self.reader.blocks().read_next_or_eof(buffer) {
            Ok(Some(block)) => block,
            Ok(None) => {
                if let Some(declared) = self.declared_frames
                    && declared != self.decoded_frames
                {
                    return Err(MediaError::truncated(
                        &self.path,
                        format!(
                            "{} of the {declared} frames its header declares",
                            self.decoded_frames
                        ),
                    ));
                }
                return Ok(false);
            }
            Err(e) => return Err(flac_error(&self.path, e)),
        };
        if block.channels() != u32::from(self.spec.channels) {
            return Err(MediaError::malformed(
                &self.path,
                "FLAC",
                "a frame's channel count differs from the stream's",
            ));
        }
        let frames = block.duration();
        self.pending.clear();
        self.pending_at = 0;
        for i in 0..frames {
            for ch in 0..block.channels() {
                let sample = i16::try_from(block.sample(ch, i)).map_err(|_| {
                    MediaError::malformed(&self.path, "FLAC", "a sample exceeds 16 bits")
                })?;
                self.pending.push(sample);
            }
        }
        self.decoded_frames += u64::from(frames);
        if let Some(declared) = self.declared_frames
            && self.decoded_frames > declared
        {
            return Err(MediaError::malformed(
                &self.path,
                "FLAC",
                "more audio than its header declares",
            ));
        }
        self.block = block.into_buffer();
        Ok(true)
    }
}

impl PcmSource for FlacSource {
    fn spec(&self) -> PcmSpec {
        self.spec
    }

    fn read_frames(&mut self, buf: &mut Vec<i16>, max_frames: usize) -> Result<usize, MediaError> {
        buf.clear();
        let channels = usize::from(self.spec.channels);
        let wanted = max_frames * channels;
        while buf.len() < wanted && !self.finished {
            if self.pending_at == self.pending.len() {
                if !self.next_block()? {
                    self.finished = true;
                    break;
                }
                continue;
            }
            let take = (wanted - buf.len()).min(self.pending.len() - self.pending_at);
            buf.extend_from_slice(&self.pending[self.pending_at..self.pending_at + take]);
            self.pending_at += take;
        }
        Ok(buf.len() / channels)
    }
}

fn flac_error(path: &Path, e: claxon::Error) -> MediaError {
    match e {
        claxon::Error::IoError(io) => MediaError::reading(path, io),
        claxon::Error::FormatError(detail) => MediaError::malformed(path, "FLAC", detail),
        claxon::Error::Unsupported(detail) => MediaError::malformed(path, "FLAC", detail),
    }
}
