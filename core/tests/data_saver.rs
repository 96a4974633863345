//! Data saver on the phone (issue 20): a recording's verified FLAC and listening copy,
//! made with the real encoders from real WAV files in a real store; what may be deleted
//! when; crashes mid-encoding; and delivery of each copy to the real server on loopback.

mod support;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tellus_core::Store;
use tellus_core::audio::{prepare_audio, prepare_recording};
use tellus_core::model::{
    NewStory, Recording, RecordingId, RecordingState, StoryId, Timestamp, sample_project,
};
use tellus_core::protocol::{AudioFormat, Representation};
use tellus_core::store::NewCapture;
use tellus_core::sync::{DeliveryState, Network, SyncSettings};

/// Speech-like audio: a few drifting tones with a syllable-rate envelope and a little
/// noise, so the encoders see something other than silence.
fn speechlike(frames: usize, rate: u32, seed: u32) -> Vec<i16> {
    let mut noise = seed.wrapping_mul(2_654_435_761).max(1);
    (0..frames)
        .map(|n| {
            let t = n as f64 / f64::from(rate);
            let envelope = (0.5 + 0.5 * (t * 2.0 * std::f64::consts::PI * 4.0).sin()).powi(2);
            let voice = (t * 2.0 * std::f64::consts::PI * (140.0 + 30.0 * (t * 0.7).sin())).sin()
                + 0.5 * (t * 2.0 * std::f64::consts::PI * 420.0).sin()
                + 0.25 * (t * 2.0 * std::f64::consts::PI * 1300.0).sin();
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            let hiss = (noise % 400) as f64 - 200.0;
            (voice * envelope * 6000.0 + hiss) as i16
        })
        .collect()
}

fn write_wav(path: &Path, samples: &[i16], rate: u32) -> (u64, String) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        writer.write_sample(s).unwrap();
    }
    writer.finalize().unwrap();
    let bytes = std::fs::read(path).unwrap();
    (bytes.len() as u64, hex::encode(Sha256::digest(&bytes)))
}

/// A recording of `seconds` of speech-like audio at 48 kHz, indexed as the recorder
/// indexes a finished one (not marked as uploaded before issue 20).
fn recorded(store: &Store, story: StoryId, seconds: usize) -> Recording {
    let id = RecordingId::new();
    let file_name = format!("{id}.wav");
    let path = store.recordings_dir().join(&file_name);
    let samples = speechlike(48_000 * seconds, 48_000, seconds as u32);
    let (bytes, sha256) = write_wav(&path, &samples, 48_000);
    let recording = Recording {
        id,
        story_id: story,
        file_name,
        format: "wav".into(),
        sample_rate: 48_000,
        channels: 1,
        frames: samples.len() as u64,
        bytes,
        sha256,
        state: RecordingState::Complete,
        created_at: Timestamp::now(),
        pcm_sha256: None,
    };
    store.add_recording(&recording).unwrap();
    recording
}

fn new_store() -> (tempfile::TempDir, Store, StoryId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.set_project(&sample_project()).unwrap();
    let story = store
        .create_story(&NewStory {
            title: "At the market".into(),
            ..Default::default()
        })
        .unwrap()
        .id;
    (dir, store, story)
}

fn path_of(store: &Store, name: &str) -> PathBuf {
    store.recordings_dir().join(name)
}

