//! The Opus listening copy against Debian's opus-tools: opusinfo validates the stream,
//! opusdec decodes it to the recording's length, and a sound at t in the WAV is at t in
//! the copy; damage is an error, never a panic.

mod support;

use std::path::Path;

use support::*;
use tellus_media::{
    MediaError, OpusSettings, encode_opus, inspect_ogg_opus, sha256_file, verify_opus, wav_identity,
};

/// Encodes, checks with opusinfo and our own inspector, decodes with opusdec at 48 kHz
/// and compares the length. Returns the decoded samples.
fn listening_copy(wav: &Path, dir: &Path) -> Vec<i16> {
    listening_copy_of(wav, dir, true)
}

fn listening_copy_of(wav: &Path, dir: &Path, speech: bool) -> Vec<i16> {
    let source = wav_identity(wav).expect("identity");
    let opus = dir.join("copy.opus.partial");
    let encoded = encode_opus(wav, &opus, &OpusSettings::default()).expect("encode");
    assert_eq!(encoded.digest, sha256_file(&opus).expect("sha"));
    assert_eq!(encoded.info, verify_opus(&opus, &source).expect("verify"));
    assert_eq!(encoded.info.pre_skip, 312);
    assert_eq!(encoded.info.channels, 1);
    assert_eq!(encoded.info.input_sample_rate, source.spec.sample_rate);

    let (ok, text) = run_status("opusinfo", &[path_str(&opus)]);
    assert!(ok, "opusinfo refused the copy: {text}");
    for word in ["WARNING", "ERROR", "Error", "Warning"] {
        assert!(!text.contains(word), "opusinfo: {text}");
    }
    assert!(text.contains("Pre-skip: 312"), "{text}");

    let decoded = dir.join("decoded.wav");
    run(
        "opusdec",
        &[
            "--quiet",
            "--rate",
            "48000",
            path_str(&opus),
            path_str(&decoded),
        ],
    );
    let (spec, samples) = read_wav(&decoded);
    assert_eq!((spec.sample_rate, spec.channels), (48_000, 1));
    let expected = source.frames * 48_000 / u64::from(source.spec.sample_rate);
    let got = samples.len() as u64;
    assert!(
        got.abs_diff(expected) <= 960,
        "opusdec gives {got} samples at 48 kHz, the WAV lasts {expected}"
    );
    assert_eq!(got, encoded.info.samples_48k);

    // 16-24 kbit/s: the whole file, Ogg overhead included, stays under 24 kbit/s (and
    // speech gets most of the 20; silence takes less).
    let seconds = source.frames as f64 / f64::from(source.spec.sample_rate);
    let kbps = encoded.digest.bytes as f64 * 8.0 / seconds / 1000.0;
    assert!(kbps <= 24.0, "{kbps:.1} kbit/s");
    assert!(!speech || kbps >= 14.0, "{kbps:.1} kbit/s for speech");
    samples
}

#[test]
fn real_speech_16k_copy_is_valid_for_opusinfo_and_opusdec() {
    let dir = tempfile::tempdir().expect("tmp");
    listening_copy(&librivox_clip("0870"), dir.path());
}

#[test]
fn stereo_recordings_at_other_rates_make_mono_copies_of_the_same_length() {
    let dir = tempfile::tempdir().expect("tmp");
    // 48 kHz (the recorder), 44.1 kHz (resampled at a 160/441 ratio), 8 kHz (coded
    // as it is).
    for rate in ["48000", "44100", "8000"] {
        let wav = dir.path().join(format!("stereo-{rate}.wav"));
        sox(&[
            path_str(&librivox_clip("0880")),
            "-r",
            rate,
            "-b",
            "16",
            "-c",
            "2",
            path_str(&wav),
            "remix",
            "1",
            "1v0.7",
        ]);
        listening_copy(&wav, dir.path());
    }
}

/// Where `template` best matches `signal` within `from..to` (sample index).
fn best_match(signal: &[i16], template: &[f32], from: usize, to: usize) -> usize {
    let mut best = (f64::MIN, from);
    for start in from..to.min(signal.len() - template.len()) {
        let c: f64 = template
            .iter()
            .zip(&signal[start..])
            .map(|(t, &s)| f64::from(*t) * f64::from(s))
            .sum();
        if c > best.0 {
            best = (c, start);
        }
    }
    best.1
}

