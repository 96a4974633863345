//! Data saver through the real binary (issue 20): `tellus sync` killed with SIGKILL while
//! it encodes a long recording's FLAC, at a random moment while the `.partial` exists.
//! Started again, the WAV is still there (or the verified FLAC is recorded), the work is
//! redone once, and the sync delivers each file exactly once.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{invite, ok, server_address, tellus, wait_until};
use tellus_core::Store;
use tellus_core::model::{
    ConsentDraft, NewStory, Recording, RecordingId, RecordingState, StoryId, Timestamp, items,
};

fn kill(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
}

/// A long 16 kHz mono WAV of speech-like audio, written streaming; returns its size,
/// SHA-256 and PCM identity (SHA-256 of the samples).
fn long_wav(path: &Path, minutes: u32) -> (u64, String, String, u64) {
    let rate = 16_000u32;
    let frames = u64::from(minutes) * 60 * u64::from(rate);
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let data_len = (frames * 2) as u32;
    let mut header = Vec::new();
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&(36 + data_len).to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    header.extend_from_slice(&16u32.to_le_bytes());
    header.extend_from_slice(&1u16.to_le_bytes());
    header.extend_from_slice(&1u16.to_le_bytes());
    header.extend_from_slice(&rate.to_le_bytes());
    header.extend_from_slice(&(rate * 2).to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&16u16.to_le_bytes());
    header.extend_from_slice(b"data");
    header.extend_from_slice(&data_len.to_le_bytes());
    let mut whole = Sha256::new();
    let mut pcm = Sha256::new();
    file.write_all(&header).unwrap();
    whole.update(&header);
    let mut noise = 0x9e37_79b9u32;
    let mut block = Vec::with_capacity(64 * 1024);
    for n in 0..frames {
        let t = n as f64 / f64::from(rate);
        let envelope = (0.5 + 0.5 * (t * std::f64::consts::TAU * 3.5).sin()).powi(2);
        let voice = (t * std::f64::consts::TAU * 150.0).sin()
            + 0.4 * (t * std::f64::consts::TAU * 610.0).sin();
        noise ^= noise << 13;
        noise ^= noise >> 17;
        noise ^= noise << 5;
        let sample = (voice * envelope * 5000.0) as i16 + (noise % 300) as i16 - 150;
        block.extend_from_slice(&sample.to_le_bytes());
        if block.len() >= 64 * 1024 {
            file.write_all(&block).unwrap();
            whole.update(&block);
            pcm.update(&block);
            block.clear();
        }
    }
    file.write_all(&block).unwrap();
    whole.update(&block);
    pcm.update(&block);
    file.flush().unwrap();
    (
        44 + frames * 2,
        hex::encode(whole.finalize()),
        hex::encode(pcm.finalize()),
        frames,
    )
}

/// A ready story with consent and one long recording, indexed as the recorder does.
fn story_with_long_recording(phone: &Path, minutes: u32) -> (StoryId, Recording, String) {
    let store = Store::open(phone).unwrap();
    let story = store
        .create_story(&NewStory {
            title: "A long afternoon".into(),
            summary: String::new(),
            storyteller_label: "Participant 2".into(),
        })
        .unwrap();
    let project = store.project().unwrap();
    let form = project.current_forms()[0];
    let mut draft = ConsentDraft::give(&form.id, form.version, "en", &[items::RECORD]);
    draft.captured_by = "reporter".into();
    store.record_consent(story.id, &draft).unwrap();
    let id = RecordingId::new();
    let file_name = format!("{id}.wav");
    let (bytes, sha256, pcm, frames) = long_wav(&store.recordings_dir().join(&file_name), minutes);
    let recording = Recording {
        id,
        story_id: story.id,
        file_name,
        format: "wav".into(),
        sample_rate: 16_000,
        channels: 1,
        frames,
        bytes,
        sha256,
        state: RecordingState::Complete,
        created_at: Timestamp::now(),
        pcm_sha256: None,
    };
    store.add_recording(&recording).unwrap();
    store.mark_ready(story.id).unwrap();
    (story.id, recording, pcm)
}