fn leftovers(store: &Store) -> Vec<String> {
    std::fs::read_dir(store.recordings_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial") || n.ends_with(".preparing"))
        .collect()
}

#[test]
fn a_finished_recording_gets_a_verified_flac_and_listening_copy_and_only_then_loses_its_wav() {
    let (_dir, store, story) = new_store();
    let rec = recorded(&store, story, 12);
    let wav = path_of(&store, &rec.file_name);
    let recorded_pcm = tellus_media::wav_identity(&wav).unwrap();

    let report = prepare_recording(&store, rec.id).unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);

    let lossless = store
        .recording_file(rec.id, Representation::Lossless)
        .unwrap()
        .expect("the lossless copy is recorded");
    assert_eq!(lossless.format, AudioFormat::Flac);
    let flac = path_of(&store, &lossless.file_name);
    // An independent decode of the FLAC on disk is the WAV's audio, sample for sample.
    assert_eq!(tellus_media::flac_identity(&flac).unwrap(), recorded_pcm);
    let on_disk = tellus_media::sha256_file(&flac).unwrap();
    assert_eq!(
        (on_disk.bytes, on_disk.sha256),
        (lossless.bytes, lossless.sha256)
    );
    assert_eq!(
        lossless.pcm_sha256.as_deref(),
        Some(recorded_pcm.pcm_sha256.as_str())
    );
    assert!(
        lossless.bytes < rec.bytes,
        "a FLAC of speech is smaller than its WAV"
    );
    // The recording's row keeps describing the WAV, with its PCM identity.
    let row = store.recording(rec.id).unwrap();
    assert_eq!((row.bytes, &row.sha256), (rec.bytes, &rec.sha256));
    assert_eq!(
        row.pcm_sha256.as_deref(),
        Some(recorded_pcm.pcm_sha256.as_str())
    );

    let listening = store
        .recording_file(rec.id, Representation::Listening)
        .unwrap()
        .expect("the listening copy is recorded");
    assert_eq!(listening.format, AudioFormat::OggOpus);
    let info = tellus_media::inspect_ogg_opus(&path_of(&store, &listening.file_name)).unwrap();
    assert!(
        info.duration_ms.abs_diff(rec.duration_ms()) <= 20,
        "{info:?}"
    );
    assert!(
        listening.bytes * 20 < rec.bytes,
        "{} of {}",
        listening.bytes,
        rec.bytes
    );

    // keep_wav is off by default: the WAV went, after both were recorded.
    assert!(!wav.exists());
    assert_eq!(report.wav_removed, vec![rec.id]);
    assert!(leftovers(&store).is_empty(), "{:?}", leftovers(&store));
    // Nothing is left to make; a second run does nothing.
    let again = prepare_audio(&store).unwrap();
    assert!(
        again.made.is_empty() && again.failed.is_empty(),
        "{again:?}"
    );
}

#[test]
fn with_keep_wav_the_wav_stays_beside_its_verified_flac() {
    let (_dir, store, story) = new_store();
    store
        .set_sync_settings(&SyncSettings {
            keep_wav: true,
            ..SyncSettings::default()
        })
        .unwrap();
    let rec = recorded(&store, story, 4);
    let wav = path_of(&store, &rec.file_name);
    let before = std::fs::read(&wav).unwrap();
    prepare_recording(&store, rec.id).unwrap();
    let lossless = store
        .recording_file(rec.id, Representation::Lossless)
        .unwrap()
        .unwrap();
    assert_eq!(lossless.format, AudioFormat::Flac);
    assert!(path_of(&store, &lossless.file_name).exists());
    assert_eq!(
        std::fs::read(&wav).unwrap(),
        before,
        "the WAV is kept, unchanged"
    );
}

#[test]
fn a_flac_that_cannot_be_written_leaves_the_wav_and_records_nothing() {
    let (_dir, store, story) = new_store();
    let rec = recorded(&store, story, 3);
    let wav = path_of(&store, &rec.file_name);
    let before = std::fs::read(&wav).unwrap();
    // Something in the way of the `.partial` (a folder of that name): the write fails.
    let blocker = path_of(&store, &format!("{}.flac.partial", rec.id));
    std::fs::create_dir(&blocker).unwrap();
    let report = prepare_recording(&store, rec.id).unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].representation, Representation::Lossless);
    assert!(report.made.is_empty() && report.wav_removed.is_empty());
    assert!(
        store
            .recording_file(rec.id, Representation::Lossless)
            .unwrap()
            .is_none()
    );
    assert_eq!(std::fs::read(&wav).unwrap(), before);
    assert!(store.recording(rec.id).unwrap().pcm_sha256.is_none());
    // Out of the way, the next run makes it.
    std::fs::remove_dir(&blocker).unwrap();
    let report = prepare_recording(&store, rec.id).unwrap();
    assert!(
        report
            .made
            .iter()
            .any(|m| m.representation == Representation::Lossless),
        "{report:?}"
    );
}

