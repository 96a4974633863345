//! Story documents as a phone sends them, and a reporter that delivers whole stories
//! (consent, document, audio over tus), checking every step's answer.

use std::ops::Deref;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tellus_server::Role;

use crate::enrol::Device;
use crate::fixtures::{audio, new_id, sha256_hex};
use crate::sample::PROJECT;
use crate::server::TestServer;
use crate::tus::checksum;

/// A story document with no recordings listed.
pub fn story_doc(id: &str, revision: u32, status: &str) -> Value {
    json!({
        "id": id,
        "revision": revision,
        "title": "Being heard at the housing office",
        "summary": "Repairs ignored for months",
        "status": status,
        "tags": ["housing"],
        "demographics": { "age_band": "35-44" },
        "storyteller": { "id": new_id(), "label": "Participant 1" },
        "notes": [
            { "id": new_id(), "kind": "marker", "text": "question 3", "at_ms": 270000, "question_id": "q3", "created_at": "2026-11-22T10:00:00Z" },
            { "id": new_id(), "kind": "note", "text": "Repairs ignored", "at_ms": 754000, "created_at": "2026-11-22T10:01:00Z" }
        ],
        "recordings": [],
        "created_at": "2026-11-22T10:00:00Z",
        "updated_at": "2026-11-22T10:05:00Z"
    })
}

impl Device {
    /// PUTs a `ready` [`story_doc`] at `revision`.
    pub async fn put_story(&self, story_id: &str, revision: u32) -> Response {
        self.req(Method::PUT, &format!("/api/v1/stories/{story_id}"))
            .json(&story_doc(story_id, revision, "ready"))
            .send()
            .await
            .unwrap()
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

    /// The story document at `revision`, listing `recordings` (ids in the order of
    /// `self.audio`).
    pub fn document(&self, story_id: &str, revision: u32, recordings: &[String]) -> Value {
        let notes: Vec<Value> = self
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
            .zip(&self.audio)
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
            "title": self.title,
            "summary": format!("Summary of {}", self.title),
            "status": "ready",
            "tags": self.tags,
            "demographics": { "age_band": "35-44" },
            "storyteller": { "id": new_id(), "label": "Participant 1" },
            "notes": notes,
            "recordings": recording_meta,
            "created_at": "2026-11-22T10:00:00Z",
            "updated_at": "2026-11-22T10:05:00Z"
        });
        if self.name.is_some() || self.contact.is_some() {
            doc["identity"] = json!({ "name": self.name, "contact": self.contact });
        }
        doc
    }
}

/// A delivered story: its id and its recordings' ids (in the order of `spec.audio`).
#[derive(Debug, Clone)]
pub struct Delivered {
    pub story_id: String,
    pub recordings: Vec<String>,
}

/// A reporter's device whose every step must succeed (the [`Device`] requests, with the
/// server's answers asserted). Its token and address are the device's.
#[derive(Clone)]
pub struct Reporter {
    pub device: Device,
}

impl Deref for Reporter {
    type Target = Device;

    fn deref(&self) -> &Device {
        &self.device
    }
}

impl TestServer {
    /// A reporter enrolled in the sample project.
    pub async fn reporter(&self) -> Reporter {
        Reporter {
            device: self.enrol(PROJECT, Role::Reporter).await,
        }
    }
}

impl Reporter {
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
        let r = self
            .req(Method::PUT, &format!("/api/v1/stories/{story_id}"))
            .json(&spec.document(story_id, revision, recordings))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    }

    pub async fn consent(&self, story_id: &str, kind: &str, granted: &[&str]) {
        let r = self.device.consent(story_id, kind, granted).await;
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
        let r = self
            .device
            .upload_copy(story_id, recording_id, data, content_type, more)
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
        assert_receipt(&r, data);
    }

    /// tus: create, then one PATCH with a sha256 checksum; the completing response
    /// carries the receipt's SHA-256.
    pub async fn upload(&self, story_id: &str, recording_id: &str, data: &[u8]) {
        let path = self.new_upload(story_id, recording_id, data).await;
        let r = self
            .patch(&path, 0, data, Some(checksum("sha256", data)))
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{:?}", r.text().await);
        assert_receipt(&r, data);
    }
}

/// The completing answer carries the receipt of exactly `data`.
fn assert_receipt(r: &Response, data: &[u8]) {
    assert_eq!(
        r.headers()["tellus-receipt-sha256"].to_str().unwrap(),
        sha256_hex(data)
    );
}