fn server_files(dir: &Path) -> usize {
    fn walk(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| {
                        let p = e.path();
                        if p.is_dir() { walk(&p) } else { 1 }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&dir.join("audio"))
}

#[test]
fn a_sync_killed_while_encoding_leaves_the_wav_and_the_next_one_delivers_each_file_once() {
    let root = tempfile::tempdir().unwrap();
    let srv = root.path().join("server");
    let phone = root.path().join("phone");
    ok(&srv, &["admin", "project", "create"]);
    let invite = invite(&srv, "reporter", &[]);
    let mut server = tellus(&srv)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = server_address(&mut server);
    ok(
        &phone,
        &[
            "enrol",
            "--server",
            &url,
            "--invite",
            invite["code"].as_str().unwrap(),
        ],
    );
    // 25 minutes: long enough that encoding its FLAC takes a while.
    let (story, recording, pcm) = story_with_long_recording(&phone, 25);
    let recordings = phone.join("recordings");
    let wav = recordings.join(&recording.file_name);
    let partial = recordings.join(format!("{}.flac.partial", recording.id));

    // Killed at a random point of the FLAC's writing: once the `.partial` holds a
    // random share of what the FLAC will roughly be.
    let share: f64 = rand::random_range(0.0..0.5);
    let threshold = (recording.bytes as f64 * 0.6 * share) as u64;
    let mut sync = tellus(&phone)
        .args(["sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(120), || partial.exists()),
        "the FLAC was never begun"
    );
    wait_until(Duration::from_secs(120), || {
        std::fs::metadata(&partial).map_or(true, |m| m.len() >= threshold)
    });
    kill(&mut sync);

    // The WAV is there, whole; or the FLAC got far enough to be verified and recorded.
    let store = Store::open(&phone).unwrap();
    let lossless = store
        .recording_file(
            recording.id,
            tellus_core::protocol::Representation::Lossless,
        )
        .unwrap();
    if lossless.is_none() {
        let digest = tellus_media::sha256_file(&wav).unwrap();
        assert_eq!(
            (digest.bytes, digest.sha256),
            (recording.bytes, recording.sha256.clone())
        );
    }
    // Opening again removed what the kill left half made.
    let left: Vec<String> = std::fs::read_dir(&recordings)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial") || n.ends_with(".preparing"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    drop(store);

    // Started again: the encoding is finished once and each file delivered once.
    let report: Value = serde_json::from_str(&ok(&phone, &["--json", "sync"])).unwrap();
    assert_eq!(report["parked"], serde_json::json!([]), "{report}");
    assert_eq!(report["failures"], serde_json::json!([]), "{report}");
    let delivered = report["delivered"].as_array().unwrap();
    assert_eq!(delivered.len(), 2, "{report}");
    let store = Store::open(&phone).unwrap();
    let lossless = store
        .recording_file(
            recording.id,
            tellus_core::protocol::Representation::Lossless,
        )
        .unwrap()
        .unwrap();
    assert_eq!(lossless.format, tellus_core::protocol::AudioFormat::Flac);
    assert_eq!(lossless.pcm_sha256.as_deref(), Some(pcm.as_str()));
    let flac = recordings.join(&lossless.file_name);
    assert_eq!(tellus_media::flac_identity(&flac).unwrap().pcm_sha256, pcm);
    assert!(
        !wav.exists(),
        "keep_wav is off: the WAV went after its FLAC was recorded"
    );
    let representations: Vec<&str> = delivered
        .iter()
        .map(|r| r["representation"].as_str().unwrap_or("lossless"))
        .collect();
    assert!(representations.contains(&"lossless") && representations.contains(&"listening"));
    assert!(matches!(
        store.delivery_state(story).unwrap(),
        tellus_core::sync::DeliveryState::Delivered { .. }
    ));
    // `tellus story show` lists the files: both copies delivered, the WAV gone.
    let shown: Value = serde_json::from_str(&ok(
        &phone,
        &["--json", "story", "show", &story.to_string()],
    ))
    .unwrap();
    let files: Vec<(String, String, bool, bool)> = shown["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["representation"]
                    .as_str()
                    .unwrap_or("recorded")
                    .to_string(),
                f["format"].as_str().unwrap().to_string(),
                f["on_device"].as_bool().unwrap(),
                f["delivered"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        files,
        vec![
            ("lossless".into(), "flac".into(), true, true),
            ("listening".into(), "opus".into(), true, true),
        ]
    );
    // Exactly two files on the server, nothing half uploaded, and nothing sent again.
    assert_eq!(server_files(&srv), 2);
    let again: Value = serde_json::from_str(&ok(&phone, &["--json", "sync"])).unwrap();
    assert_eq!(again["delivered"], serde_json::json!([]), "{again}");
    let db = tellus_server::App::open_db(&tellus_server::ServerConfig {
        data_dir: srv.clone(),
        ..tellus_server::ServerConfig::default()
    })
    .unwrap();
    let uploads: i64 = db
        .with(|c| Ok(c.query_row("SELECT COUNT(*) FROM uploads", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(uploads, 0, "no stray upload");
    kill(&mut server);
}
