//! Shared by the media tests: real speech, generated audio, and Debian's own tools.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

/// pocketsphinx-testdata's LibriVox clips (16 kHz mono, 16-bit, real recorded speech).
pub const LIBRIVOX: &str = "/usr/share/pocketsphinx/test/data/librivox";

pub fn librivox_clip(id: &str) -> PathBuf {
    let path = Path::new(LIBRIVOX).join(format!("sense_and_sensibility_01_austen_64kb-{id}.wav"));
    assert!(
        path.exists(),
        "{} missing: install pocketsphinx-testdata (scripts/setup.sh)",
        path.display()
    );
    path
}

/// Runs a tool, asserting it succeeds; returns stdout.
pub fn run(program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (install it: scripts/setup.sh)"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs a tool; returns whether it succeeded, and its stdout and stderr together.
pub fn run_status(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// `sox` converts a file (rate, channels, effects) to 16-bit WAV.
pub fn sox(args: &[&str]) {
    run("sox", args);
}

/// Writes a 16-bit WAV from interleaved samples.
pub fn write_wav(path: &Path, sample_rate: u32, channels: u16, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for s in samples {
        w.write_sample(*s).expect("write sample");
    }
    w.finalize().expect("finalize wav");
}

/// Reads a 16-bit WAV's interleaved samples.
pub fn read_wav(path: &Path) -> (hound::WavSpec, Vec<i16>) {
    let mut r = hound::WavReader::open(path).expect("open wav");
    let spec = r.spec();
    let samples = r
        .samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .expect("wav samples");
    (spec, samples)
}

/// A deterministic noise generator (xorshift), so tests need no rand crate.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Noise(seed | 1)
    }
    pub fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}
