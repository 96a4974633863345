//! The audio file: a 16-bit PCM WAV written with hound, checkpointed (header lengths
//! updated and data fsynced) so that a crash loses at most the last second; and the
//! header repair that recovery uses on a `.partial.wav` a crash left behind.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::source::AudioFormat;
use crate::error::{Error, Result};

/// The most audio bytes one WAV file can hold: its lengths are 32-bit, and hound's
/// header takes up to 68 bytes of the same count. Rounded down to whole stereo frames.
pub const WAV_MAX_DATA_BYTES: u64 = (u32::MAX as u64 - 128) / 4 * 4;

/// A `.partial.wav` being written. It holds an exclusive lock on the file while it is
/// open, so that recovery in another process never repairs a recording in progress.
pub(crate) struct PartialWav {
    writer: hound::WavWriter<BufWriter<File>>,
    /// The same open file, for fsync and to hold the lock.
    file: File,
    channels: u16,
    frames: u64,
    max_frames: u64,
}

impl PartialWav {
    /// Creates the file (never overwriting one) with room for `max_data_bytes` of audio.
    pub(crate) fn create(path: &Path, format: AudioFormat, max_data_bytes: u64) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
        fs4::FileExt::try_lock(&file).map_err(|e| {
            Error::io(
                format!("cannot lock {}", path.display()),
                std::io::Error::other(e.to_string()),
            )
        })?;
        let spec = hound::WavSpec {
            channels: format.channels,
            sample_rate: format.sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let handle = file
            .try_clone()
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        let writer = hound::WavWriter::new(BufWriter::with_capacity(1 << 16, handle), spec)
            .map_err(|e| wav_error(path, e))?;
        let frame_bytes = 2 * u64::from(format.channels);
        Ok(PartialWav {
            writer,
            file,
            channels: format.channels,
            frames: 0,
            max_frames: max_data_bytes.min(WAV_MAX_DATA_BYTES) / frame_bytes,
        })
    }

    pub(crate) fn frames(&self) -> u64 {
        self.frames
    }

    /// Frames that still fit under the size limit.
    pub(crate) fn room_frames(&self) -> u64 {
        self.max_frames - self.frames
    }

    /// Appends whole frames; the caller keeps within `room_frames`.
    pub(crate) fn write(&mut self, samples: &[i16]) -> std::io::Result<()> {
        let mut out = self.writer.get_i16_writer(samples.len() as u32);
        for &s in samples {
            out.write_sample(s);
        }
        out.flush().map_err(hound_io)?;
        self.frames += (samples.len() / usize::from(self.channels)) as u64;
        Ok(())
    }

    /// Updates the header's lengths and makes everything written so far durable.
    pub(crate) fn checkpoint(&mut self) -> std::io::Result<()> {
        self.writer.flush().map_err(hound_io)?;
        self.file.sync_data()
    }

    /// Finalizes the header and syncs. Returns the frame count and the locked file,
    /// which the caller keeps until the file has its final name.
    pub(crate) fn finish(self) -> std::io::Result<(u64, File)> {
        self.writer.finalize().map_err(hound_io)?;
        self.file.sync_all()?;
        Ok((self.frames, self.file))
    }
}

fn hound_io(e: hound::Error) -> std::io::Error {
    match e {
        hound::Error::IoError(io) => io,
        other => std::io::Error::other(other.to_string()),
    }
}

fn wav_error(path: &Path, e: hound::Error) -> Error {
    Error::io(format!("cannot write {}", path.display()), hound_io(e))
}

/// SHA-256 (hex) and size of a file, read in blocks.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), bytes))
}

/// Where a WAV file's parts are, from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WavLayout {
    pub format: AudioFormat,
    pub block_align: u16,
    /// Offset of the first audio byte; the data length field is the 4 bytes before it.
    pub data_offset: u64,
}

/// Reads the layout of a 16-bit PCM WAV from the start of a file; anything else is
/// described as the problem it is.
pub(crate) fn parse_header(head: &[u8]) -> Result<WavLayout, String> {
    if head.is_empty() {
        return Err("the file is empty: nothing was captured".into());
    }
    if head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err("not a WAV file".into());
    }
    let u16_at = |at: usize| u16::from_le_bytes([head[at], head[at + 1]]);
    let u32_at =
        |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let mut at = 12usize;
    let mut fmt: Option<(AudioFormat, u16, u16)> = None;
    while at + 8 <= head.len() {
        let id = &head[at..at + 4];
        let size = u32_at(at + 4) as usize;
        let body = at + 8;
        if id == b"data" {
            let (format, block_align, bits) =
                fmt.ok_or("the WAV header has no format before its audio")?;
            if bits != 16 || block_align != 2 * format.channels {
                return Err(format!(
                    "not 16-bit PCM ({bits} bits, {} channels)",
                    format.channels
                ));
            }
            return Ok(WavLayout {
                format,
                block_align,
                data_offset: body as u64,
            });
        }
        if id == b"fmt " {
            if body + 16 > head.len() || size < 16 {
                return Err("the WAV header is cut short".into());
            }
            let tag = u16_at(body);
            let channels = u16_at(body + 2);
            let sample_rate = u32_at(body + 4);
            let block_align = u16_at(body + 12);
            let bits = u16_at(body + 14);
            if tag != 1 && tag != 0xFFFE {
                return Err(format!("not PCM audio (format tag {tag:#x})"));
            }
            if channels == 0 || sample_rate == 0 {
                return Err("the WAV header names no channels or no sample rate".into());
            }
            fmt = Some((
                AudioFormat {
                    sample_rate,
                    channels,
                },
                block_align,
                bits,
            ));
        }
        at = body.saturating_add(size).saturating_add(size & 1);
    }
    Err("the WAV header is cut short before its audio".into())
}

