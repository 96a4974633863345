//! Issue 21 through the real `tellus` binary and a real `tellus serve`: consent given on
//! the phone in Spanish → the storyteller's receipt with their code and portal link →
//! sync → the storyteller withdraws on the portal with the code, asking for the audio to
//! be erased → the phone's next sync shows the story withdrawn by the storyteller, its
//! audio erased, and no receipt any more.

mod support;

use std::path::Path;
use std::process::Stdio;

use serde_json::Value;
use support::{invite, ok, server_address, tellus, wav};
use tellus_core::Store;
use tellus_core::model::{Recording, RecordingId, RecordingState, StoryId, Timestamp};

fn json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(dir, &all)).unwrap()
}

/// A storyteller's browser without script: the code form, then the withdrawal form,
/// each with its double-submit token, cookies carried by hand.
fn withdraw_on_the_portal(base: &str, code: &str) {
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut cookies: Vec<String> = Vec::new();
    let keep = |r: &reqwest::blocking::Response, cookies: &mut Vec<String>| {
        for v in r.headers().get_all("set-cookie") {
            let pair = v.to_str().unwrap().split(';').next().unwrap().to_string();
            let name = pair.split('=').next().unwrap().to_string();
            cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            cookies.push(pair);
        }
    };
    let hidden = |page: &str| {
        let marker = "name=\"csrf\" value=\"";
        let at = page.find(marker).expect("a form token") + marker.len();
        page[at..].split('"').next().unwrap().to_string()
    };
    let entry = http.get(format!("{base}/s?lang=es")).send().unwrap();
    keep(&entry, &mut cookies);
    let csrf = hidden(&entry.text().unwrap());
    let post = |path: &str, body: String, cookies: &Vec<String>| {
        http.post(format!("{base}{path}"))
            .header("cookie", cookies.join("; "))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .unwrap()
    };
    let opened = post("/s", format!("code={code}&csrf={csrf}&lang=es"), &cookies);
    assert_eq!(opened.status(), 303, "the code opens the story");
    keep(&opened, &mut cookies);
    let page = http
        .get(format!("{base}/s/story?lang=es"))
        .header("cookie", cookies.join("; "))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let csrf = hidden(&page);
    let done = post(
        "/s/withdraw",
        format!("csrf={csrf}&erase=yes&lang=es"),
        &cookies,
    );
    assert_eq!(done.status(), 303, "withdrawn");
}

#[test]
fn consent_receipt_sync_portal_withdrawal_and_the_phone_erases_its_audio() {
    let root = tempfile::tempdir().unwrap();
    let srv = root.path().join("server");
    let phone = root.path().join("phone");
    ok(&srv, &["admin", "project", "create"]);
    let reporter = invite(&srv, "reporter", &[]);
    let mut server = tellus(&srv)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = server_address(&mut server);
    let _stop = KillOnDrop(server);
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

    // Consent on the phone, in Spanish, and a recording.
    let story = json(
        &phone,
        &[
            "story",
            "new",
            "--title",
            "La parada",
            "--storyteller",
            "P3",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        &phone,
        &[
            "consent",
            "give",
            "--story",
            &story,
            "--language",
            "es",
            "--grant",
            "record,share_publicly",
            "--by",
            "Sam",
        ],
    );
    let audio = add_recording(&phone, &story);
    ok(&phone, &["story", "ready", &story]);

    // The receipt: the code, and the portal link the QR code holds.
    let receipt = json(&phone, &["consent", "receipt", "--story", &story]);
    let code = receipt["code"].as_str().unwrap().to_string();
    assert_eq!(receipt["portal_url"], format!("{base}/s#{code}"));
    assert!(receipt["html"].as_str().unwrap().contains("<svg"));
    assert!(
        receipt["text"]
            .as_str()
            .unwrap()
            .contains(&format!("Su código personal: {code}"))
    );

    ok(&phone, &["sync"]);
    assert!(audio.exists(), "delivered, still on the phone");

    withdraw_on_the_portal(&base, &code);

    let said = ok(&phone, &["sync"]);
    assert!(said.contains("1 consent change(s)"), "{said}");
    assert!(said.contains("1 local recording(s) deleted"), "{said}");
    let shown = json(&phone, &["story", "show", &story]);
    assert_eq!(shown["story"]["status"], "withdrawn", "{shown}");
    assert_eq!(shown["recordings"][0]["state"], "erased", "{shown}");
    assert!(!audio.exists(), "the audio is erased on the phone");
    let consent = json(&phone, &["consent", "show", "--story", &story]);
    let last = consent["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["method"]["kind"], "storyteller", "{last}");
    assert_eq!(last["erase_audio"], true);
    let human = ok(&phone, &["consent", "show", "--story", &story]);
    assert!(
        human.contains("by the storyteller with their code"),
        "{human}"
    );
    let no_receipt = tellus(&phone)
        .args(["consent", "receipt", "--story", &story])
        .output()
        .unwrap();
    assert!(!no_receipt.status.success());
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn add_recording(phone: &Path, story: &str) -> std::path::PathBuf {
    let store = Store::open(phone).unwrap();
    let story: StoryId = story.parse().unwrap();
    let data = wav(64 * 1024);
    let id = RecordingId::new();
    let file_name = format!("{id}.wav");
    std::fs::create_dir_all(store.recordings_dir()).unwrap();
    let path = store.recordings_dir().join(&file_name);
    std::fs::write(&path, &data).unwrap();
    let recording = Recording {
        id,
        story_id: story,
        file_name,
        format: "wav".into(),
        sample_rate: 48_000,
        channels: 1,
        frames: (data.len() as u64 - 44) / 2,
        bytes: data.len() as u64,
        sha256: sha256(&data),
        state: RecordingState::Complete,
        created_at: Timestamp::now(),
        pcm_sha256: None,
    };
    store.add_recording(&recording).unwrap();
    store.testing_wav_only(&recording).unwrap();
    path
}

fn sha256(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(data))
}
