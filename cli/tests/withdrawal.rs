//! A storyteller's withdrawal on the phone, through the real `tellus` binary and a real
//! `tellus serve` (issue 15): the story reads `withdrawn` everywhere with its audio
//! marked erased, nothing more is recorded, noted or made ready until consent is given
//! again, and the consent given again starts clean: the lead never hears of the erased
//! audio.

mod support;

use std::path::Path;
use std::process::{Child, Stdio};

use serde_json::Value;
use support::{invite, ok, server_address, story_with_recording, tellus, wav};

struct Setup {
    _root: tempfile::TempDir,
    phone: std::path::PathBuf,
    server: Child,
    base: String,
    lead_token: String,
    story: String,
    recording: String,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(dir, &all)).unwrap()
}

/// `tellus ARGS`, which must fail with one line on stderr; returns that line.
fn fails(dir: &Path, args: &[&str]) -> String {
    let out = tellus(dir).args(args).output().unwrap();
    assert!(!out.status.success(), "tellus {args:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err
}

/// A server, a phone enrolled on it with a ready story of one recording, delivered.
fn delivered_story() -> Setup {
    let root = tempfile::tempdir().unwrap();
    let srv = root.path().join("server");
    let phone = root.path().join("phone");
    ok(&srv, &["admin", "project", "create"]);
    let reporter = invite(&srv, "reporter", &[]);
    let lead = invite(&srv, "lead", &[]);
    let mut server = tellus(&srv)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = server_address(&mut server);
    ok(
        &phone,
        &[
            "enrol",
            "--server",
            &base,
            "--invite",
            reporter["code"].as_str().unwrap(),
        ],
    );
    let (_, recording) = story_with_recording(&phone, 64 * 1024);
    ok(&phone, &["sync"]);
    let enrolled: Value = reqwest::blocking::Client::new()
        .post(format!("{base}/api/v1/enrol"))
        .json(&serde_json::json!({
            "invite_code": lead["code"], "device_label": "lead", "role": "lead"
        }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    Setup {
        _root: root,
        phone,
        server,
        base,
        lead_token: enrolled["token"].as_str().unwrap().to_string(),
        story: recording.story_id.to_string(),
        recording: recording.id.to_string(),
    }
}

impl Setup {
    fn lead_get(&self, path: &str) -> reqwest::blocking::Response {
        reqwest::blocking::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.lead_token)
            .send()
            .unwrap()
    }
}

#[test]
fn a_withdrawn_story_reads_withdrawn_everywhere_with_its_audio_erased() {
    let s = delivered_story();
    let phone = &s.phone;
    ok(
        phone,
        &["consent", "withdraw", "--story", &s.story, "--erase-audio"],
    );
    ok(phone, &["sync"]);

    let list = json(phone, &["story", "list"]);
    assert_eq!(list[0]["id"], s.story.as_str());
    assert_eq!(list[0]["status"], "withdrawn", "{list}");
    assert_eq!(list[0]["recording_count"], 0, "{list}");
    let shown = json(phone, &["story", "show", &s.story]);
    assert_eq!(shown["story"]["status"], "withdrawn");
    let recordings = shown["recordings"].as_array().unwrap();
    assert_eq!(recordings.len(), 1);
    assert_eq!(recordings[0]["id"], s.recording.as_str());
    assert_eq!(recordings[0]["state"], "erased", "{shown}");
    let human = ok(phone, &["story", "show", &s.story]);
    assert!(
        human.contains("erased") && !human.contains("complete"),
        "{human}"
    );
    let delivery = json(phone, &["sync", "status"]);
    assert_eq!(delivery[0]["delivery"]["state"], "withdrawn", "{delivery}");
    // And the server keeps a tombstone only.
    assert_eq!(
        s.lead_get(&format!("/api/v1/stories/{}", s.story))
            .status()
            .as_u16(),
        410
    );
}

#[test]
fn nothing_is_added_to_a_withdrawn_story_until_consent_is_given_again_and_then_it_starts_clean() {
    let s = delivered_story();
    let phone = &s.phone;
    ok(
        phone,
        &["consent", "withdraw", "--story", &s.story, "--erase-audio"],
    );
    ok(phone, &["sync"]);

    let clip = phone.join("clip.wav");
    std::fs::write(&clip, wav(2 * 96_000 + 44)).unwrap();
    let clip = clip.to_str().unwrap();
    for args in [
        vec!["record", "--story", &s.story, "--from-file", clip],
        vec!["note", "add", "--story", &s.story, "a note"],
        vec!["story", "ready", &s.story],
    ] {
        let line = fails(phone, &args);
        assert!(line.contains("withdrew consent"), "{args:?}: {line}");
    }
    let shown = json(phone, &["story", "show", &s.story]);
    assert_eq!(shown["recordings"].as_array().unwrap().len(), 1);
    assert_eq!(shown["notes"].as_array().unwrap().len(), 0);

    // Consent given again: a draft that takes a new recording and is made ready anew.
    ok(
        phone,
        &["consent", "give", "--story", &s.story, "--grant", "record"],
    );
    let shown = json(phone, &["story", "show", &s.story]);
    assert_eq!(shown["story"]["status"], "draft", "{shown}");
    let recorded = ok(
        phone,
        &[
            "--json",
            "record",
            "--story",
            &s.story,
            "--from-file",
            clip,
            "--for",
            "1s",
        ],
    );
    let started: Value = serde_json::from_str(recorded.lines().next().unwrap()).unwrap();
    let new_recording = started["recording_id"].as_str().unwrap().to_string();
    ok(phone, &["story", "ready", &s.story]);
    ok(phone, &["sync"]);

    let doc: Value = s
        .lead_get(&format!("/api/v1/stories/{}", s.story))
        .json()
        .unwrap();
    let listed = doc["recordings"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{doc}");
    assert_ne!(listed[0]["id"], s.recording.as_str(), "{doc}");
    assert_eq!(listed[0]["id"], new_recording.as_str(), "{doc}");
    assert_eq!(listed[0]["delivered"], true, "{doc}");
    // The lead's page does not announce the erased recording as on its way.
    let page = reqwest::blocking::Client::new()
        .get(format!("{}/lead/stories/{}", s.base, s.story))
        .header("cookie", format!("tellus_lead={}", s.lead_token))
        .send()
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let page = page.text().unwrap();
    assert!(page.contains(&new_recording), "{page}");
    assert!(!page.contains("not delivered yet"), "{page}");
}