/// The size of the header our writer puts before the audio: hound writes a plain PCM
/// `fmt ` chunk for 16-bit mono and stereo, so the audio starts at byte 44.
pub(crate) const HEADER_BYTES: u64 = 44;

/// What a crashed `.partial.wav` of a known recording session holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inspection {
    /// No audio at all: empty, cut inside the header, or a header alone.
    NoAudio,
    /// A header that matches the session, and audio after it.
    Intact,
    /// Audio after a header that is damaged or does not match the session.
    HeaderDamaged,
}

/// Looks at a crashed `.partial.wav` whose session recorded `session`.
pub(crate) fn inspect(path: &Path, session: AudioFormat) -> std::io::Result<Inspection> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut head = Vec::with_capacity(4096);
    (&mut file).take(4096).read_to_end(&mut head)?;
    Ok(match parse_header(&head) {
        Ok(layout) if len < layout.data_offset + u64::from(layout.block_align) => {
            Inspection::NoAudio
        }
        Ok(layout) if layout.format == session => Inspection::Intact,
        // Our writer's header is HEADER_BYTES long: a file no longer cannot hold audio.
        _ if len <= HEADER_BYTES => Inspection::NoAudio,
        _ => Inspection::HeaderDamaged,
    })
}

/// Writes our writer's header for `format` over the start of the file (its lengths are
/// then set by `repair`), keeping every byte after it.
pub(crate) fn rebuild_header(path: &Path, format: AudioFormat) -> std::io::Result<()> {
    let block_align = 2 * format.channels;
    let mut header = Vec::with_capacity(HEADER_BYTES as usize);
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    header.extend_from_slice(&16u32.to_le_bytes());
    header.extend_from_slice(&1u16.to_le_bytes()); // PCM
    header.extend_from_slice(&format.channels.to_le_bytes());
    header.extend_from_slice(&format.sample_rate.to_le_bytes());
    let byte_rate = format.sample_rate.saturating_mul(u32::from(block_align));
    header.extend_from_slice(&byte_rate.to_le_bytes());
    header.extend_from_slice(&block_align.to_le_bytes());
    header.extend_from_slice(&16u16.to_le_bytes());
    header.extend_from_slice(b"data");
    header.extend_from_slice(&0u32.to_le_bytes());
    let mut file = OpenOptions::new().write(true).open(path)?;
    file.write_all(&header)?;
    file.sync_all()
}

