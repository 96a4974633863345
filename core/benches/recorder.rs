//! Recorder benchmark: 60 minutes of 48 kHz mono audio from a synthetic source, pushed
//! through the real capture path (sink → ring → writer thread → checkpointed WAV) as fast
//! as the writer takes it. Reports dropped frames, writer throughput as a multiple of real
//! time, and peak RSS above the idle process; the baseline, in the same run, is hound
//! writing the same samples straight to a file on the same disk (no ring, no thread, no
//! checkpoints).
//!
//! Run: `cargo bench -p tellus-core --bench recorder`
//! (`TELLUS_BENCH_MINUTES=5` for a shorter run.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use tellus_core::Store;
use tellus_core::audio::{AudioFormat, GeneratedSource, Pacing, Recorder, RecorderOptions};
use tellus_core::model::{NewStory, StopReason, sample_project};

const FORMAT: AudioFormat = AudioFormat {
    sample_rate: 48_000,
    channels: 1,
};

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn tone_block(frames: usize, offset: u64) -> Vec<i16> {
    let step = 2.0 * std::f64::consts::PI * 440.0 / 48_000.0;
    (0..frames)
        .map(|i| (16_000.0 * ((offset + i as u64) as f64 * step).sin()) as i16)
        .collect()
}

fn main() {
    let minutes: u64 = std::env::var("TELLUS_BENCH_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(60);
    let frames = minutes * 60 * u64::from(FORMAT.sample_rate);
    let audio = Duration::from_secs(minutes * 60);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();

    // Baseline: the same samples written straight to a WAV with hound.
    let baseline = {
        let path = dir.path().join("baseline.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: FORMAT.sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let start = Instant::now();
        let mut writer = hound::WavWriter::create(&path, spec).unwrap();
        let block = 480usize;
        let mut written = 0u64;
        while written < frames {
            let samples = tone_block(block, written);
            let mut w = writer.get_i16_writer(block as u32);
            for s in samples {
                w.write_sample(s);
            }
            w.flush().unwrap();
            written += block as u64;
        }
        writer.finalize().unwrap();
        let elapsed = start.elapsed();
        std::fs::remove_file(&path).unwrap();
        elapsed
    };

    let store = Arc::new(Store::open(dir.path().join("data")).unwrap());
    store.set_project(&sample_project()).unwrap();
    let story = store
        .create_story(&NewStory {
            title: "Benchmark".into(),
            ..Default::default()
        })
        .unwrap()
        .id;
    let idle_rss = status_kib("VmRSS:");
    let source = GeneratedSource::tone(FORMAT, 440.0, 0.5, Some(frames), Pacing::AsFastAsTaken);
    let start = Instant::now();
    let recorder = Recorder::start(
        store.clone(),
        story,
        Box::new(source),
        RecorderOptions {
            max_duration: Some(audio),
            min_free_bytes: 0,
            ..RecorderOptions::default()
        },
    )
    .unwrap();
    while !recorder.has_stopped() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let done = recorder.stop().unwrap();
    let elapsed = start.elapsed();
    let peak_rss = status_kib("VmHWM:");
    assert!(
        matches!(
            done.reason,
            StopReason::DurationReached | StopReason::InputEnded
        ),
        "{:?}",
        done.reason
    );

    let speed = audio.as_secs_f64() / elapsed.as_secs_f64();
    let baseline_speed = audio.as_secs_f64() / baseline.as_secs_f64();
    println!("{minutes} minutes of 48 kHz mono audio ({} frames)", frames);
    println!("| measure | recorder | baseline (hound straight to a file) |");
    println!("|---|---|---|");
    println!(
        "| frames written | {} | {} |",
        done.recording.frames, frames
    );
    println!("| frames dropped | {} | - |", done.stats.frames_dropped);
    println!(
        "| wall time | {:.2} s | {:.2} s |",
        elapsed.as_secs_f64(),
        baseline.as_secs_f64()
    );
    println!("| throughput | {speed:.0}x real time | {baseline_speed:.0}x real time |");
    println!(
        "| recorder vs baseline | {:.2}x the baseline's time | |",
        elapsed.as_secs_f64() / baseline.as_secs_f64()
    );
    println!(
        "| peak RSS above idle | {:.1} MiB (idle {:.1} MiB, peak {:.1} MiB) | |",
        (peak_rss.saturating_sub(idle_rss)) as f64 / 1024.0,
        idle_rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0
    );
}