#[test]
fn a_corrupt_partial_left_by_a_crash_is_removed_at_open_and_the_work_redone() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, wav_before) = {
        let store = Store::open(dir.path()).unwrap();
        store.set_project(&sample_project()).unwrap();
        let story = store
            .create_story(&NewStory {
                title: "Killed while encoding".into(),
                ..Default::default()
            })
            .unwrap()
            .id;
        let rec = recorded(&store, story, 5);
        let wav = std::fs::read(path_of(&store, &rec.file_name)).unwrap();
        // What a kill mid-encoding leaves: half a FLAC, half an Ogg file, the lock file.
        std::fs::write(
            path_of(&store, &format!("{}.flac.partial", rec.id)),
            b"fLaC\0\0\0\x22 torn",
        )
        .unwrap();
        std::fs::write(
            path_of(&store, &format!("{}.opus.partial", rec.id)),
            b"OggS",
        )
        .unwrap();
        std::fs::write(path_of(&store, &format!("{}.preparing", rec.id)), b"").unwrap();
        (rec, wav)
    };
    let store = Store::open(dir.path()).unwrap();
    assert!(leftovers(&store).is_empty(), "{:?}", leftovers(&store));
    assert!(
        store.open_report().audio_problems.is_empty(),
        "{:?}",
        store.open_report().audio_problems
    );
    assert_eq!(
        std::fs::read(path_of(&store, &rec.file_name)).unwrap(),
        wav_before,
        "the WAV is untouched"
    );
    let report = prepare_audio(&store).unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let lossless = store
        .recording_file(rec.id, Representation::Lossless)
        .unwrap()
        .unwrap();
    let flac = path_of(&store, &lossless.file_name);
    assert_eq!(
        tellus_media::flac_identity(&flac).unwrap().pcm_sha256,
        lossless.pcm_sha256.unwrap()
    );
}

#[test]
fn a_recording_recovered_after_a_crash_gets_its_copies_too() {
    let dir = tempfile::tempdir().unwrap();
    let id = RecordingId::new();
    let samples = speechlike(16_000 * 3, 16_000, 7);
    {
        let store = Store::open(dir.path()).unwrap();
        store.set_project(&sample_project()).unwrap();
        let story = store
            .create_story(&NewStory {
                title: "Interrupted".into(),
                ..Default::default()
            })
            .unwrap()
            .id;
        store
            .begin_capture(&NewCapture {
                recording_id: id,
                story_id: story,
                device: "test".into(),
                sample_rate: 16_000,
                channels: 1,
            })
            .unwrap();
        let partial = path_of(&store, &format!("{id}.partial.wav"));
        write_wav(&partial, &samples, 16_000);
        // As a crash leaves it: lengths never written.
        let mut bytes = std::fs::read(&partial).unwrap();
        bytes[4..8].fill(0);
        bytes[40..44].fill(0);
        std::fs::write(&partial, bytes).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.open_report().recovered_recordings.len(), 1);
    assert_eq!(
        store.recording(id).unwrap().state,
        RecordingState::Recovered
    );
    let report = prepare_audio(&store).unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let lossless = store
        .recording_file(id, Representation::Lossless)
        .unwrap()
        .unwrap();
    assert_eq!(lossless.format, AudioFormat::Flac);
    let expected: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    assert_eq!(
        lossless.pcm_sha256.as_deref(),
        Some(hex::encode(Sha256::digest(&expected)).as_str()),
        "the FLAC holds exactly the recovered samples"
    );
    assert!(
        store
            .recording_file(id, Representation::Listening)
            .unwrap()
            .is_some()
    );
}

