//! The FLAC copy against Debian's libFLAC tools: `flac -t` accepts it and `flac -d`
//! gives back exactly the recorded PCM; damage is an error, never a panic.

mod support;

use std::path::Path;

use support::*;
use tellus_media::{
    MediaError, encode_flac, flac_identity, identity, sha256_file, verify_flac, wav_identity,
};
use tellus_protocol::AudioFormat;

/// `flac -d` to raw 16-bit little-endian signed PCM: the identity by an independent
/// decoder.
fn libflac_pcm_sha256(flac: &Path) -> String {
    let raw = run(
        "flac",
        &[
            "-d",
            "-s",
            "--force-raw-format",
            "--endian=little",
            "--sign=signed",
            "-c",
            path_str(flac),
        ],
    );
    sha256_hex(&raw)
}

fn round_trip(wav: &Path, dir: &Path) {
    let out = dir.join("copy.flac.partial");
    let encoded = encode_flac(wav, &out).expect("encode");
    let source = wav_identity(wav).expect("wav identity");
    assert_eq!(encoded.identity, source);
    // sox reads the WAV with its own parser: the identity is its data, nothing else.
    let sox_raw = run(
        "sox",
        &[
            path_str(wav),
            "-t",
            "raw",
            "-e",
            "signed",
            "-b",
            "16",
            "-L",
            "-",
        ],
    );
    assert_eq!(source.pcm_sha256, sha256_hex(&sox_raw));

    let (ok, text) = run_status("flac", &["-t", "-s", path_str(&out)]);
    assert!(ok, "flac -t refused our FLAC: {text}");
    assert_eq!(libflac_pcm_sha256(&out), source.pcm_sha256);
    assert_eq!(flac_identity(&out).expect("flac identity"), source);
    assert_eq!(identity(&out, AudioFormat::Flac).expect("identity"), source);
    assert_eq!(verify_flac(&out, wav).expect("verify"), source);

    let bytes = std::fs::read(&out).expect("read flac");
    assert_eq!(encoded.digest.bytes, bytes.len() as u64);
    assert_eq!(encoded.digest.sha256, sha256_hex(&bytes));
    assert_eq!(sha256_file(&out).expect("sha"), encoded.digest);
    // libFLAC reads the same shape and length from our STREAMINFO.
    let meta = String::from_utf8(run(
        "metaflac",
        &[
            "--show-sample-rate",
            "--show-channels",
            "--show-bps",
            "--show-total-samples",
            path_str(&out),
        ],
    ))
    .expect("utf8");
    let expected = format!(
        "{}\n{}\n16\n{}\n",
        source.spec.sample_rate, source.spec.channels, source.frames
    );
    assert_eq!(meta, expected);
}

#[test]
fn real_speech_16k_mono_round_trips_through_libflac() {
    let dir = tempfile::tempdir().expect("tmp");
    round_trip(&librivox_clip("0870"), dir.path());
}

#[test]
fn stereo_48k_round_trips_through_libflac() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = dir.path().join("stereo.wav");
    // Real speech on the left, the same speech delayed and quieter with noise on the
    // right: the channels differ, so a swapped or duplicated channel would show.
    sox(&[
        path_str(&librivox_clip("0880")),
        "-r",
        "48000",
        "-b",
        "16",
        "-c",
        "2",
        path_str(&wav),
        "remix",
        "1",
        "1v0.5",
        "delay",
        "0",
        "0.013",
        "dither",
    ]);
    let (spec, samples) = read_wav(&wav);
    assert_eq!((spec.sample_rate, spec.channels), (48000, 2));
    assert!(samples.chunks(2).any(|f| f[0] != f[1]));
    assert_ne!(samples.len() / 2 % 4096, 0, "the last block is a short one");
    round_trip(&wav, dir.path());
}

#[test]
fn full_scale_and_silence_round_trip() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = dir.path().join("extremes.wav");
    let mut noise = Noise::new(7);
    let mut samples = vec![0i16; 5000];
    samples.extend((0..20_000).map(|i| if i % 2 == 0 { i16::MAX } else { i16::MIN }));
    samples.extend((0..30_000).map(|_| (noise.next_f32() * 32767.0) as i16));
    write_wav(&wav, 44_100, 1, &samples);
    round_trip(&wav, dir.path());
}