/// Rewrites a crashed `.partial.wav`'s header lengths from its size, cut down to whole
/// frames, and syncs it. Returns its layout and frame count, or what is wrong with it
/// (a file with no audio is left untouched).
pub(crate) fn repair(path: &Path) -> Result<(WavLayout, u64), String> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| e.to_string())?;
    let mut head = Vec::with_capacity(4096);
    (&mut file)
        .take(4096)
        .read_to_end(&mut head)
        .map_err(|e| e.to_string())?;
    let layout = parse_header(&head)?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let available = len.saturating_sub(layout.data_offset);
    let data = (available.min(WAV_MAX_DATA_BYTES) / u64::from(layout.block_align))
        * u64::from(layout.block_align);
    let frames = data / u64::from(layout.block_align);
    if frames == 0 {
        return Err("it holds no audio".into());
    }
    let write = |file: &mut File| -> std::io::Result<()> {
        file.set_len(layout.data_offset + data)?;
        file.seek(SeekFrom::Start(4))?;
        file.write_all(&((layout.data_offset + data - 8) as u32).to_le_bytes())?;
        file.seek(SeekFrom::Start(layout.data_offset - 4))?;
        file.write_all(&(data as u32).to_le_bytes())?;
        file.sync_all()
    };
    write(&mut file).map_err(|e| e.to_string())?;
    Ok((layout, frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mono(rate: u32) -> AudioFormat {
        AudioFormat {
            sample_rate: rate,
            channels: 1,
        }
    }

    #[test]
    fn a_checkpointed_file_is_a_valid_wav_of_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.partial.wav");
        let mut wav = PartialWav::create(&path, mono(16_000), WAV_MAX_DATA_BYTES).unwrap();
        let samples: Vec<i16> = (0..1600).map(|i| (i * 7) as i16).collect();
        wav.write(&samples).unwrap();
        wav.checkpoint().unwrap();
        // Read while still open: what a crash right now would leave.
        let read: Vec<i16> = hound::WavReader::open(&path)
            .unwrap()
            .samples::<i16>()
            .map(Result::unwrap)
            .collect();
        assert_eq!(read, samples);
        let (frames, _lock) = wav.finish().unwrap();
        assert_eq!(frames, 1600);
    }

    #[test]
    fn room_is_bounded_by_the_size_limit_in_whole_frames() {
        let dir = tempfile::tempdir().unwrap();
        let stereo = AudioFormat {
            sample_rate: 48_000,
            channels: 2,
        };
        let wav = PartialWav::create(&dir.path().join("s.wav"), stereo, 1003).unwrap();
        assert_eq!(wav.room_frames(), 250);
        let big = PartialWav::create(&dir.path().join("b.wav"), stereo, u64::MAX).unwrap();
        assert_eq!(big.room_frames(), WAV_MAX_DATA_BYTES / 4);
        assert!(WAV_MAX_DATA_BYTES + 68 <= u64::from(u32::MAX));
    }

    #[test]
    fn creating_never_overwrites_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.partial.wav");
        std::fs::write(&path, b"precious").unwrap();
        assert!(PartialWav::create(&path, mono(8000), 1000).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    }

    #[test]
    fn repair_sets_lengths_from_the_size_rounded_down_to_whole_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.partial.wav");
        let stereo = AudioFormat {
            sample_rate: 8000,
            channels: 2,
        };
        let mut wav = PartialWav::create(&path, stereo, WAV_MAX_DATA_BYTES).unwrap();
        wav.write(&[1, 2, 3, 4, 5, 6]).unwrap();
        wav.checkpoint().unwrap();
        wav.write(&[7, 8, 9, 10]).unwrap();
        drop(wav); // hound finalizes on drop: undo that to simulate a crash
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[4..8].copy_from_slice(&0u32.to_le_bytes());
        bytes[40..44].copy_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&[11, 0, 12]); // a torn last frame
        std::fs::write(&path, &bytes).unwrap();

        let (layout, frames) = repair(&path).unwrap();
        assert_eq!((layout.format, frames), (stereo, 5));
        let read: Vec<i16> = hound::WavReader::open(&path)
            .unwrap()
            .samples::<i16>()
            .map(Result::unwrap)
            .collect();
        assert_eq!(read, (1..=10).collect::<Vec<i16>>());
    }

    #[test]
    fn our_header_is_the_44_bytes_recovery_rebuilds() {
        let dir = tempfile::tempdir().unwrap();
        for channels in [1u16, 2] {
            let format = AudioFormat {
                sample_rate: 48_000,
                channels,
            };
            let path = dir.path().join(format!("{channels}.partial.wav"));
            let mut wav = PartialWav::create(&path, format, WAV_MAX_DATA_BYTES).unwrap();
            wav.write(&[1, 2, 3, 4]).unwrap();
            wav.checkpoint().unwrap();
            let written = std::fs::read(&path).unwrap();
            let layout = parse_header(&written).unwrap();
            assert_eq!((layout.format, layout.data_offset), (format, HEADER_BYTES));

            // A header rebuilt over garbage reads back as the same format and audio.
            let mut damaged = written.clone();
            damaged[..HEADER_BYTES as usize].fill(0xEE);
            std::fs::write(&path, &damaged).unwrap();
            assert_eq!(inspect(&path, format).unwrap(), Inspection::HeaderDamaged);
            rebuild_header(&path, format).unwrap();
            repair(&path).unwrap();
            assert_eq!(inspect(&path, format).unwrap(), Inspection::Intact);
            let reader = hound::WavReader::open(&path).unwrap();
            assert_eq!(reader.spec().channels, channels);
            let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
            assert_eq!(samples, [1, 2, 3, 4]);
        }
    }

    #[test]
    fn headers_that_are_not_ours_are_described_not_trusted() {
        assert!(parse_header(b"").unwrap_err().contains("empty"));
        assert!(
            parse_header(b"hello world, not audio")
                .unwrap_err()
                .contains("not a WAV")
        );
        assert!(
            parse_header(b"RIFF\0\0\0\0WAVEfmt ")
                .unwrap_err()
                .contains("cut short")
        );
        let mut float = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0".to_vec();
        float.extend_from_slice(&[3, 0, 1, 0, 0x80, 0x3e, 0, 0, 0, 0, 0, 0, 4, 0, 32, 0]);
        float.extend_from_slice(b"data\0\0\0\0");
        assert!(parse_header(&float).unwrap_err().contains("not PCM"));
    }
}