/// The contract end to end: on a metered network only the listening copy goes (the
/// lossless one waits for Wi-Fi, as the default settings ask); switching to unmetered
/// delivers the lossless copy; the server's receipt for each matches the file, and for
/// the lossless copy its PCM identity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metered_delivers_only_the_listening_copy_and_unmetered_the_lossless_both_receipts_match() {
    let server = support::Server::start().await;
    let phone = support::Phone::enrolled(&server, &server.base).await;
    let story = phone.consented_story();
    let rec = recorded(&phone.store, story, 20);
    phone.store.mark_ready(story).unwrap();

    phone.engine.set_network(Network::Metered);
    let report = phone.engine.sync().await.unwrap();
    assert!(
        report.parked.is_empty() && report.failures.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.delivered.len(), 1, "{report:?}");
    let listening = phone
        .store
        .recording_file(rec.id, Representation::Listening)
        .unwrap()
        .unwrap();
    let receipt = &report.delivered[0];
    assert_eq!(receipt.representation, Representation::Listening);
    assert_eq!(
        (receipt.bytes, &receipt.sha256),
        (listening.bytes, &listening.sha256)
    );
    assert_eq!(report.audio_waiting_for_unmetered, 1);
    assert!(matches!(
        phone.engine.delivery_state(story).unwrap(),
        DeliveryState::WaitingForUnmetered { .. }
    ));

    phone.engine.set_network(Network::Unmetered);
    let report = phone.engine.sync().await.unwrap();
    assert!(
        report.parked.is_empty() && report.failures.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.delivered.len(), 1, "{report:?}");
    let lossless = phone
        .store
        .recording_file(rec.id, Representation::Lossless)
        .unwrap()
        .unwrap();
    let receipt = &report.delivered[0];
    assert_eq!(receipt.representation, Representation::Lossless);
    assert_eq!(receipt.format.as_deref(), Some("flac"));
    assert_eq!(
        (receipt.bytes, &receipt.sha256),
        (lossless.bytes, &lossless.sha256)
    );
    assert_eq!(receipt.pcm_sha256, lossless.pcm_sha256);
    assert!(phone.delivered(story));
    // Both receipts, each as the server gives it now.
    let all = phone.store.receipts().unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    // Nothing more to send.
    let report = phone.engine.sync().await.unwrap();
    assert!(report.delivered.is_empty(), "{report:?}");
}

/// A project that declares the listening copy enough: a metered sync delivers the story
/// with its listening copy alone; the reporter may then free the lossless copy, which is
/// refused before that and changes nothing; once freed it is never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_listening_enough_a_story_is_delivered_by_its_listening_copy_and_the_lossless_can_be_freed()
 {
    let server = support::Server::start().await;
    server
        .db()
        .with(|c| {
            let config: String = c.query_row("SELECT config FROM projects", [], |r| r.get(0))?;
            let mut config: serde_json::Value = serde_json::from_str(&config).unwrap();
            config["upload_policy"]["listening_is_enough"] = serde_json::json!(true);
            c.execute("UPDATE projects SET config = ?1", [config.to_string()])?;
            Ok(())
        })
        .unwrap();
    let phone = support::Phone::enrolled(&server, &server.base).await;
    assert!(
        phone
            .store
            .project()
            .unwrap()
            .upload_policy
            .listening_is_enough
    );
    let story = phone.consented_story();
    let rec = recorded(&phone.store, story, 6);
    phone.store.mark_ready(story).unwrap();
    tellus_core::audio::prepare_story_audio(&phone.store, story).unwrap();
    let flac = path_of(
        &phone.store,
        &phone
            .store
            .recording_file(rec.id, Representation::Lossless)
            .unwrap()
            .unwrap()
            .file_name,
    );

    // Not delivered yet: freeing is refused and nothing changes.
    let before = phone.store.testing_dump().unwrap();
    let refused = tellus_core::audio::free_lossless(&phone.store, story).unwrap_err();
    assert!(refused.to_string().contains("not delivered"), "{refused}");
    assert_eq!(phone.store.testing_dump().unwrap(), before);
    assert!(flac.exists());

    phone.engine.set_network(Network::Metered);
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.delivered.len(), 1, "{report:?}");
    assert_eq!(
        report.delivered[0].representation,
        Representation::Listening
    );
    assert!(
        matches!(
            phone.engine.delivery_state(story).unwrap(),
            DeliveryState::Delivered { .. }
        ),
        "{:?}",
        phone.engine.delivery_state(story)
    );
    assert!(
        flac.exists(),
        "the lossless copy stays until delivered or freed"
    );

    let freed = tellus_core::audio::free_lossless(&phone.store, story).unwrap();
    assert_eq!(freed.recordings, vec![rec.id]);
    assert!(!flac.exists());
    assert!(!path_of(&phone.store, &rec.file_name).exists());
    phone.engine.set_network(Network::Unmetered);
    let report = phone.engine.sync().await.unwrap();
    assert!(
        report.delivered.is_empty() && report.parked.is_empty(),
        "{report:?}"
    );
    assert!(phone.delivered(story));
    assert_eq!(server.count("SELECT COUNT(*) FROM uploads"), 0);
}