#[test]
fn a_tone_burst_at_t_in_the_wav_is_at_t_in_the_copy() {
    let dir = tempfile::tempdir().expect("tmp");
    let speech = dir.path().join("speech48.wav");
    sox(&[
        path_str(&librivox_clip("0870")),
        "-r",
        "48000",
        "-b",
        "16",
        path_str(&speech),
        "vol",
        "0.5",
    ]);
    let (_, mut samples) = read_wav(&speech);
    // A 40 ms 1 kHz burst, Hann-shaped, over the speech at known instants.
    let burst: Vec<f32> = (0..1920)
        .map(|i| {
            let w = 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / 1919.0).cos();
            w * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 48_000.0).sin() * 12_000.0
        })
        .collect();
    let at = [48_000usize * 2, 48_000 * 4 + 12_345, 48_000 * 6 + 777];
    for &t in &at {
        for (i, b) in burst.iter().enumerate() {
            let s = f32::from(samples[t + i]) + b;
            samples[t + i] = s.clamp(-32768.0, 32767.0) as i16;
        }
    }
    let wav = dir.path().join("marked.wav");
    write_wav(&wav, 48_000, 1, &samples);
    let decoded = listening_copy(&wav, dir.path());

    for &t in &at {
        // Search ±100 ms around the instant; the found instant must be within 10 ms.
        let found = best_match(&decoded, &burst, t - 4800, t + 4800);
        let off_ms = (found as f64 - t as f64) / 48.0;
        assert!(
            off_ms.abs() <= 10.0,
            "burst at {t}: found {off_ms:+.2} ms off"
        );
        // The pre-skip is the encoder's exact delay: well inside one millisecond.
        assert!(off_ms.abs() <= 1.0, "burst at {t}: {off_ms:+.2} ms off");
    }
}

#[test]
fn extreme_audio_encodes_without_failing() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = dir.path().join("extremes.wav");
    let mut noise = Noise::new(3);
    let mut samples = vec![0i16; 48_000];
    samples.extend((0..48_000).map(|i| if i % 2 == 0 { i16::MAX } else { i16::MIN }));
    samples.extend((0..48_000).map(|i| {
        if (i / 50) % 2 == 0 {
            i16::MAX
        } else {
            i16::MIN
        }
    }));
    samples.extend((0..48_000).map(|_| (noise.next_f32() * 32767.0) as i16));
    write_wav(&wav, 48_000, 1, &samples);
    let decoded = listening_copy_of(&wav, dir.path(), false);
    assert_eq!(decoded.len(), samples.len());
    // Too short to hold a frame, and empty: still valid streams of the right length.
    for frames in [1usize, 0] {
        let tiny = dir.path().join(format!("tiny-{frames}.wav"));
        write_wav(&tiny, 48_000, 1, &samples[48_000..48_000 + frames]);
        let source = wav_identity(&tiny).expect("identity");
        let out = dir.path().join("tiny.opus");
        let encoded = encode_opus(&tiny, &out, &OpusSettings::default()).expect("encode");
        assert_eq!(encoded.info.samples_48k, frames as u64);
        verify_opus(&out, &source).expect("verify");
        let (ok, text) = run_status("opusinfo", &[path_str(&out)]);
        assert!(ok, "{text}");
    }
}

#[test]
fn duration_is_checked_against_the_source() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = librivox_clip("0890");
    let opus = dir.path().join("copy.opus");
    encode_opus(&wav, &opus, &OpusSettings::default()).expect("encode");
    let mut source = wav_identity(&wav).expect("identity");
    verify_opus(&opus, &source).expect("same length");
    // 19 ms more passes; 25 ms more, or another recording, does not.
    source.frames += 19 * 16;
    verify_opus(&opus, &source).expect("within 20 ms");
    source.frames += 6 * 16;
    assert!(matches!(
        verify_opus(&opus, &source),
        Err(MediaError::DurationMismatch { .. })
    ));
    let other = wav_identity(&librivox_clip("0870")).expect("identity");
    assert!(matches!(
        verify_opus(&opus, &other),
        Err(MediaError::DurationMismatch { .. })
    ));
}

#[test]
fn opusenc_files_pass_the_same_inspection() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = librivox_clip("0920");
    let theirs = dir.path().join("opusenc.opus");
    run(
        "opusenc",
        &[
            "--quiet",
            "--bitrate",
            "20",
            path_str(&wav),
            path_str(&theirs),
        ],
    );
    let source = wav_identity(&wav).expect("identity");
    let info = verify_opus(&theirs, &source).expect("opusenc's file");
    assert_eq!(info.samples_48k, source.frames * 3);
    assert_eq!(info.input_sample_rate, 16_000);
}

