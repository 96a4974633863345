//! Helpers the `tellus` binary's integration tests share. Each test binary uses only
//! some of them.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::path::PathBuf;
use std::process::{Child, Command};

use sha2::{Digest, Sha256};
use tellus_core::Store;
use tellus_core::model::{
    ConsentDraft, NewStory, Recording, RecordingId, RecordingState, Timestamp, items,
};

/// The real `tellus` binary on a data folder, with no settings from the environment.
pub fn tellus(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tellus"));
    cmd.arg("--data-dir")
        .arg(dir)
        .env_remove("TELLUS_DATA_DIR")
        .env_remove("TELLUS_LISTEN");
    cmd
}

/// Runs `tellus ARGS` on `dir`, which must succeed; returns its stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = tellus(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tellus {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The `http(s)://…` address a `tellus serve` started with a piped stdout prints once
/// it listens; the read waits for that line.
pub fn server_address(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.split_whitespace()
        .find(|w| w.starts_with("http://") || w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string()
}

pub fn wav(bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes);
    let data_len = (bytes - 44) as u32;
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&[16, 0, 0, 0, 1, 0, 1, 0]);
    out.extend_from_slice(&48_000u32.to_le_bytes());
    out.extend_from_slice(&96_000u32.to_le_bytes());
    out.extend_from_slice(&[2, 0, 16, 0]);
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    while out.len() < bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let take = (bytes - out.len()).min(8);
        out.extend_from_slice(&x.to_le_bytes()[..take]);
    }
    out
}

/// A ready story with consent and one recording in the phone's data folder.
pub fn story_with_recording(phone: &Path, bytes: usize) -> (PathBuf, Recording) {
    let store = Store::open(phone).unwrap();
    let story = store
        .create_story(&NewStory {
            title: "Waiting for the bus that never came".into(),
            summary: String::new(),
            storyteller_label: "Participant 7".into(),
        })
        .unwrap();
    let project = store.project().unwrap();
    let form = project.current_forms()[0];
    let mut draft = ConsentDraft::give(&form.id, form.version, "en", &[items::RECORD]);
    draft.captured_by = "reporter".into();
    store.record_consent(story.id, &draft).unwrap();
    let data = wav(bytes);
    let id = RecordingId::new();
    let file_name = format!("{id}.wav");
    std::fs::create_dir_all(store.recordings_dir()).unwrap();
    let path = store.recordings_dir().join(&file_name);
    std::fs::write(&path, &data).unwrap();
    let recording = Recording {
        id,
        story_id: story.id,
        file_name,
        format: "wav".into(),
        sample_rate: 48_000,
        channels: 1,
        frames: (bytes as u64 - 44) / 2,
        bytes: bytes as u64,
        sha256: hex::encode(Sha256::digest(&data)),
        state: RecordingState::Complete,
        created_at: Timestamp::now(),
        pcm_sha256: None,
    };
    store.add_recording(&recording).unwrap();
    // These tests send exactly this WAV (data saver's copies have tests of their own).
    store.testing_wav_only(&recording).unwrap();
    store.mark_ready(story.id).unwrap();
    (path, recording)
}

/// `tellus admin invite` for the sample project on the server data folder `dir`, with any
/// `extra` arguments (`--server URL`, `--pin-cert FILE`); its JSON (`code`, `link`, ...).
pub fn invite(dir: &Path, role: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "--json",
        "admin",
        "invite",
        "--project",
        "coproduction-stories-2026",
        "--role",
        role,
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(dir, &args)).unwrap()
}

/// Polls `condition` until it holds or `limit` passes; whether it held.
pub fn wait_until(limit: std::time::Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    condition()
}