/// A withdrawal with erasure deletes every file of the recording: the WAV kept beside
/// its FLAC, the FLAC and the listening copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_with_erasure_deletes_every_copy() {
    let server = support::Server::start().await;
    let phone = support::Phone::enrolled(&server, &server.base).await;
    phone
        .store
        .set_sync_settings(&SyncSettings {
            keep_wav: true,
            ..SyncSettings::default()
        })
        .unwrap();
    let story = phone.consented_story();
    let rec = recorded(&phone.store, story, 3);
    prepare_recording(&phone.store, rec.id).unwrap();
    let names: Vec<String> = std::iter::once(rec.file_name.clone())
        .chain(
            phone
                .store
                .recording_files(story)
                .unwrap()
                .into_iter()
                .map(|f| f.file_name),
        )
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.iter().all(|n| path_of(&phone.store, n).exists()));
    let mut withdrawal = tellus_core::model::ConsentDraft::withdraw(true);
    withdrawal.captured_by = "reporter".into();
    phone.store.record_consent(story, &withdrawal).unwrap();
    phone.engine.erase_withdrawn_audio().unwrap();
    for name in &names {
        assert!(
            !path_of(&phone.store, name).exists(),
            "{name} is still there"
        );
    }
    assert!(
        phone
            .store
            .recording_files(story)
            .unwrap()
            .iter()
            .all(|f| f.removed)
    );
}

/// A copy another process is making right now (it holds `<id>.preparing`) is waited for:
/// the sync sends the rest and counts no failure, and a later sync sends the copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_being_made_elsewhere_is_waited_for_not_counted_as_a_failure() {
    let server = support::Server::start().await;
    let phone = support::Phone::enrolled(&server, &server.base).await;
    let story = phone.consented_story();
    let rec = recorded(&phone.store, story, 3);
    phone.store.mark_ready(story).unwrap();
    let lock =
        std::fs::File::create(path_of(&phone.store, &format!("{}.preparing", rec.id))).unwrap();
    fs4::FileExt::try_lock(&lock).unwrap();

    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.documents_sent, 1, "{report:?}");
    assert!(
        report.delivered.is_empty() && report.failures.is_empty() && report.parked.is_empty(),
        "{report:?}"
    );
    let audio_attempts: Vec<u32> = phone
        .store
        .outbox_items(story)
        .unwrap()
        .iter()
        .filter(|i| i.kind == tellus_core::sync::ItemKind::Audio)
        .map(|i| i.attempts)
        .collect();
    assert_eq!(audio_attempts, vec![0, 0]);

    drop(lock);
    let report = phone.engine.sync().await.unwrap();
    assert_eq!(report.delivered.len(), 2, "{report:?}");
    assert!(phone.delivered(story));
}

/// No copies are made of audio whose storyteller withdrew (kept on the phone without
/// erasure, it stays only as recorded).
#[test]
fn no_copies_are_made_of_a_withdrawn_storys_audio() {
    let (_dir, store, story) = new_store();
    let project = store.project().unwrap();
    let form = project.current_forms()[0];
    let mut given =
        tellus_core::model::ConsentDraft::give(&form.id, form.version, "en", &["record"]);
    given.captured_by = "reporter".into();
    store.record_consent(story, &given).unwrap();
    let rec = recorded(&store, story, 2);
    let mut withdrawn = tellus_core::model::ConsentDraft::withdraw(false);
    withdrawn.captured_by = "reporter".into();
    store.record_consent(story, &withdrawn).unwrap();
    let report = prepare_audio(&store).unwrap();
    assert!(
        report.made.is_empty() && report.failed.is_empty(),
        "{report:?}"
    );
    assert!(store.recording_files(story).unwrap().is_empty());
    assert!(path_of(&store, &rec.file_name).exists());
}
