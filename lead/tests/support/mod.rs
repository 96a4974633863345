//! A real tellus-server on 127.0.0.1:0 in this process (real SQLite in a temp folder),
//! and a reporter that delivers stories to it over real HTTP: enrolment with an invite,
//! consent events, story documents, audio over tus. Shared by tellus-lead's tests and
//! the `tellus pull` tests of tellus-cli (included there by path).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tellus_server::{App, Role, Running, ServerConfig, admin};

pub const PROJECT: &str = "coproduction-stories-2026";
pub const SAMPLE_PROJECT: &str = include_str!("../../../core/src/model/sample_project.json");
/// The published OHMS 5.4 schema, copied from the shared fixtures.
pub const OHMS_XSD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/support/fixtures/ohms.xsd"
);

pub struct TestServer {
    pub base: String,
    pub config: ServerConfig,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    running: Running,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("server"),
            ..ServerConfig::default()
        };
        let db = App::open_db(&config).unwrap();
        admin::create_project(&db, SAMPLE_PROJECT).unwrap();
        drop(db);
        let running = Running::start(config.clone()).await.unwrap();
        TestServer {
            base: running.url(),
            config,
            dir,
            http: reqwest::Client::new(),
            running,
        }
    }

    pub async fn stop(self) {
        self.running.stop().await.unwrap();
    }

    /// Enrols a device with a fresh invite of `role`; returns its bearer token.
    pub async fn enrol(&self, role: Role) -> String {
        let db = App::open_db(&self.config).unwrap();
        let code = admin::create_invite(&db, PROJECT, role, 3600).unwrap().code;
        let response = self
            .http
            .post(format!("{}/api/v1/enrol", self.base))
            .json(&json!({ "invite_code": code, "device_label": "test device" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    pub async fn reporter(&self) -> Reporter {
        Reporter {
            token: self.enrol(Role::Reporter).await,
            base: self.base.clone(),
            http: self.http.clone(),
        }
    }

    pub async fn lead_token(&self) -> String {
        self.enrol(Role::Lead).await
    }

    /// Where the server keeps a delivered recording.
    pub fn audio_path(&self, recording_id: &str) -> PathBuf {
        self.config.audio_dir().join(recording_id)
    }
}

/// What a story is delivered with.
#[derive(Clone)]
pub struct StorySpec {
    pub title: String,
    pub granted: Vec<&'static str>,
    pub name: Option<String>,
    pub contact: Option<String>,
    pub tags: Vec<String>,
    /// (kind, text, at_ms, question id)
    pub notes: Vec<(&'static str, String, Option<u64>, Option<&'static str>)>,
    pub audio: Vec<Vec<u8>>,
}

impl StorySpec {
    pub fn new(title: &str, granted: &[&'static str]) -> Self {
        StorySpec {
            title: title.to_string(),
            granted: granted.to_vec(),
            name: None,
            contact: None,
            tags: vec!["housing".into(), "being-listened-to".into()],
            notes: vec![
                ("marker", String::new(), Some(270_000), Some("q3")),
                (
                    "note",
                    "Repairs ignored for months".into(),
                    Some(754_500),
                    None,
                ),
                ("note", "Follow up about the lunch club".into(), None, None),
            ],
            audio: vec![audio(40_000, 1)],
        }
    }

    pub fn audio(mut self, audio: Vec<Vec<u8>>) -> Self {
        self.audio = audio;
        self
    }

    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    pub fn contact(mut self, contact: &str) -> Self {
        self.contact = Some(contact.to_string());
        self
    }
}

/// A delivered story: its id and its recordings' ids (in the order of `spec.audio`).
#[derive(Debug, Clone)]
pub struct Delivered {
    pub story_id: String,
    pub recordings: Vec<String>,
}

#[derive(Clone)]
pub struct Reporter {
    pub token: String,
    pub base: String,
    pub http: reqwest::Client,
}

impl Reporter {
    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// Consent, then the story document, then each recording over tus, verified by the
    /// server's receipt.
    pub async fn deliver(&self, spec: &StorySpec) -> Delivered {
        let story_id = new_id();
        self.consent(&story_id, "given", &spec.granted).await;
        let recordings: Vec<String> = spec.audio.iter().map(|_| new_id()).collect();
        self.put_story(&story_id, 1, spec, &recordings).await;
        for (id, data) in recordings.iter().zip(&spec.audio) {
            self.upload(&story_id, id, data).await;
        }
        Delivered {
            story_id,
            recordings,
        }
    }

    pub async fn put_story(
        &self,
        story_id: &str,
        revision: u32,
        spec: &StorySpec,
        recordings: &[String],
    ) {
        let notes: Vec<Value> = spec
            .notes
            .iter()
            .map(|(kind, text, at, question)| {
                let mut note = json!({
                    "id": new_id(), "kind": kind, "text": text,
                    "created_at": "2026-11-22T10:00:00Z"
                });
                if let Some(at) = at {
                    note["at_ms"] = json!(at);
                }
                if let Some(q) = question {
                    note["question_id"] = json!(q);
                }
                note
            })
            .collect();
        let recording_meta: Vec<Value> = recordings
            .iter()
            .zip(&spec.audio)
            .map(|(id, data)| {
                json!({
                    "id": id, "format": "wav", "sample_rate": 48000, "channels": 1,
                    "frames": data.len() / 2, "bytes": data.len(), "sha256": sha256_hex(data),
                    "duration_ms": data.len() as u64 * 1000 / 96_000,
                    "created_at": "2026-11-22T10:00:00Z"
                })
            })
            .collect();
        let mut doc = json!({
            "id": story_id,
            "revision": revision,
            "title": spec.title,
            "summary": format!("Summary of {}", spec.title),
            "status": "ready",
            "tags": spec.tags,
            "demographics": { "age_band": "35-44" },
            "storyteller": { "id": new_id(), "label": "Participant 1" },
            "notes": notes,
            "recordings": recording_meta,
            "created_at": "2026-11-22T10:00:00Z",
            "updated_at": "2026-11-22T10:05:00Z"
        });
        if spec.name.is_some() || spec.contact.is_some() {
            doc["identity"] = json!({ "name": spec.name, "contact": spec.contact });
        }
        let r = self
            .req(Method::PUT, &format!("/api/v1/stories/{story_id}"))
            .json(&doc)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    }

    pub async fn consent(&self, story_id: &str, kind: &str, granted: &[&str]) {
        let given = kind == "given";
        let event = json!({
            "id": new_id(),
            "story_id": story_id,
            "participant_id": new_id(),
            "kind": kind,
            "form_id": if given { json!("storyteller-consent") } else { Value::Null },
            "form_version": if given { json!(2) } else { Value::Null },
            "language": if given { json!("en") } else { Value::Null },
            "granted": granted,
            "method": { "kind": "app_checkbox" },
            "captured_by": "reporter",
            "captured_at": "2026-11-22T10:00:00Z",
            "erase_audio": kind == "withdrawn"
        });
        let r = self
            .req(Method::POST, &format!("/api/v1/stories/{story_id}/consent"))
            .json(&event)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    }

    pub async fn withdraw(&self, story_id: &str) {
        self.consent(story_id, "withdrawn", &[]).await;
    }

    /// One copy of a recording (issue 20) in the creation request, as a phone after
    /// issue 20 sends it: `content_type` and more metadata (`representation`,
    /// `pcm_sha256`).
    pub async fn upload_copy(
        &self,
        story_id: &str,
        recording_id: &str,
        data: &[u8],
        content_type: &str,
        more: &[(&str, &str)],
    ) {
        let sha = sha256_hex(data);
        let metadata = [
            ("story_id", story_id),
            ("recording_id", recording_id),
            ("sha256", sha.as_str()),
            ("content_type", content_type),
        ]
        .iter()
        .chain(more)
        .map(|(k, v)| format!("{k} {}", STANDARD.encode(v)))
        .collect::<Vec<_>>()
        .join(",");
        let r = self
            .req(Method::POST, "/api/v1/uploads")
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", data.len().to_string())
            .header("Upload-Metadata", metadata)
            .header("Content-Type", "application/offset+octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
        assert_eq!(r.headers()["tellus-receipt-sha256"].to_str().unwrap(), sha);
    }

    /// tus: create, then one PATCH with a sha256 checksum; the completing response
    /// carries the receipt's SHA-256.
    pub async fn upload(&self, story_id: &str, recording_id: &str, data: &[u8]) {
        let sha = sha256_hex(data);
        let metadata = [
            ("story_id", story_id),
            ("recording_id", recording_id),
            ("sha256", sha.as_str()),
            ("content_type", "audio/wav"),
        ]
        .iter()
        .map(|(k, v)| format!("{k} {}", STANDARD.encode(v)))
        .collect::<Vec<_>>()
        .join(",");
        let r = self
            .req(Method::POST, "/api/v1/uploads")
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", data.len().to_string())
            .header("Upload-Metadata", metadata)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let path = location.trim_start_matches(&self.base).to_string();
        let r = self
            .req(Method::PATCH, &path)
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", "0")
            .header(
                "Upload-Checksum",
                format!("sha256 {}", STANDARD.encode(Sha256::digest(data))),
            )
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{:?}", r.text().await);
        assert_eq!(r.headers()["tellus-receipt-sha256"].to_str().unwrap(), sha);
    }
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Deterministic test audio (not a WAV header; the server and the pull treat audio as
/// bytes).
pub fn audio(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[3] ^ seed)
        .collect()
}

/// Every file under `dir` (relative, `/`-separated), sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, rel)) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if entry.file_type().unwrap().is_dir() {
                pending.push((entry.path(), child));
            } else {
                found.push(child);
            }
        }
    }
    found.sort();
    found
}

/// `sha256sum -c SHA256SUMS` in the pulled folder: coreutils' independent check of
/// every file the manifest lists. Ok, or what sha256sum said.
pub fn sha256sum_check(dir: &Path) -> Result<(), String> {
    let out = std::process::Command::new("sha256sum")
        .args(["--check", "--quiet", "--strict", "SHA256SUMS"])
        .current_dir(dir)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `xmllint --noout --schema ohms.xsd FILE`: Ok, or xmllint's complaint.
pub fn xmllint_ohms(file: &Path) -> Result<(), String> {
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema", OHMS_XSD])
        .arg(file)
        .output()
        .expect("xmllint (Debian libxml2-utils, installed by scripts/setup.sh)");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
