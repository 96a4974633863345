//! Test data: ids, hashes, generated audio bytes, and real copies of a recording
//! (WAV, FLAC, Ogg Opus) made as the phone makes them.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

/// A fresh UUIDv7, as the phones make ids.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The SHA-256 of a file, read in 1 MiB pieces.
pub fn file_sha256(path: &Path) -> String {
    let mut f = std::fs::File::open(path)
        .unwrap_or_else(|e| panic!("open {} to hash it: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

/// Deterministic test audio (not a WAV header; the server and the pull treat audio as
/// bytes).
pub fn audio(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[3] ^ seed)
        .collect()
}

/// 16-bit mono 48 kHz WAV of exactly `bytes` bytes (at least 46), deterministic noise.
pub fn wav_bytes(bytes: usize, seed: u64) -> Vec<u8> {
    let data_len = (bytes - 44) as u32;
    let mut out = Vec::with_capacity(bytes);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&48_000u32.to_le_bytes());
    out.extend_from_slice(&96_000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let take = (bytes - out.len()).min(8);
        out.extend_from_slice(&x.to_le_bytes()[..take]);
    }
    out
}

/// Real copies of one recording, made as the phone makes them (tellus-media): a
/// 16-bit WAV of generated speech-like sound, its FLAC and its Ogg Opus listening copy.
pub struct Copies {
    pub wav: Vec<u8>,
    pub flac: Vec<u8>,
    pub opus: Vec<u8>,
    /// The PCM identity of the WAV (and so of the FLAC).
    pub pcm_sha256: String,
}

impl Copies {
    /// `seconds` of mono audio at `rate`, different for every `seed`, and all three files.
    pub fn make(seconds: u32, rate: u32, seed: u32) -> Copies {
        let dir = tempfile::tempdir().unwrap();
        let mut copies = Copies::lossless_in(dir.path(), seconds, rate, seed);
        let opus = dir.path().join("r.opus");
        let wav = dir.path().join("r.wav");
        tellus_media::encode_opus(&wav, &opus, &tellus_media::OpusSettings::default()).unwrap();
        copies.opus = std::fs::read(&opus).unwrap();
        copies
    }

    /// Only the WAV and its FLAC (for tests that need no Opus).
    pub fn lossless(seconds: u32, rate: u32, seed: u32) -> Copies {
        let dir = tempfile::tempdir().unwrap();
        Copies::lossless_in(dir.path(), seconds, rate, seed)
    }

    fn lossless_in(dir: &Path, seconds: u32, rate: u32, seed: u32) -> Copies {
        let wav = dir.join("r.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(&wav, spec).unwrap();
        let mut noise = seed.wrapping_mul(2654435761) | 1;
        for n in 0..seconds * rate {
            let t = n as f32 / rate as f32;
            // A voice-like tone whose pitch and loudness wander, and a little noise.
            let pitch = 140.0 + 40.0 * (t * 0.7 + seed as f32).sin();
            let envelope = 0.5 + 0.5 * (t * 3.1).sin().abs();
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            let hiss = (noise % 2000) as f32 - 1000.0;
            let sample = 9000.0 * envelope * (std::f32::consts::TAU * pitch * t).sin() + hiss;
            writer.write_sample(sample as i16).unwrap();
        }
        writer.finalize().unwrap();
        let flac = dir.join("r.flac");
        let encoded = tellus_media::encode_flac(&wav, &flac).unwrap();
        Copies {
            wav: std::fs::read(&wav).unwrap(),
            flac: std::fs::read(&flac).unwrap(),
            opus: Vec::new(),
            pcm_sha256: encoded.identity.pcm_sha256,
        }
    }
}