#[test]
fn a_flac_of_different_audio_fails_verification_at_the_first_differing_frame() {
    let dir = tempfile::tempdir().expect("tmp");
    let (spec, mut samples) = read_wav(&librivox_clip("0890"));
    let original = dir.path().join("original.wav");
    write_wav(&original, spec.sample_rate, spec.channels, &samples);
    samples[54_321] = samples[54_321].wrapping_add(1);
    let altered = dir.path().join("altered.wav");
    write_wav(&altered, spec.sample_rate, spec.channels, &samples);

    let flac = dir.path().join("altered.flac");
    encode_flac(&altered, &flac).expect("encode");
    match verify_flac(&flac, &original) {
        Err(MediaError::Mismatch { frame }) => assert_eq!(frame, 54_321),
        other => panic!("expected a mismatch at frame 54321, got {other:?}"),
    }
    // Shorter audio (the last second cut) is a mismatch where it ends.
    let short = dir.path().join("short.wav");
    write_wav(
        &short,
        spec.sample_rate,
        1,
        &samples[..samples.len() - 16_000],
    );
    let short_flac = dir.path().join("short.flac");
    encode_flac(&short, &short_flac).expect("encode");
    match verify_flac(&short_flac, &altered) {
        Err(MediaError::Mismatch { frame }) => {
            assert_eq!(frame, (samples.len() - 16_000) as u64)
        }
        other => panic!("expected a mismatch where the copy ends, got {other:?}"),
    }
    // Another rate is refused before any sample is compared.
    let other_rate = dir.path().join("rate.wav");
    write_wav(&other_rate, 8000, 1, &samples);
    assert!(matches!(
        verify_flac(&flac, &other_rate),
        Err(MediaError::SpecMismatch { .. })
    ));
}

#[test]
fn truncated_or_corrupted_flac_is_an_error_never_a_panic() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = librivox_clip("0920");
    let flac = dir.path().join("good.flac");
    encode_flac(&wav, &flac).expect("encode");
    let good = std::fs::read(&flac).expect("read");
    let damaged = dir.path().join("damaged.flac");

    // Cut at the header, inside STREAMINFO, after the header, and mid-frame.
    for cut in [0, 3, 20, 42, good.len() / 3, good.len() - 1] {
        std::fs::write(&damaged, &good[..cut]).expect("write");
        let result = flac_identity(&damaged);
        assert!(result.is_err(), "cut at {cut} of {} passed", good.len());
        assert!(verify_flac(&damaged, &wav).is_err(), "cut at {cut}");
        let (ok, _) = run_status("flac", &["-t", "-s", path_str(&damaged)]);
        assert!(!ok, "libFLAC too sees the cut at {cut}");
    }
    // Cut exactly between two frames: every frame is whole, yet audio is missing.
    let mut flac_frames_end = None;
    for at in (43..good.len() - 2).rev() {
        // a frame header's sync code: 0xFFF8 (fixed block size)
        if good[at] == 0xFF && good[at + 1] == 0xF8 {
            flac_frames_end = Some(at);
            break;
        }
    }
    let at = flac_frames_end.expect("a frame boundary");
    std::fs::write(&damaged, &good[..at]).expect("write");
    match flac_identity(&damaged) {
        Err(MediaError::Truncated { .. }) => {}
        other => panic!("a FLAC missing its last frame: {other:?}"),
    }

    // One flipped bit in the audio frames, anywhere, is found (each frame's CRC-16).
    for at in [100, good.len() / 2, good.len() - 3] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        std::fs::write(&damaged, &bad).expect("write");
        assert!(flac_identity(&damaged).is_err(), "flip at {at}");
        assert!(verify_flac(&damaged, &wav).is_err(), "flip at {at}");
    }
    // Not a FLAC at all.
    std::fs::copy(&wav, &damaged).expect("copy");
    assert!(matches!(
        flac_identity(&damaged),
        Err(MediaError::Malformed { .. })
    ));
}

#[test]
fn only_16_bit_pcm_and_only_lossless_formats_have_an_identity() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav24 = dir.path().join("24.wav");
    sox(&[
        path_str(&librivox_clip("0930")),
        "-b",
        "24",
        path_str(&wav24),
    ]);
    assert!(matches!(
        wav_identity(&wav24),
        Err(MediaError::NotSixteenBit { bits: 24, .. })
    ));
    assert!(matches!(
        encode_flac(&wav24, &dir.path().join("x.flac")),
        Err(MediaError::NotSixteenBit { .. })
    ));
    let flac24 = dir.path().join("24.flac");
    run("flac", &["-s", "-o", path_str(&flac24), path_str(&wav24)]);
    assert!(matches!(
        flac_identity(&flac24),
        Err(MediaError::NotSixteenBit { bits: 24, .. })
    ));
    assert!(matches!(
        identity(&librivox_clip("0930"), AudioFormat::OggOpus),
        Err(MediaError::NotLossless)
    ));
    // A WAV whose data chunk is cut short.
    let clip = std::fs::read(librivox_clip("0930")).expect("read");
    let cut = dir.path().join("cut.wav");
    std::fs::write(&cut, &clip[..clip.len() / 2]).expect("write");
    assert!(matches!(
        wav_identity(&cut),
        Err(MediaError::Truncated { .. })
    ));
    assert!(encode_flac(&cut, &dir.path().join("cut.flac")).is_err());
    // A missing file is an I/O error naming it.
    let missing = dir.path().join("missing.wav");
    let err = wav_identity(&missing).expect_err("missing");
    assert!(err.to_string().contains("missing.wav"), "{err}");
}
