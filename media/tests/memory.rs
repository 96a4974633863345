//! Encoding and verifying stream: a 20-minute recording is encoded, decoded and checked
//! without memory growing with its length. Its own test binary, so that no other test
//! shares the process whose peak memory is measured.

mod support;

use std::io::Write;

use support::*;
use tellus_media::{
    OpusSettings, encode_flac, encode_opus, flac_identity, verify_flac, verify_opus, wav_identity,
};

/// Generous: the codecs need a few MB; a whole 20-minute recording is 115 MB as WAV.
const BOUND_MB: u64 = 40;

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// Resets the peak (VmHWM) to the current resident size.
fn reset_peak() {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/clear_refs")
        .expect("clear_refs");
    f.write_all(b"5").expect("reset VmHWM");
}

fn peak_growth_mb(step: &str, f: impl FnOnce()) -> u64 {
    reset_peak();
    let before = status_kb("VmRSS:");
    f();
    let growth = status_kb("VmHWM:").saturating_sub(before) / 1024;
    eprintln!("{step}: peak grew {growth} MB");
    growth
}

#[test]
fn twenty_minutes_encode_and_verify_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = dir.path().join("long.wav");
    {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&wav, spec).expect("create");
        let mut noise = Noise::new(99);
        for i in 0..48_000u64 * 60 * 20 {
            let tone = (i as f32 * 0.0577).sin() * 6000.0 * ((i / 24_000) % 2) as f32;
            w.write_sample((tone + noise.next_f32() * 800.0) as i16)
                .expect("write");
        }
        w.finalize().expect("finalize");
    }
    let wav_bytes = std::fs::metadata(&wav).expect("meta").len();
    assert!(wav_bytes > 100 * 1024 * 1024);

    // The measurement itself: a 64 MB buffer in one step must show.
    let control = peak_growth_mb("control", || {
        let buffer = vec![1u8; 64 * 1024 * 1024];
        assert_eq!(
            buffer.iter().map(|&b| u64::from(b)).sum::<u64>(),
            64 * 1024 * 1024
        );
    });
    assert!(
        (60..80).contains(&control),
        "a 64 MB buffer measured as {control} MB"
    );

    let flac = dir.path().join("long.flac");
    let opus = dir.path().join("long.opus");
    let mut source = None;
    let steps: Vec<(&str, u64)> = vec![
        (
            "encode_flac",
            peak_growth_mb("encode_flac", || {
                source = Some(encode_flac(&wav, &flac).expect("encode flac").identity);
            }),
        ),
        (
            "verify_flac",
            peak_growth_mb("verify_flac", || {
                verify_flac(&flac, &wav).expect("verify flac");
            }),
        ),
        (
            "flac_identity",
            peak_growth_mb("flac_identity", || {
                flac_identity(&flac).expect("flac identity");
            }),
        ),
        (
            "encode_opus",
            peak_growth_mb("encode_opus", || {
                encode_opus(&wav, &opus, &OpusSettings::default()).expect("encode opus");
            }),
        ),
        (
            "verify_opus",
            peak_growth_mb("verify_opus", || {
                let source = wav_identity(&wav).expect("identity");
                verify_opus(&opus, &source).expect("verify opus");
            }),
        ),
    ];
    assert_eq!(source, Some(wav_identity(&wav).expect("identity")));
    for (step, growth) in steps {
        assert!(
            growth < BOUND_MB,
            "{step} grew the peak by {growth} MB for a {wav_bytes}-byte recording"
        );
    }
}
