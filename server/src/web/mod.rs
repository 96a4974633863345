//! The leads' web page under `/lead` (DESIGN.md §5): server-rendered HTML, one small
//! stylesheet and a few lines of plain JavaScript for seek-on-click; no build step.
//! Signed in with a lead token kept in an HttpOnly, SameSite=Strict cookie; every
//! change of state is a POST. It reads through the same rules as the JSON API: a
//! lead sees only its project, identity only as consent allows, and withdrawn stories
//! only as tombstones.

mod format;
pub(crate) use format::position as format_position;
pub(crate) mod links;
mod pages;
mod query;
pub(crate) mod session;
mod transcript;

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::App;
use crate::auth::lookup_token;
use crate::data::web::LeadStory;
use crate::error::Error;
use crate::https::Https;
use crate::media::{Disposition, content_disposition};
use crate::routes::lead::{CSV_HEADER, parse_representation, parse_scope, serve_audio};
use crate::routes::parse_id;
use crate::throttle::{Attempt, ClientAddr};
use pages::PageError;
use session::Lead;

const STYLE: &str = include_str!("assets/style.css");
const PLAYER: &str = include_str!("assets/player.js");

/// No inline script or style anywhere, so the policy can forbid them. `connect-src
/// 'self'`: the transcript editor saves with fetch (web/transcript.rs).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
     media-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/lead") }))
        .route("/lead", get(list))
        .route("/lead/", get(|| async { Redirect::to("/lead") }))
        .route("/lead/sign-in", get(sign_in_form).post(sign_in))
        .route("/lead/sign-out", post(sign_out))
        .route("/lead/link/{secret}", get(link_form).post(link_sign_in))
        .route("/lead/stories/{id}", get(story))
        .route("/lead/stories/{id}/story.json", get(story_json))
        .route("/lead/stories/{id}/story.csv", get(story_csv))
        .route("/lead/recordings/{id}/audio", get(audio))
        .route("/lead/export.csv", get(export_csv))
        .route(
            "/lead/recordings/{id}/transcript",
            get(transcript::get_json).post(transcript::save),
        )
        .route("/lead/recordings/{id}/transcript.vtt", get(transcript::vtt))
        .route("/lead/recordings/{id}/transcript.srt", get(transcript::srt))
        .route("/lead/transcripts", get(transcript::search_page))
        .route("/lead/transcript-flags/{id}", post(transcript::decide_flag))
        .route(
            "/lead/assets/transcript.js",
            get(|| asset(transcript::SCRIPT, "text/javascript")),
        )
        .route("/lead/assets/style.css", get(|| asset(STYLE, "text/css")))
        .route(
            "/lead/assets/player.js",
            get(|| asset(PLAYER, "text/javascript")),
        )
        .layer(axum::middleware::map_response(protective_headers))
}

async fn protective_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not "no-referrer": under it a browser sends `Origin: null` even on the page's own
    // form posts, which `session::same_origin` would then refuse.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Story pages, audio and exports are sensitive: no copy in any cache.
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// A static file of a page (style, script), cached for an hour.
pub(crate) async fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                format!("{content_type}; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, "public, max-age=3600".to_string()),
        ],
        body,
    )
        .into_response()
}

async fn sign_in_form() -> Response {
    pages::sign_in(None, StatusCode::OK)
}

#[derive(Deserialize)]
struct SignIn {
    #[serde(default)]
    token: String,
}

fn cross_site() -> Response {
    PageError(Error::forbidden(
        "this form was sent from another site; open the page again and retry",
    ))
    .into_response()
}

