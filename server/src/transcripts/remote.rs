//! Transcription workers on other machines (`tellus transcribe-worker --server URL
//! --token TOKEN`): the same queue over HTTP. A worker authenticates with an operator's
//! (admin) token, claims a job (the same lease as a local worker), fetches that job's
//! audio (only while it holds the claim and the story is visible: visibility.rs), and
//! posts the engine's WebVTT or the reason it failed. The claim is named after the
//! token's principal and the worker's own name, so a draft is kept only by its holder.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::vtt;
use crate::App;
use crate::auth::Principal;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::media::Disposition;
use crate::routes::lead::serve_audio;
use crate::routes::parse_id;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// The worker's own name (host and process), so two workers with one token differ.
    pub worker: String,
}

#[derive(Serialize, Deserialize)]
pub struct Claimed {
    pub recording_id: String,
    pub language: String,
    pub attempt: u32,
    /// The claim runs out this many milliseconds after it was made.
    pub lease_ms: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    pub worker: String,
    pub error: String,
}

fn claimant(who: &Principal, worker: &str) -> Result<String> {
    who.admin("run transcription jobs")?;
    let worker = worker.trim();
    if worker.is_empty()
        || worker.len() > 100
        || !worker
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
    {
        return Err(Error::bad_request(
            "invalid_worker",
            "worker must be a name of letters, digits and - _ . : (at most 100)",
        ));
    }
    Ok(format!("remote-{}-{worker}", who.id))
}

fn lease_ms(app: &App) -> i64 {
    let timeout = i64::try_from(app.config.transcribe.timeout_secs.max(1))
        .unwrap_or(i64::MAX / 4_000)
        .saturating_mul(1000);
    timeout + timeout.min(60_000)
}

/// `POST /transcribe/claim`: the oldest due job, or 204 when none is.
pub async fn claim(
    State(app): State<App>,
    who: Principal,
    Json(req): Json<ClaimRequest>,
) -> Result<Response> {
    let worker = claimant(&who, &req.worker)?;
    let lease = lease_ms(&app);
    let job = app
        .data(move |d| d.claim_transcript_job(&worker, now_ms(), lease))
        .await?;
    Ok(match job {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(job) => Json(Claimed {
            recording_id: job.recording_id,
            language: app.config.transcribe.language.clone(),
            attempt: job.attempt,
            lease_ms: lease,
        })
        .into_response(),
    })
}

/// The project of a job `worker` holds; 404 otherwise.
async fn held(app: &App, worker: String, recording_id: String) -> Result<String> {
    app.data(move |d| d.held_transcript_job(&worker, &recording_id))
        .await?
        .ok_or_else(|| Error::not_found("claimed job"))
}

fn worker_header(headers: &HeaderMap) -> String {
    headers
        .get("tellus-worker")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// `GET /transcribe/jobs/{id}/audio` (header `Tellus-Worker: NAME`): the claimed
/// recording's audio, as a lead's is served (visibility asked there too).
pub async fn audio(
    State(app): State<App>,
    who: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let worker = claimant(&who, &worker_header(&headers))?;
    let id = parse_id(&id, "recording")?;
    let project = held(&app, worker, id.clone()).await?;
    // The best copy delivered: a draft need not wait for the lossless copy that a phone
    // on mobile data holds back.
    let representation = crate::routes::lead::best_delivered(&app, &id)
        .await?
        .ok_or_else(|| Error::not_found("delivered recording"))?;
    serve_audio(
        &app,
        &project,
        &id,
        representation,
        &headers,
        Disposition::Attachment,
    )
    .await
}

#[derive(Serialize, Deserialize)]
pub struct Finished {
    /// Whether the draft was kept (not when the story was withdrawn meanwhile, or a
    /// person's transcript is already there, or the claim was lost).
    pub kept: bool,
}

/// `POST /transcribe/jobs/{id}/vtt` (header `Tellus-Worker: NAME`, body WebVTT).
pub async fn result(
    State(app): State<App>,
    who: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Result<Json<Finished>> {
    let worker = claimant(&who, &worker_header(&headers))?;
    let id = parse_id(&id, "recording")?;
    let language = app.config.transcribe.language.clone();
    let segments = match vtt::parse(&body) {
        Ok(segments) => segments,
        Err(e) => {
            let (w, rec) = (worker.clone(), id.clone());
            let retry = i64::try_from(app.config.transcribe.retry_secs).unwrap_or(60) * 1000;
            let reason = format!("the worker's output is not WebVTT: {}", e.0);
            app.data(move |d| d.fail_transcript_job(&w, &rec, &reason, now_ms(), retry))
                .await?;
            return Err(Error::refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_webvtt",
                format!("this is not WebVTT ({}); the job will be tried again", e.0),
            ));
        }
    };
    let kept = app
        .data(move |d| d.finish_transcript_job(&worker, &id, &language, &segments))
        .await?;
    Ok(Json(Finished { kept }))
}

/// `POST /transcribe/jobs/{id}/failed`: the engine failed; the job is tried again later.
pub async fn failed(
    State(app): State<App>,
    who: Principal,
    Path(id): Path<String>,
    Json(f): Json<Failure>,
) -> Result<StatusCode> {
    let worker = claimant(&who, &f.worker)?;
    let id = parse_id(&id, "recording")?;
    let retry = i64::try_from(app.config.transcribe.retry_secs).unwrap_or(60) * 1000;
    let error: String = f.error.chars().take(300).collect();
    app.data(move |d| d.fail_transcript_job(&worker, &id, &error, now_ms(), retry))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
