//! Opening the store repairs what a crash left in the recordings folder, and reports,
//! without touching them, files that are damaged or not ours.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tellus_core::Store;
use tellus_core::model::{NewStory, RecordingId, RecordingState, StopReason, sample_project};
use tellus_core::store::NewCapture;

/// A WAV as a crash leaves it: audio written, header lengths still zero, a torn frame.
fn crashed_wav(samples: &[i16]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::new(std::io::Cursor::new(&mut bytes), spec).unwrap();
    for &s in samples {
        writer.write_sample(s).unwrap();
    }
    writer.finalize().unwrap();
    bytes[4..8].fill(0);
    bytes[40..44].fill(0);
    bytes.push(0x7f); // half of a sample: the write the crash interrupted
    bytes
}

fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap_or_default();
            (p, bytes)
        })
        .collect()
}

#[test]
fn a_crashed_recording_is_recovered_and_damaged_or_foreign_files_are_reported_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.set_project(&sample_project()).unwrap();
    let story = store
        .create_story(&NewStory {
            title: "Interrupted".into(),
            ..Default::default()
        })
        .unwrap()
        .id;
    let begin = |id: RecordingId| {
        store
            .begin_capture(&NewCapture {
                recording_id: id,
                story_id: story,
                device: "test".into(),
                sample_rate: 16_000,
                channels: 1,
            })
            .unwrap()
    };
    let recordings = store.recordings_dir();
    let samples: Vec<i16> = (0..8_000).map(|i| (i * 3) as i16).collect();
    let good = RecordingId::new();
    begin(good);
    std::fs::write(
        recordings.join(format!("{good}.partial.wav")),
        crashed_wav(&samples),
    )
    .unwrap();

    // Each of these is known to the database (a session was started), but unusable.
    let damaged: Vec<(RecordingId, Vec<u8>)> = vec![
        (RecordingId::new(), Vec::new()), // zero length
        (RecordingId::new(), b"RIFF\x10\0\0\0WAVEfm".to_vec()), // cut inside the header
        (RecordingId::new(), vec![0xA5; 3000]), // garbage
        (RecordingId::new(), crashed_wav(&[])[..44].to_vec()), // a header and no audio
    ];
    for (id, bytes) in &damaged {
        begin(*id);
        std::fs::write(recordings.join(format!("{id}.partial.wav")), bytes).unwrap();
    }
    // And files no session here knows about.
    let stranger = RecordingId::new();
    std::fs::write(
        recordings.join(format!("{stranger}.partial.wav")),
        crashed_wav(&samples),
    )
    .unwrap();
    std::fs::write(
        recordings.join(format!("{}.wav", RecordingId::new())),
        b"RIFF",
    )
    .unwrap();
    std::fs::write(recordings.join("holiday.mp3"), b"ID3").unwrap();
    std::fs::create_dir(recordings.join("backup")).unwrap();
    drop(store);

    let store = Store::open(dir.path()).unwrap();
    let report = store.open_report().clone();
    assert_eq!(report.recovered_recordings.len(), 1, "{report:#?}");
    let recovered = &report.recovered_recordings[0];
    assert_eq!((recovered.recording_id, recovered.story_id), (good, story));
    assert_eq!((recovered.frames, recovered.duration_ms), (8_000, 500));
    let read: Vec<i16> = hound::WavReader::open(&recovered.file)
        .unwrap()
        .into_samples()
        .map(Result::unwrap)
        .collect();
    assert_eq!(read, samples);
    let indexed = store.recordings(story).unwrap();
    assert_eq!(indexed.len(), 1);
    assert_eq!(indexed[0].state, RecordingState::Recovered);
    assert_eq!(indexed[0].frames, 8_000);
    assert_eq!(
        store.capture(good).unwrap().stop_reason,
        Some(StopReason::Recovered)
    );

    let problems: BTreeMap<String, String> = report
        .audio_problems
        .iter()
        .map(|p| {
            (
                p.file.file_name().unwrap().to_string_lossy().into(),
                p.problem.clone(),
            )
        })
        .collect();
    assert_eq!(problems.len(), 8, "{problems:#?}");
    let problem = |id: &RecordingId| problems[&format!("{id}.partial.wav")].as_str();
    assert!(problem(&damaged[0].0).contains("empty"), "{problems:#?}");
    assert!(
        problem(&damaged[1].0).contains("cut short"),
        "{problems:#?}"
    );
    assert!(
        problem(&damaged[2].0).contains("not a WAV"),
        "{problems:#?}"
    );
    assert!(problem(&damaged[3].0).contains("no audio"), "{problems:#?}");
    assert!(
        problem(&stranger).contains("no recording session"),
        "{problems:#?}"
    );
    assert!(problems.values().all(|p| p.ends_with("left in place")));

    // Nothing reported was touched; opening again recovers nothing twice.
    let before = files(&recordings);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert!(store.open_report().recovered_recordings.is_empty());
    assert_eq!(store.open_report().audio_problems.len(), 8);
    assert_eq!(files(&recordings), before);
    for (id, bytes) in &damaged {
        assert_eq!(
            &std::fs::read(recordings.join(format!("{id}.partial.wav"))).unwrap(),
            bytes
        );
    }
}
