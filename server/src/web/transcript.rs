//! The transcript on the leads' story page (issue 22): beside each recording, its
//! segments, each a button that plays from its start and a field to correct it, saved
//! as a new revision (transcript.js, JSON to `/lead/recordings/{id}/transcript`); the
//! machine draft labelled as such until a person marked it reviewed; the storyteller's
//! open flags to accept or reject; and a search page whose results open the story with
//! the player at the moment (`#t=SECONDS&rec=ID`). Every read goes through the data
//! layer's transcript operations, which ask the visibility rule (data::transcripts).

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::format;
use super::pages::{self, PageError};
use super::session::{self, Lead};
use crate::App;
use crate::error::{Error, Result};
use crate::routes::parse_id;
use crate::transcripts::model::{Save, Source};
use crate::transcripts::routes as api;

pub const SCRIPT: &str = include_str!("assets/transcript.js");

/// A recording's transcript and its open flags, as the story page shows them.
pub use crate::data::transcripts::ShownTranscript as Shown;

/// The transcript card of recording `number` (1-based) of the story page.
pub fn section(recording_id: &str, number: usize, several: bool, shown: Option<&Shown>) -> Markup {
    let heading = format!("transcript-{recording_id}");
    html! {
        section.card.transcript #{ "card-" (heading) } aria-labelledby=(heading) {
            h2 #(heading) { "Transcript" @if several { " of recording " (number) } }
            @match shown {
                None => p.empty { "No transcript yet. A machine draft is made on the project's server after delivery, when the server runs a transcription engine." },
                Some(shown) => {
                    @let t = &shown.transcript;
                    @if t.reviewed {
                        p.transcript-state { "Reviewed by a person · revision " (t.revision) }
                    } @else if t.source == Source::Machine {
                        p.transcript-state.draft { strong { "Machine draft" } " — not yet checked by a person. Correct it below." }
                    } @else {
                        p.transcript-state.draft { strong { "Draft" } " — corrected in part (revision " (t.revision) "), not yet marked reviewed." }
                    }
                    @if !shown.flags.is_empty() {
                        div.flags role="region" aria-label="The storyteller's suggestions" {
                            h3 { "The storyteller suggests" }
                            ul {
                                @for f in &shown.flags {
                                    li.flag {
                                        span.at { (format::position(f.segment_start_ms)) }
                                        " “" (f.suggested) "”"
                                        form method="post" action={ "/lead/transcript-flags/" (f.id) } {
                                            button type="submit" name="decision" value="accept" { "Accept" }
                                            button type="submit" name="decision" value="reject" { "Reject" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    form.transcript-editor data-recording=(recording_id) data-revision=(t.revision)
                        aria-describedby={ "hint-" (heading) } {
                        p.hint #{ "hint-" (heading) } { "Choose a time to play from there; correct the text in place, then save. Tab moves between passages." }
                        ol.segments {
                            @for (i, s) in t.segments.iter().enumerate() {
                                li.segment data-start-ms=(s.start_ms) data-end-ms=(s.end_ms) {
                                    button.seek type="button" data-seek-ms=(s.start_ms) data-player={ "player-" (recording_id) }
                                        aria-label={ "Play from " (format::position_words(s.start_ms)) } {
                                        (format::position(s.start_ms))
                                    }
                                    @if let Some(speaker) = &s.speaker { span.speaker { (speaker) ": " } }
                                    textarea.segment-text rows="2" name={ "segment-" (i) }
                                        aria-label={ "Passage at " (format::position_words(s.start_ms)) } { (s.text) }
                                }
                            }
                        }
                        label.reviewed { input type="checkbox" name="reviewed" checked[t.reviewed]; " I went through the whole transcript" }
                        button.primary.save-transcript type="button" { "Save corrections" }
                        p.save-status role="status" aria-live="polite" {}
                    }
                    p.downloads {
                        a href={ "/lead/recordings/" (recording_id) "/transcript.vtt" } download { "WebVTT" }
                        " · "
                        a href={ "/lead/recordings/" (recording_id) "/transcript.srt" } download { "SRT" }
                    }
                }
            }
        }
    }
}

/// The transcript as JSON, for the page's script (and the visibility test).
pub async fn get_json(
    State(app): State<App>,
    lead: Lead,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = parse_id(&id, "recording")?;
    Ok(axum::Json(api::read(&app, &lead.project_id, &id).await?).into_response())
}

/// The transcript as a WebVTT download (the card's link).
pub async fn vtt(State(app): State<App>, lead: Lead, Path(id): Path<String>) -> Result<Response> {
    let id = parse_id(&id, "recording")?;
    Ok(api::download(
        &api::read(&app, &lead.project_id, &id).await?,
        "vtt",
    ))
}

/// The transcript as an SRT download (the card's link).
pub async fn srt(State(app): State<App>, lead: Lead, Path(id): Path<String>) -> Result<Response> {
    let id = parse_id(&id, "recording")?;
    Ok(api::download(
        &api::read(&app, &lead.project_id, &id).await?,
        "srt",
    ))
}

/// A save from the page: JSON only (a cross-site form cannot send it without the
/// browser asking first) and from this origin.
pub async fn save(
    State(app): State<App>,
    lead: Lead,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !session::same_origin(&headers) || !json {
        return Err(Error::forbidden(
            "a transcript is saved from the story page only",
        ));
    }
    let id = parse_id(&id, "recording")?;
    let save: Save = serde_json::from_slice(&body).map_err(|e| {
        Error::bad_request(
            "invalid_transcript",
            format!("the body is not a transcript save: {e}"),
        )
    })?;
    api::write(&app, &lead.project_id, &id, save, "web").await
}

#[derive(Deserialize)]
pub struct Decision {
    decision: String,
}

/// Accepting or rejecting a storyteller's flag, then back to the story.
pub async fn decide_flag(
    State(app): State<App>,
    lead: Lead,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<Decision>,
) -> Result<Response, PageError> {
    if !session::same_origin(&headers) {
        return Err(PageError(Error::forbidden(
            "this form was sent from another site; open the page again and retry",
        )));
    }
    let accept = match form.decision.as_str() {
        "accept" => true,
        "reject" => false,
        _ => {
            return Err(PageError(Error::bad_request(
                "invalid_decision",
                "accept or reject",
            )));
        }
    };
    let project_id = lead.project_id;
    let decided = app
        .data(move |d| d.decide_transcript_flag(&project_id, &id, accept, "web"))
        .await?;
    let mut response = Redirect::to(&format!(
        "/lead/stories/{}#card-transcript-{}",
        decided.story_id, decided.recording_id
    ))
    .into_response();
    *response.status_mut() = StatusCode::SEE_OTHER;
    Ok(response)
}

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// Search across the project's transcripts; each hit opens the story at its moment.
pub async fn search_page(
    State(app): State<App>,
    lead: Lead,
    Query(query): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let project_id = lead.project_id.clone();
    let typed = query.q.clone();
    let (settings, hits) = app
        .data(move |d| {
            Ok((
                d.project_settings(&project_id)?,
                d.titled_transcript_hits(&project_id, &typed, 50)?,
            ))
        })
        .await?;
    let project = super::query::Project::from_settings(&lead.project_id, settings);
    let content = html! {
        nav.crumbs aria-label="Breadcrumb" { a href="/lead" { "← All stories" } }
        h1 { "Search transcripts" }
        form.search role="search" method="get" action="/lead/transcripts" {
            label for="tq" { "Words said in a recording" }
            input #tq type="search" name="q" value=(query.q);
            button type="submit" { "Search" }
        }
        @if !query.q.trim().is_empty() {
            @if hits.is_empty() {
                p.empty { "No transcript holds those words." }
            } @else {
                ol.transcript-hits {
                    @for (title, hit) in &hits {
                        li {
                            a href={ "/lead/stories/" (hit.story_id) "#t=" (format!("{:.3}", hit.start_ms as f64 / 1000.0)) "&rec=" (hit.recording_id) } {
                                strong { (title) } " at " (format::position(hit.start_ms))
                            }
                            p.snippet { "“" (hit.text) "”" }
                        }
                    }
                }
            }
        }
    };
    Ok(pages::page("Search transcripts", &project.name, content))
}
