//! A real tellus-server on 127.0.0.1:0 in this process, a real SQLite file in a temp
//! folder, and devices that talk real HTTP to it.
#![allow(dead_code)]

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tellus_server::{App, Db, Role, Running, ServerConfig, admin};

pub const PROJECT: &str = "coproduction-stories-2026";
pub const SAMPLE_PROJECT: &str = include_str!("../../../core/src/model/sample_project.json");

pub struct Server {
    pub base: String,
    pub config: ServerConfig,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    running: Running,
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        Server::start_in(dir, adjust).await
    }

    pub async fn start_in(
        dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> Server {
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("server"),
            ..ServerConfig::default()
        };
        adjust(&mut config);
        let db = App::open_db(&config).unwrap();
        let _ = admin::create_project(&db, SAMPLE_PROJECT);
        drop(db);
        let running = Running::start(config.clone()).await.unwrap();
        Server {
            base: running.url(),
            config,
            dir,
            http: reqwest::Client::new(),
            running,
        }
    }

    /// Stops serving (finishing requests in flight) and keeps the data folder.
    pub async fn stop(self) -> tempfile::TempDir {
        self.running.stop().await.unwrap();
        self.dir
    }

    pub fn db(&self) -> Db {
        App::open_db(&self.config).unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn invite(&self, project: &str, role: Role) -> String {
        admin::create_invite(&self.db(), project, role, 3600)
            .unwrap()
            .code
    }

    pub async fn enrol(&self, project: &str, role: Role) -> Device {
        let code = self.invite(project, role);
        let response = self
            .http
            .post(self.url("/api/v1/enrol"))
            .json(&json!({ "invite_code": code, "device_label": "test device" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        self.device(
            body["token"].as_str().unwrap(),
            body["reporter_id"].as_str().unwrap(),
        )
    }

    pub fn device(&self, token: &str, id: &str) -> Device {
        Device {
            token: token.to_string(),
            id: id.to_string(),
            base: self.base.clone(),
            http: self.http.clone(),
        }
    }

    pub fn admin(&self) -> Device {
        let t = admin::create_admin_token(&self.db(), "test operator").unwrap();
        self.device(&t.token, &t.id)
    }

    /// A second project, for "the lead of another project".
    pub fn other_project(&self) -> &'static str {
        let mut config: Value = serde_json::from_str(SAMPLE_PROJECT).unwrap();
        config["id"] = json!("other-project");
        let _ = admin::create_project(&self.db(), &config.to_string());
        "other-project"
    }

    pub fn spool_files(&self) -> usize {
        std::fs::read_dir(self.config.spool_dir()).unwrap().count()
    }

    /// The one upload's spool file.
    pub fn spool_file(&self) -> PathBuf {
        let mut files = std::fs::read_dir(self.config.spool_dir()).unwrap();
        let spool = files.next().unwrap().unwrap().path();
        assert!(files.next().is_none(), "one upload's spool file");
        spool
    }

    pub fn audio_path(&self, recording_id: &str) -> PathBuf {
        self.config.audio_dir().join(recording_id)
    }

    pub fn upload_rows(&self) -> i64 {
        self.db()
            .with(|c| Ok(c.query_row("SELECT COUNT(*) FROM uploads", [], |r| r.get(0))?))
            .unwrap()
    }
}

#[derive(Clone)]
pub struct Device {
    pub token: String,
    pub id: String,
    pub base: String,
    pub http: reqwest::Client,
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

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

pub fn consent_event(story_id: &str, kind: &str, granted: &[&str]) -> Value {
    json!({
        "id": new_id(),
        "story_id": story_id,
        "participant_id": new_id(),
        "kind": kind,
        "form_id": if kind == "given" { json!("storyteller-consent") } else { Value::Null },
        "form_version": if kind == "given" { json!(2) } else { Value::Null },
        "language": if kind == "given" { json!("en") } else { Value::Null },
        "granted": granted,
        "method": { "kind": "app_checkbox" },
        "captured_by": "reporter",
        "captured_at": "2026-11-22T10:00:00Z",
        "erase_audio": kind == "withdrawn"
    })
}

pub fn metadata(story_id: &str, recording_id: &str, sha256: &str) -> String {
    [
        ("story_id", story_id),
        ("recording_id", recording_id),
        ("sha256", sha256),
        ("content_type", "audio/wav"),
    ]
    .iter()
    .map(|(k, v)| format!("{k} {}", STANDARD.encode(v)))
    .collect::<Vec<_>>()
    .join(",")
}

/// `Upload-Metadata` of one copy of a recording (issue 20): its content type and any
/// more pairs (`representation`, `pcm_sha256`).
pub fn copy_metadata(
    story_id: &str,
    recording_id: &str,
    data: &[u8],
    content_type: &str,
    more: &[(&str, &str)],
) -> String {
    let sha256 = sha256_hex(data);
    [
        ("story_id", story_id),
        ("recording_id", recording_id),
        ("sha256", sha256.as_str()),
        ("content_type", content_type),
    ]
    .iter()
    .chain(more)
    .map(|(k, v)| format!("{k} {}", STANDARD.encode(v)))
    .collect::<Vec<_>>()
    .join(",")
}

pub fn checksum(algorithm: &str, data: &[u8]) -> String {
    let digest = match algorithm {
        "sha1" => {
            use sha1::Digest as _;
            sha1::Sha1::digest(data).to_vec()
        }
        _ => Sha256::digest(data).to_vec(),
    };
    format!("{algorithm} {}", STANDARD.encode(digest))
}

/// Deterministic test audio.
pub fn audio(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[3] ^ seed)
        .collect()
}

impl Device {
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
    }

    /// GET with this device's token.
    pub async fn get(&self, path: &str) -> Response {
        self.req(Method::GET, path).send().await.unwrap()
    }

    pub fn tus(&self, method: Method, path: &str) -> RequestBuilder {
        self.req(method, path).header("Tus-Resumable", "1.0.0")
    }

    pub async fn put_story(&self, story_id: &str, revision: u32) -> Response {
        self.req(Method::PUT, &format!("/api/v1/stories/{story_id}"))
            .json(&story_doc(story_id, revision, "ready"))
            .send()
            .await
            .unwrap()
    }

    pub async fn consent(&self, story_id: &str, kind: &str, granted: &[&str]) -> Response {
        self.post_consent(&consent_event(story_id, kind, granted))
            .await
    }

    /// POSTs a consent event (built with [`consent_event`] and changed as a test needs)
    /// to its story.
    pub async fn post_consent(&self, event: &Value) -> Response {
        let story_id = event["story_id"].as_str().unwrap_or_default();
        self.req(Method::POST, &format!("/api/v1/stories/{story_id}/consent"))
            .json(event)
            .send()
            .await
            .unwrap()
    }

    /// A story with `record` (and more) granted, ready to take audio.
    pub async fn consented_story(&self) -> String {
        let story = new_id();
        let r = self
            .consent(
                &story,
                "given",
                &["record", "research_use", "credit_by_name"],
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(self.put_story(&story, 1).await.status(), StatusCode::OK);
        story
    }

    pub async fn create_upload(&self, story_id: &str, recording_id: &str, data: &[u8]) -> Response {
        self.tus(Method::POST, "/api/v1/uploads")
            .header("Upload-Length", data.len().to_string())
            .header(
                "Upload-Metadata",
                metadata(story_id, recording_id, &sha256_hex(data)),
            )
            .send()
            .await
            .unwrap()
    }

    /// Creates an upload and returns its path.
    pub async fn new_upload(&self, story_id: &str, recording_id: &str, data: &[u8]) -> String {
        let r = self.create_upload(story_id, recording_id, data).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        location.trim_start_matches(&self.base).to_string()
    }

    /// A raw connection with a PATCH's head sent, announcing `length` body bytes from
    /// offset 0 (and the checksum, if any): for tests that send part of a body, stall or
    /// hang up, which an HTTP client does not let them do.
    pub async fn raw_patch(
        &self,
        path: &str,
        checksum: Option<String>,
        length: usize,
    ) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt;
        let addr = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let checksum = checksum
            .map(|c| format!("Upload-Checksum: {c}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "PATCH {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n\
             Upload-Offset: 0\r\n{checksum}Content-Length: {length}\r\n\r\n",
            self.token
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream
    }

    pub async fn patch(
        &self,
        path: &str,
        offset: u64,
        chunk: &[u8],
        checksum: Option<String>,
    ) -> Response {
        let mut req = self
            .tus(Method::PATCH, path)
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset.to_string());
        if let Some(c) = checksum {
            req = req.header("Upload-Checksum", c);
        }
        req.body(chunk.to_vec()).send().await.unwrap()
    }

    pub async fn offset(&self, path: &str) -> u64 {
        let r = self.tus(Method::HEAD, path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.headers()["upload-offset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Uploads `data` in chunks for a new recording of `story_id`; returns its id.
    pub async fn upload(&self, story_id: &str, data: &[u8], chunk: usize) -> String {
        let recording = new_id();
        let path = self.new_upload(story_id, &recording, data).await;
        let mut offset = 0;
        for piece in data.chunks(chunk.max(1)) {
            let r = self
                .patch(&path, offset, piece, Some(checksum("sha256", piece)))
                .await;
            assert_eq!(r.status(), StatusCode::NO_CONTENT, "{:?}", r.text().await);
            offset += piece.len() as u64;
        }
        recording
    }

    /// Uploads one copy of a recording whole, in the creation request
    /// (creation-with-upload); the server's answer.
    pub async fn upload_copy(
        &self,
        story_id: &str,
        recording_id: &str,
        data: &[u8],
        content_type: &str,
        more: &[(&str, &str)],
    ) -> Response {
        self.tus(Method::POST, "/api/v1/uploads")
            .header("Upload-Length", data.len().to_string())
            .header(
                "Upload-Metadata",
                copy_metadata(story_id, recording_id, data, content_type, more),
            )
            .header("Content-Type", "application/offset+octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// The receipt of one copy (`lossless` or `listening`).
    pub async fn receipt_of(&self, recording_id: &str, representation: &str) -> Response {
        self.get(&format!(
            "/api/v1/recordings/{recording_id}/receipt?representation={representation}"
        ))
        .await
    }

    pub async fn receipt(&self, recording_id: &str) -> Response {
        self.req(
            Method::GET,
            &format!("/api/v1/recordings/{recording_id}/receipt"),
        )
        .send()
        .await
        .unwrap()
    }

    pub async fn changes(&self, after: &str) -> Value {
        let r = self
            .req(Method::GET, &format!("/api/v1/changes?after={after}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }
}

/// Polls `condition` until it holds or `limit` passes; whether it held.
pub async fn wait_until<F, Fut>(limit: std::time::Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + limit;
    loop {
        if condition().await {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Real copies of one recording, made as the phone makes them (tellus-media): a
/// 16-bit WAV of generated speech-like sound, its FLAC and its Ogg Opus listening copy.
pub struct Copies {
    pub wav: Vec<u8>,
    pub flac: Vec<u8>,
    pub opus: Vec<u8>,
    /// The PCM identity of the WAV (and so of the FLAC).
    pub pcm_sha256: String,
}

impl Copies {
    /// `seconds` of mono audio at `rate`, different for every `seed`, and all three files.
    pub fn make(seconds: u32, rate: u32, seed: u32) -> Copies {
        let dir = tempfile::tempdir().unwrap();
        let mut copies = Copies::lossless_in(dir.path(), seconds, rate, seed);
        let opus = dir.path().join("r.opus");
        let wav = dir.path().join("r.wav");
        tellus_media::encode_opus(&wav, &opus, &tellus_media::OpusSettings::default()).unwrap();
        copies.opus = std::fs::read(&opus).unwrap();
        copies
    }

    /// Only the WAV and its FLAC (for tests that need no Opus).
    pub fn lossless(seconds: u32, rate: u32, seed: u32) -> Copies {
        let dir = tempfile::tempdir().unwrap();
        Copies::lossless_in(dir.path(), seconds, rate, seed)
    }

    fn lossless_in(dir: &std::path::Path, seconds: u32, rate: u32, seed: u32) -> Copies {
        let wav = dir.join("r.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(&wav, spec).unwrap();
        let mut noise = seed.wrapping_mul(2654435761) | 1;
        for n in 0..seconds * rate {
            let t = n as f32 / rate as f32;
            // A voice-like tone whose pitch and loudness wander, and a little noise.
            let pitch = 140.0 + 40.0 * (t * 0.7 + seed as f32).sin();
            let envelope = 0.5 + 0.5 * (t * 3.1).sin().abs();
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            let hiss = (noise % 2000) as f32 - 1000.0;
            let sample = 9000.0 * envelope * (std::f32::consts::TAU * pitch * t).sin() + hiss;
            writer.write_sample(sample as i16).unwrap();
        }
        writer.finalize().unwrap();
        let flac = dir.join("r.flac");
        let encoded = tellus_media::encode_flac(&wav, &flac).unwrap();
        Copies {
            wav: std::fs::read(&wav).unwrap(),
            flac: std::fs::read(&flac).unwrap(),
            opus: Vec::new(),
            pcm_sha256: encoded.identity.pcm_sha256,
        }
    }
}
