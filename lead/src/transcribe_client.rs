//! The HTTP side of a transcription worker on another machine (`tellus
//! transcribe-worker --server URL --token TOKEN`, server/src/transcripts/remote.rs):
//! claim a job, fetch its audio into a file, post the engine's WebVTT or why it failed.
//! The same trust decision as every Tellus client (tellus-net); an operator's token.

use std::io::Write;
use std::path::Path;

use tellus_net::CertificatePin;
use tellus_net::http::{bytes_body, http, next_piece};
use tellus_net::{HttpClient, NetError};
use tellus_protocol::API_PREFIX;

use crate::client::{
    READ_TIMEOUT, body_bytes, http_client, normalise_server, refuse_unless_ok, send,
};
use crate::{Error, Result};

/// A job this worker holds.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ClaimedJob {
    pub recording_id: String,
    pub language: String,
    pub attempt: u32,
    pub lease_ms: i64,
}

pub struct WorkerClient {
    http: HttpClient,
    api: String,
    token: String,
    worker: String,
}

impl WorkerClient {
    /// `worker`: this worker's name (letters, digits, `-_.:`), unique per process.
    pub fn new(
        server: &str,
        token: &str,
        worker: &str,
        pin: Option<CertificatePin>,
    ) -> Result<Self> {
        let base = normalise_server(server)?;
        if token.trim().is_empty() {
            return Err(Error::InvalidInput(
                "the token is empty; use an operator token (`tellus admin token`)".into(),
            ));
        }
        Ok(WorkerClient {
            http: http_client(pin)?,
            api: format!("{base}{API_PREFIX}"),
            token: token.trim().to_string(),
            worker: worker.to_string(),
        })
    }

    fn request(&self, method: http::Method, path: &str) -> http::request::Builder {
        http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.api))
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .header("tellus-worker", &self.worker)
    }

    /// The oldest due job, or None.
    pub async fn claim(&self) -> Result<Option<ClaimedJob>> {
        let what = "a transcription job";
        let body = serde_json::to_vec(&serde_json::json!({ "worker": self.worker }))
            .map_err(|e| Error::Protocol(format!("cannot encode the claim: {e}")))?;
        let request = self
            .request(http::Method::POST, "/transcribe/claim")
            .header(http::header::CONTENT_TYPE, "application/json");
        let response = send(&self.http, what, request, bytes_body(body)).await?;
        if response.status() == http::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let response = refuse_unless_ok(what, response).await?;
        serde_json::from_slice(&body_bytes(what, response).await?)
            .map(Some)
            .map_err(|e| Error::Protocol(format!("{what}: {e}")))
    }

    /// The claimed job's audio, written to `path` as it arrives.
    pub async fn audio_to(&self, recording_id: &str, path: &Path) -> Result<()> {
        let what = format!("the audio of job {recording_id}");
        let request = self.request(
            http::Method::GET,
            &format!("/transcribe/jobs/{recording_id}/audio"),
        );
        let response = send(&self.http, &what, request, tellus_net::http::empty_body()).await?;
        let response = refuse_unless_ok(&what, response).await?;
        let mut body = response.into_body();
        let mut file = std::fs::File::create(path).map_err(|e| Error::io_at("create", path, e))?;
        loop {
            let piece = tokio::time::timeout(READ_TIMEOUT, next_piece(&mut body))
                .await
                .map_err(|_| {
                    Error::net(
                        &what,
                        NetError::Network("the audio stopped arriving".into()),
                    )
                })?;
            let Some(piece) = piece else { break };
            let piece = piece.map_err(|e| Error::net(&what, e))?;
            file.write_all(&piece)
                .map_err(|e| Error::io_at("write", path, e))?;
        }
        file.sync_all().map_err(|e| Error::io_at("write", path, e))
    }

    /// Posts the engine's WebVTT; whether the server kept the draft.
    pub async fn finish(&self, recording_id: &str, vtt: &str) -> Result<bool> {
        let what = format!("the transcript of job {recording_id}");
        let request = self
            .request(
                http::Method::POST,
                &format!("/transcribe/jobs/{recording_id}/vtt"),
            )
            .header(http::header::CONTENT_TYPE, "text/vtt; charset=utf-8");
        let response = send(
            &self.http,
            &what,
            request,
            bytes_body(vtt.as_bytes().to_vec()),
        )
        .await?;
        let response = refuse_unless_ok(&what, response).await?;
        let answer: serde_json::Value = serde_json::from_slice(&body_bytes(&what, response).await?)
            .map_err(|e| Error::Protocol(format!("{what}: {e}")))?;
        Ok(answer["kept"].as_bool().unwrap_or(false))
    }

    /// Tells the server the engine failed (no words of the audio in `error`).
    pub async fn fail(&self, recording_id: &str, error: &str) -> Result<()> {
        let what = format!("the failure of job {recording_id}");
        let body =
            serde_json::to_vec(&serde_json::json!({ "worker": self.worker, "error": error }))
                .map_err(|e| Error::Protocol(format!("cannot encode the failure: {e}")))?;
        let request = self
            .request(
                http::Method::POST,
                &format!("/transcribe/jobs/{recording_id}/failed"),
            )
            .header(http::header::CONTENT_TYPE, "application/json");
        let response = send(&self.http, &what, request, bytes_body(body)).await?;
        refuse_unless_ok(&what, response).await?;
        Ok(())
    }
}