#[test]
fn truncated_or_corrupted_opus_is_an_error_never_a_panic() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = librivox_clip("0930");
    let opus = dir.path().join("good.opus");
    encode_opus(&wav, &opus, &OpusSettings::default()).expect("encode");
    let good = std::fs::read(&opus).expect("read");
    let damaged = dir.path().join("damaged.opus");
    for cut in [0, 10, 27, 47, 100, good.len() / 2, good.len() - 1] {
        std::fs::write(&damaged, &good[..cut]).expect("write");
        let err = inspect_ogg_opus(&damaged).expect_err(&format!("cut at {cut}"));
        assert!(
            matches!(err, MediaError::Truncated { .. }),
            "cut at {cut}: {err}"
        );
    }
    // Cut at a page boundary: every page whole, but no end of stream.
    let last_page = good.windows(4).rposition(|w| w == b"OggS").expect("pages");
    std::fs::write(&damaged, &good[..last_page]).expect("write");
    assert!(matches!(
        inspect_ogg_opus(&damaged),
        Err(MediaError::Truncated { .. })
    ));
    for at in [5, 30, 60, good.len() / 3, good.len() - 2] {
        let mut bad = good.clone();
        bad[at] ^= 0x04;
        std::fs::write(&damaged, &bad).expect("write");
        assert!(inspect_ogg_opus(&damaged).is_err(), "flip at {at}");
    }
    // Something else entirely.
    assert!(matches!(
        inspect_ogg_opus(&wav),
        Err(MediaError::Malformed { .. })
    ));
    let mut appended = good.clone();
    appended.extend_from_slice(&good[..200]);
    std::fs::write(&damaged, &appended).expect("write");
    assert!(inspect_ogg_opus(&damaged).is_err());
}

/// Ogg's CRC-32 (polynomial 0x04c11db7, not reflected), bit by bit: independent of the
/// crate's table.
fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The byte offsets of every page.
fn pages(file: &[u8]) -> Vec<usize> {
    let mut at = 0;
    let mut starts = Vec::new();
    while at + 27 <= file.len() {
        starts.push(at);
        let segments = usize::from(file[at + 26]);
        let body: usize = file[at + 27..at + 27 + segments]
            .iter()
            .map(|&l| usize::from(l))
            .sum();
        at += 27 + segments + body;
    }
    starts
}

/// Rewrites one page's header bytes and fixes its CRC, as a careless muxer would.
fn edit_page(file: &mut [u8], page: usize, edit: impl FnOnce(&mut [u8])) {
    let starts = pages(file);
    let start = starts[page];
    let end = starts.get(page + 1).copied().unwrap_or(file.len());
    edit(&mut file[start..end]);
    file[start + 22..start + 26].fill(0);
    let crc = ogg_crc(&file[start..end]);
    file[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn well_checksummed_but_inconsistent_streams_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let opus = dir.path().join("good.opus");
    encode_opus(&librivox_clip("0880"), &opus, &OpusSettings::default()).expect("encode");
    let good = std::fs::read(&opus).expect("read");
    let last = pages(&good).len() - 1;
    assert!(last >= 3, "headers, and audio on more than one page");
    let damaged = dir.path().join("edited.opus");
    let check = |bytes: &[u8], what: &str| {
        std::fs::write(&damaged, bytes).expect("write");
        let (libopus_ok, _) = run_status("opusinfo", &[path_str(&damaged)]);
        let ours = inspect_ogg_opus(&damaged);
        assert!(
            matches!(ours, Err(MediaError::Malformed { .. })),
            "{what}: {ours:?} (opusinfo accepted it: {libopus_ok})"
        );
    };
    // The control: an edit that changes nothing passes.
    let mut same = good.clone();
    edit_page(&mut same, last, |_| {});
    assert_eq!(same, good);

    let granule_at =
        |page: &mut [u8], value: u64| page[6..14].copy_from_slice(&value.to_le_bytes());
    let mut longer = good.clone();
    edit_page(&mut longer, last, |p| granule_at(p, 10_000_000));
    check(&longer, "a last granule beyond its packets");
    let mut backwards = good.clone();
    edit_page(&mut backwards, 2, |p| granule_at(p, 5_000_000));
    check(
        &backwards,
        "an intermediate granule that does not match its packets",
    );
    let mut two_streams = good.clone();
    edit_page(&mut two_streams, last, |p| p[14] ^= 1);
    check(&two_streams, "a page of another stream");
    let mut reordered = good.clone();
    edit_page(&mut reordered, 2, |p| p[18] = p[18].wrapping_add(1));
    check(&reordered, "a skipped page sequence number");
    let mut no_bos = good.clone();
    edit_page(&mut no_bos, 0, |p| p[5] = 0);
    check(&no_bos, "no beginning-of-stream flag");
    let mut bad_head = good.clone();
    edit_page(&mut bad_head, 0, |p| p[28..36].copy_from_slice(b"OpusHeaD"));
    check(&bad_head, "no OpusHead");
    // Without its end-of-stream flag the last page's trimmed granule no longer fits.
    let mut no_eos = good.clone();
    edit_page(&mut no_eos, last, |p| p[5] &= !0x04);
    check(&no_eos, "no end-of-stream flag");
}
