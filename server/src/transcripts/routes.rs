//! A lead's transcript routes (under /api/v1, bearer token): read and save a
//! recording's transcript, export it as WebVTT or SRT, and search every transcript of
//! the project. Each data-layer operation asks the visibility rule first
//! (data::transcripts), so a withdrawn or unconsented story's words never come back.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::model::{Save, Saved, Transcript};
use super::search::Hit;
use super::vtt;
use crate::App;
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::media::{Disposition, content_disposition};
use crate::routes::parse_id;

/// The recording's transcript as a lead of `project_id` may see it.
pub async fn read(app: &App, project_id: &str, recording_id: &str) -> Result<Transcript> {
    let (project, recording) = (project_id.to_string(), recording_id.to_string());
    app.data(move |d| d.lead_transcript(&project, &recording))
        .await
}

/// A save by `by` (a lead's principal id): 200 with the new revision, or 409 with the
/// current transcript when someone else changed the same segments first.
pub async fn write(
    app: &App,
    project_id: &str,
    recording_id: &str,
    save: Save,
    by: &str,
) -> Result<Response> {
    let (project, recording, by) = (
        project_id.to_string(),
        recording_id.to_string(),
        by.to_string(),
    );
    let saved = app
        .data(move |d| d.save_lead_transcript(&project, &recording, &save, &by))
        .await?;
    Ok(match saved {
        Saved::Saved(t) => (StatusCode::OK, Json(t)).into_response(),
        Saved::Conflict(current) => conflict(current),
    })
}

#[derive(Serialize)]
struct Stale {
    code: &'static str,
    message: &'static str,
    current: Transcript,
}

fn conflict(current: Transcript) -> Response {
    (
        StatusCode::CONFLICT,
        Json(Stale {
            code: "stale_revision",
            message: "someone saved this transcript meanwhile and changed the same segments; nothing of yours was kept: here is the current text, edit it again",
            current,
        }),
    )
        .into_response()
}

pub async fn hits(app: &App, project_id: &str, typed: &str) -> Result<Vec<Hit>> {
    let (project, typed) = (project_id.to_string(), typed.to_string());
    app.data(move |d| d.search_transcripts(&project, &typed, 50))
        .await
}

/// A file download of the transcript in `format` ("vtt" or "srt").
pub fn download(t: &Transcript, format: &str) -> Response {
    let (body, content_type) = if format == "srt" {
        (
            vtt::write_srt(&t.segments),
            "application/x-subrip; charset=utf-8",
        )
    } else {
        (vtt::write_vtt(&t.segments), "text/vtt; charset=utf-8")
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                content_disposition(
                    Disposition::Attachment,
                    &format!("transcript-{}", t.recording_id),
                    format,
                ),
            ),
        ],
        body,
    )
        .into_response()
}

pub async fn get_transcript(
    State(app): State<App>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Transcript>> {
    let project_id = who.lead("read transcripts")?.to_string();
    let id = parse_id(&id, "recording")?;
    Ok(Json(read(&app, &project_id, &id).await?))
}

pub async fn put_transcript(
    State(app): State<App>,
    who: Principal,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response> {
    let project_id = who.lead("correct transcripts")?.to_string();
    let id = parse_id(&id, "recording")?;
    let save: Save = serde_json::from_slice(&body).map_err(|e| {
        Error::bad_request(
            "invalid_transcript",
            format!("the body is not a transcript save: {e}"),
        )
    })?;
    write(&app, &project_id, &id, save, &who.id).await
}

pub async fn get_vtt(
    State(app): State<App>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response> {
    let project_id = who.lead("export transcripts")?.to_string();
    let id = parse_id(&id, "recording")?;
    Ok(download(&read(&app, &project_id, &id).await?, "vtt"))
}

pub async fn get_srt(
    State(app): State<App>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response> {
    let project_id = who.lead("export transcripts")?.to_string();
    let id = parse_id(&id, "recording")?;
    Ok(download(&read(&app, &project_id, &id).await?, "srt"))
}

#[derive(Serialize)]
pub struct SearchResults {
    pub hits: Vec<Hit>,
}

pub async fn search_transcripts(
    State(app): State<App>,
    who: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<SearchResults>> {
    let project_id = who.lead("search transcripts")?.to_string();
    let typed = query.get("q").map(String::as_str).unwrap_or_default();
    Ok(Json(SearchResults {
        hits: hits(&app, &project_id, typed).await?,
    }))
}
