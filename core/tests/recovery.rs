//! Opening the store repairs what a crash left in the recordings folder, and reports,
//! without touching them, files that are damaged or not ours.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tellus_core::Store;
use tellus_core::model::{
    CaptureEvent, CaptureEventKind, NewStory, RecordingId, RecordingState, StopReason,
    sample_project,
};
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

    // The crashed recording, and the one whose header was garbage: its session knows
    // its format, so the header is rebuilt and the bytes after it kept as its audio.
    assert_eq!(report.recovered_recordings.len(), 2, "{report:#?}");
    let recovered = report
        .recovered_recordings
        .iter()
        .find(|r| r.recording_id == good)
        .unwrap();
    assert_eq!(recovered.story_id, story);
    assert_eq!((recovered.frames, recovered.duration_ms), (8_000, 500));
    let read: Vec<i16> = hound::WavReader::open(&recovered.file)
        .unwrap()
        .into_samples()
        .map(Result::unwrap)
        .collect();
    assert_eq!(read, samples);
    let rebuilt = report
        .recovered_recordings
        .iter()
        .find(|r| r.recording_id == damaged[2].0)
        .unwrap();
    assert_eq!(rebuilt.frames, (3_000 - 44) / 2);
    let indexed = store.recordings(story).unwrap();
    assert_eq!(indexed.len(), 2);
    assert!(indexed.iter().all(|r| r.state == RecordingState::Recovered));
    assert_eq!(
        store.capture(good).unwrap().stop_reason,
        Some(StopReason::Recovered)
    );

    // Files of a session that never got audio (empty, cut inside the header, a header
    // alone) held nothing: removed once, and said so in plain words.
    let mut discarded: Vec<String> = report
        .discarded_empty_recordings
        .iter()
        .map(|d| d.recording_id.to_string())
        .collect();
    discarded.sort();
    let mut empties: Vec<String> = [0, 1, 3].map(|i| damaged[i].0.to_string()).to_vec();
    empties.sort();
    assert_eq!(discarded, empties, "{report:#?}");
    for d in &report.discarded_empty_recordings {
        assert_eq!(d.story_id, story);
        assert!(!d.file.exists(), "{} is still there", d.file.display());
        assert_eq!(
            store.capture(d.recording_id).unwrap().stop_reason,
            Some(StopReason::Recovered)
        );
    }

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
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert_eq!(
        problems[&format!("{stranger}.partial.wav")],
        "an unfinished recording that no recording session in this database knows \
         (perhaps from another data folder); left in place"
    );
    assert!(problems.values().all(|p| p.ends_with("; left in place")));

    // Nothing reported was touched; opening again recovers and removes nothing twice.
    let before = files(&recordings);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert!(store.open_report().recovered_recordings.is_empty());
    assert!(store.open_report().discarded_empty_recordings.is_empty());
    assert_eq!(store.open_report().audio_problems.len(), 4);
    assert_eq!(files(&recordings), before);
}

/// A session for a crashed `.partial.wav` with these bytes; returns its id.
fn crashed_session(store: &Store, story: tellus_core::model::StoryId, bytes: &[u8]) -> RecordingId {
    let id = RecordingId::new();
    store
        .begin_capture(&NewCapture {
            recording_id: id,
            story_id: story,
            device: "test".into(),
            sample_rate: 16_000,
            channels: 1,
        })
        .unwrap();
    std::fs::write(
        store.recordings_dir().join(format!("{id}.partial.wav")),
        bytes,
    )
    .unwrap();
    id
}

fn store_with_story(dir: &Path) -> (Store, tellus_core::model::StoryId) {
    let store = Store::open(dir).unwrap();
    store.set_project(&sample_project()).unwrap();
    let story = store
        .create_story(&NewStory {
            title: "Interrupted".into(),
            ..Default::default()
        })
        .unwrap()
        .id;
    (store, story)
}

#[test]
fn a_damaged_header_is_rebuilt_from_what_the_session_knows() {
    let dir = tempfile::tempdir().unwrap();
    let (store, story) = store_with_story(dir.path());
    let samples: Vec<i16> = (0..4_000).map(|i| (i * 7) as i16).collect();
    let mut bytes = crashed_wav(&samples);
    bytes[..44].fill(0); // the header is gone; the audio after it is not
    let id = crashed_session(&store, story, &bytes);
    drop(store);

    let store = Store::open(dir.path()).unwrap();
    let report = store.open_report();
    assert_eq!(report.recovered_recordings.len(), 1, "{report:#?}");
    let recovered = &report.recovered_recordings[0];
    assert_eq!((recovered.recording_id, recovered.frames), (id, 4_000));
    let reader = hound::WavReader::open(&recovered.file).unwrap();
    assert_eq!(
        (reader.spec().sample_rate, reader.spec().channels),
        (16_000, 1)
    );
    let read: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
    assert_eq!(read, samples);
}

#[test]
fn boundaries_past_the_recovered_audio_end_where_the_audio_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (store, story) = store_with_story(dir.path());
    let samples: Vec<i16> = (0..8_000).map(|i| i as i16).collect();
    let id = crashed_session(&store, story, &crashed_wav(&samples));
    // Paused after 0.75 s, but the crash lost the audio after the last checkpoint.
    store
        .add_capture_event(
            id,
            &CaptureEvent {
                at_frame: 12_000,
                kind: CaptureEventKind::Pause,
                detail: String::new(),
            },
        )
        .unwrap();
    drop(store);

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.open_report().recovered_recordings.len(), 1);
    let events = store.capture(id).unwrap().events;
    assert_eq!(
        events
            .iter()
            .map(|e| (e.kind, e.at_frame))
            .collect::<Vec<_>>(),
        [(CaptureEventKind::Pause, 8_000)]
    );
}
