//! The storyteller's transcript on the portal (issue 22): the text of their own
//! recording, passage by passage, each with a form to suggest what they actually said.
//! A suggestion is a flag the project's leads accept or reject on the story page
//! (transcripts::flags). Only while their consent grants `record`, as their audio; the
//! forms carry the session's CSRF token like the portal's others. The page's words are
//! in English only for now (portal/words.rs holds the other pages' translations).

use std::collections::HashMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;

use super::pages::{layout, respond};
use super::session::{Opened, Session};
use super::words::{choose, words};
use super::{PageQuery, accept_language, failed, see_other, story_form};
use crate::App;
use crate::error::Error;
use crate::routes::parse_id;
use crate::web::format_position;

pub async fn page(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let w = words(choose(q.lang.as_deref(), accept_language(&headers), None));
    let Some((
        _,
        Session {
            opened:
                Opened::Story {
                    project_id,
                    story_id,
                },
            csrf,
            ..
        },
    )) = (match super::session::find(&app, &headers).await {
        Ok(found) => found,
        Err(e) => return failed(w, &e),
    })
    else {
        return see_other(format!("/s?lang={}&done=expired", w.lang));
    };
    let Ok(id) = parse_id(&id, "recording") else {
        return see_other("/s/story".into());
    };
    let key = id.clone();
    let loaded = app
        .data(move |d| d.storyteller_transcript(&project_id, &story_id, &key))
        .await;
    let t = match loaded {
        Ok(t) => t,
        Err(e) => return failed(w, &e),
    };
    let flagged = q.done.as_deref() == Some("flagged");
    let content = html! {
        p { a href={ "/s/story?lang=" (w.lang) } { "← " (w.title) } }
        h1 { (w.transcript_heading) }
        @if flagged {
            p.notice role="status" { (w.transcript_thanks) }
        }
        p { (w.transcript_lede) }
        @if !t.reviewed { p { (w.transcript_machine) } }
        ol.passages {
            @for s in &t.segments {
                li {
                    p { strong { (format_position(s.start_ms)) } " " (s.text) }
                    form method="post" action="/s/flag" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="lang" value=(w.lang);
                        input type="hidden" name="recording" value=(id);
                        input type="hidden" name="start_ms" value=(s.start_ms);
                        label { (w.transcript_said) br; textarea name="suggested" rows="2" {} }
                        button type="submit" { (w.transcript_suggest) }
                    }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        layout(w, &format!("/s/transcript/{id}"), false, content),
    )
}

/// A suggestion sent from the page above.
pub async fn flag(
    State(app): State<App>,
    headers: HeaderMap,
    Form(fields): Form<HashMap<String, String>>,
) -> Response {
    let (w, project_id, story_id) = match story_form(&app, &headers, &fields).await {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let Ok(recording) = parse_id(
        fields
            .get("recording")
            .map(String::as_str)
            .unwrap_or_default(),
        "recording",
    ) else {
        return failed(w, &Error::bad_request("invalid_id", "no recording"));
    };
    let Some(start_ms) = fields.get("start_ms").and_then(|v| v.parse::<u64>().ok()) else {
        return failed(w, &Error::bad_request("invalid_segment", "no passage"));
    };
    let suggested = fields.get("suggested").cloned().unwrap_or_default();
    let key = recording.clone();
    let filed = app
        .data(move |d| {
            d.suggest_transcript_flag(&project_id, &story_id, &key, start_ms, &suggested)
        })
        .await;
    match filed {
        Ok(_) => {
            tracing::info!("a storyteller flagged a passage of their transcript");
            see_other(format!(
                "/s/transcript/{recording}?lang={}&done=flagged",
                w.lang
            ))
        }
        Err(e) => failed(w, &e),
    }
}
