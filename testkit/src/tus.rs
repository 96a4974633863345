//! tus uploads as a phone makes them: `Upload-Metadata`, `Upload-Checksum`, creation,
//! PATCHes (whole, in pieces, or raw on a socket), offsets, receipts.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::enrol::Device;
use crate::fixtures::{new_id, sha256_hex};

/// `Upload-Metadata` of a recording's WAV.
pub fn metadata(story_id: &str, recording_id: &str, sha256: &str) -> String {
    encode_metadata(&[
        ("story_id", story_id),
        ("recording_id", recording_id),
        ("sha256", sha256),
        ("content_type", "audio/wav"),
    ])
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
    let mut pairs = vec![
        ("story_id", story_id),
        ("recording_id", recording_id),
        ("sha256", sha256.as_str()),
        ("content_type", content_type),
    ];
    pairs.extend_from_slice(more);
    encode_metadata(&pairs)
}

fn encode_metadata(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k} {}", STANDARD.encode(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// `Upload-Checksum` of `data` with `sha1` or (anything else) `sha256`.
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

impl Device {
    /// A tus request (`Tus-Resumable: 1.0.0`) with this device's token.
    pub fn tus(&self, method: Method, path: &str) -> RequestBuilder {
        self.req(method, path).header("Tus-Resumable", "1.0.0")
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

    /// The upload's offset (HEAD).
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
        self.get(&format!("/api/v1/recordings/{recording_id}/receipt"))
            .await
    }

    /// The changes feed after `after`, which must answer 200.
    pub async fn changes(&self, after: &str) -> Value {
        let r = self.get(&format!("/api/v1/changes?after={after}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }
}