async fn sign_in(
    State(app): State<App>,
    client: ClientAddr,
    Https(https): Https,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Result<Response, PageError> {
    if !session::same_origin(&headers) {
        return Ok(cross_site());
    }
    let token = form.token.trim();
    if let Err(e) = app.throttle.attempt(Attempt::LeadSignIn, client.0, token) {
        let wait = match &e {
            Error::TooManyAttempts { retry_after_secs } => *retry_after_secs,
            _ => 60,
        };
        let mut page = pages::sign_in(
            Some(&format!(
                "Too many sign-in attempts from this network. Wait {wait} seconds, then try again."
            )),
            e.status(),
        );
        e.add_headers(&mut page);
        return Ok(page);
    }
    if !session::plausible_token(token) {
        return Ok(pages::sign_in(
            Some("That is not a Tellus token. Paste the whole token, starting with “tellus_”."),
            StatusCode::UNAUTHORIZED,
        ));
    }
    let check = lookup_token(&app, token).await?;
    if let Some((status, why)) = session::refusal(&check) {
        return Ok(pages::sign_in(Some(why), status));
    }
    let mut response = Redirect::to("/lead").into_response();
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(cookie) = session::set_cookie(token, https).parse() {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// A sign-in link opened: a button, so that a link preview fetching the page does not
/// spend it.
async fn link_form(Path(secret): Path<String>) -> Response {
    pages::link_sign_in(&secret)
}

/// The link's button: the lead's token unsealed once, checked like a typed one, then
/// the same cookie as the sign-in form's.
async fn link_sign_in(
    State(app): State<App>,
    Https(https): Https,
    headers: HeaderMap,
    Path(secret): Path<String>,
) -> Result<Response, PageError> {
    if !session::same_origin(&headers) {
        return Ok(cross_site());
    }
    let token = app.data(move |d| links::spend(d, &secret)).await?;
    let Some(token) = token else {
        return Ok(pages::sign_in(
            Some(
                "This sign-in link was used already or has expired. Run `tellus lead open` again for a new one, or sign in with your token.",
            ),
            StatusCode::UNAUTHORIZED,
        ));
    };
    let check = lookup_token(&app, &token).await?;
    if let Some((status, why)) = session::refusal(&check) {
        return Ok(pages::sign_in(Some(why), status));
    }
    let mut response = Redirect::to("/lead").into_response();
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(cookie) = session::set_cookie(&token, https).parse() {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

async fn sign_out(Https(https): Https, headers: HeaderMap) -> Response {
    if !session::same_origin(&headers) {
        return cross_site();
    }
    let mut response = Redirect::to("/lead/sign-in").into_response();
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(cookie) = session::clear_cookie(https).parse() {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

async fn list(
    State(app): State<App>,
    lead: Lead,
    Query(filters): Query<query::Filters>,
) -> Result<Response, PageError> {
    filters.check()?;
    let lead_project = lead.project_id.clone();
    let project_id = lead.project_id;
    let filter = filters.resolved();
    let (settings, listing, reporters) = app
        .data(move |d| {
            Ok((
                d.project_settings(&project_id)?,
                d.list_stories(&project_id, &filter)?,
                d.project_reporters(&project_id)?,
            ))
        })
        .await?;
    let project = query::Project::from_settings(&lead_project, settings);
    let item_keys = project.item_keys();
    Ok(pages::list(pages::ListPage {
        project: &project,
        filters: &filters,
        listing: &listing,
        reporters: &reporters,
        item_keys: &item_keys,
    }))
}

async fn story(
    State(app): State<App>,
    lead: Lead,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id, "story")?;
    let project_id = lead.project_id;
    let key = project_id.clone();
    let (settings, found) = app
        .data(move |d| Ok((d.project_settings(&key)?, d.lead_story_page(&key, &id))))
        .await?;
    let project = query::Project::from_settings(&project_id, settings);
    // A story that is not there (or not this lead's) is still this lead's page.
    Ok(match found {
        Ok(LeadStory::Withdrawn { withdrawn_at }) => pages::tombstone(&project, withdrawn_at),
        Ok(LeadStory::Visible { doc, extras }) => pages::story(&project, &doc, &extras),
        Err(e) => pages::error_page(&e, Some(&project.name)),
    })
}

/// A download named `stem.extension` (made safe by `media::content_disposition`).
fn attachment(stem: &str, extension: &str, content_type: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                content_disposition(Disposition::Attachment, stem, extension),
            ),
        ],
        body,
    )
        .into_response()
}

/// The story exactly as `GET /api/v1/stories/{id}` gives it.
async fn story_json(
    State(app): State<App>,
    lead: Lead,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id, "story")?;
    let project_id = lead.project_id;
    let key = id.clone();
    let doc = app.data(move |d| d.lead_story(&project_id, &key)).await?;
    let body = serde_json::to_string_pretty(&doc)
        .map_err(|e| Error::internal(format!("cannot serialise a story: {e}")))?;
    Ok(attachment(
        &format!("story-{id}"),
        "json",
        "application/json",
        body,
    ))
}

/// The story's line of `GET /api/v1/export.csv?scope=all`, under the same header.
async fn story_csv(
    State(app): State<App>,
    lead: Lead,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id, "story")?;
    let project_id = lead.project_id;
    let key = id.clone();
    let row = app
        .data(move |d| d.lead_story_csv_row(&project_id, &key))
        .await?
        .ok_or_else(|| {
            Error::refused(
                StatusCode::FORBIDDEN,
                "consent_required",
                "this story has no consent to record, so it cannot be exported",
            )
        })?;
    Ok(attachment(
        &format!("story-{id}"),
        "csv",
        "text/csv; charset=utf-8",
        format!("{CSV_HEADER}{row}"),
    ))
}

#[derive(Deserialize)]
struct ExportQuery {
    scope: Option<String>,
}

async fn export_csv(
    State(app): State<App>,
    lead: Lead,
    Query(q): Query<ExportQuery>,
) -> Result<Response, PageError> {
    let scope = parse_scope(q.scope.as_deref())?;
    let project_id = lead.project_id;
    let name = format!("{project_id}-{}", scope.as_str());
    let key = project_id.clone();
    let csv = app.data(move |d| d.project_csv(&key, scope)).await?;
    Ok(attachment(&name, "csv", "text/csv; charset=utf-8", csv))
}

#[derive(Deserialize)]
struct AudioQuery {
    download: Option<String>,
    /// Which copy (absent = lossless), as the story page names it.
    representation: Option<String>,
}

async fn audio(
    State(app): State<App>,
    lead: Lead,
    Path(id): Path<String>,
    Query(q): Query<AudioQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let id = parse_id(&id, "recording")?;
    let representation = parse_representation(q.representation.as_deref())?;
    let disposition = match q.download {
        Some(_) => Disposition::Attachment,
        None => Disposition::Inline,
    };
    Ok(serve_audio(
        &app,
        &lead.project_id,
        &id,
        representation,
        &headers,
        disposition,
    )
    .await?)
}
