//! The storyteller's portal under `/s` (issue 21, docs/portal.md): a storyteller enters
//! the personal code from their receipt and sees what they agreed to, narrows it,
//! withdraws, or listens to their recording. Public, no account, server-rendered, plain
//! forms; every change is a consent event with method `storyteller` accepted by the one
//! path a reporter's event takes (`routes::stories::accept_event`).
//!
//! The code never reaches a URL: the receipt's link carries it after `#` (never sent),
//! and the form POSTs it. Attempts are limited per client address and per code; an
//! unknown code and a wrong one are the same thing and get the same page after the same
//! work (a hash and an index lookup per project).

pub mod codes;
mod pages;
pub mod session;
mod transcript;
mod words;

use std::collections::{BTreeSet, HashMap};

use axum::Router;

use axum::extract::{DefaultBodyLimit, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tellus_protocol::storyteller_code::normalize_code;

use crate::App;
use crate::data::portal::CodeLookup;
use crate::error::{Error, Result};
use crate::https::Https;
use crate::media::Disposition;
use crate::routes::lead::serve_audio;
use crate::routes::parse_id;
use crate::throttle::{Attempt, ClientAddr};
use crate::web::asset;
use pages::{Notice, respond};
use session::{ENTRY_COOKIE, Opened, Session, origin_allowed, same_secret};
use words::{Words, choose, words};

const STYLE: &str = include_str!("assets/portal.css");
const SCRIPT: &str = include_str!("assets/portal.js");

/// No inline script or style; nothing may frame the portal.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
     media-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A portal form is a few fields.
const FORM_BYTES: usize = 8 * 1024;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/s", get(entry_page).post(enter))
        .route("/s/story", get(story_page))
        .route("/s/narrow", post(narrow))
        .route("/s/withdraw", post(withdraw))
        .route("/s/leave", post(leave))
        .route("/s/audio/{id}", get(audio))
        .route("/s/transcript/{id}", get(transcript::page))
        .route("/s/flag", post(transcript::flag))
        .route("/s/assets/portal.css", get(|| asset(STYLE, "text/css")))
        .route(
            "/s/assets/portal.js",
            get(|| asset(SCRIPT, "text/javascript")),
        )
        .layer(DefaultBodyLimit::max(FORM_BYTES))
        .layer(axum::middleware::map_response(protective_headers))
}

async fn protective_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    // A response that set its own policy keeps it: the recording's sandbox, as the
    // lead's audio route serves it (`serve_audio`), so its bytes never run as a page.
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
}

fn with_cookie(mut response: Response, cookie: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

fn see_other(path: String) -> Response {
    Redirect::to(&path).into_response()
}

#[derive(Deserialize)]
struct PageQuery {
    lang: Option<String>,
    done: Option<String>,
}

async fn entry_page(
    Https(secure): Https,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let w = words(choose(q.lang.as_deref(), accept_language(&headers), None));
    let token = session::cookie(&headers, ENTRY_COOKIE).unwrap_or_else(session::random_token);
    let page = pages::entry(w, &token, q.done.as_deref().and_then(Notice::parse));
    let cookie = session::set_cookie(
        ENTRY_COOKIE,
        &token,
        std::time::Duration::from_secs(3600),
        secure,
    );
    with_cookie(respond(StatusCode::OK, page), cookie)
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    lang: String,
}

fn refused(w: &Words, status: StatusCode, shown: Notice) -> Response {
    respond(status, pages::message(w, shown))
}

fn too_many(w: &Words, e: &Error) -> Response {
    let mut page = refused(w, StatusCode::TOO_MANY_REQUESTS, Notice::TooMany);
    e.add_headers(&mut page);
    page
}

fn failed(w: &Words, e: &Error) -> Response {
    if e.status().is_server_error() {
        tracing::error!(error = %e, "portal request failed");
    }
    refused(w, e.status(), Notice::Failed)
}

async fn enter(
    State(app): State<App>,
    Https(secure): Https,
    client: ClientAddr,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let w = words(choose(Some(&form.lang), accept_language(&headers), None));
    let entry_token = session::cookie(&headers, ENTRY_COOKIE).unwrap_or_default();
    if !origin_allowed(&headers) || !same_secret(&entry_token, &form.csrf) {
        return refused(w, StatusCode::FORBIDDEN, Notice::StaleForm);
    }
    let canonical = normalize_code(&form.code);
    let counted = canonical
        .clone()
        .unwrap_or_else(|| form.code.trim().to_string());
    if let Err(e) = app
        .throttle
        .attempt(Attempt::PortalCode, client.0, &counted)
    {
        return too_many(w, &e);
    }
    let Some(code) = canonical else {
        return respond(
            StatusCode::BAD_REQUEST,
            pages::entry(w, &entry_token, Some(Notice::NotACode)),
        );
    };
    let looked = app.data(move |d| d.find_story_by_code(&code)).await;
    let CodeLookup { found, hashes } = match looked {
        Ok(found) => found,
        Err(e) => return failed(w, &e),
    };
    let opened = match found {
        Some((project_id, story_id)) => Opened::Story {
            project_id,
            story_id,
        },
        None => Opened::Nothing { hashes },
    };
    let (id, s) = match session::open(&app, opened).await {
        Ok(opened) => opened,
        Err(e) => return failed(w, &e),
    };
    let cookie = session::set_cookie(session::COOKIE, &id, session::TTL, secure);
    let page = match s.opened {
        Opened::Story { .. } => see_other(format!("/s/story?lang={}", w.lang)),
        Opened::Nothing { .. } => respond(StatusCode::OK, pages::not_opened(w, &s.csrf)),
    };
    with_cookie(page, cookie)
}

/// The session a form was sent in, if its CSRF token matches; else the page to answer.
async fn form_session(
    app: &App,
    headers: &HeaderMap,
    fields: &HashMap<String, String>,
) -> std::result::Result<(String, Session, &'static Words), Box<Response>> {
    let lang = fields.get("lang").map(String::as_str);
    let w = words(choose(lang, accept_language(headers), None));
    let Some((id, s)) = session::find(app, headers)
        .await
        .map_err(|e| Box::new(failed(w, &e)))?
    else {
        return Err(Box::new(see_other(format!(
            "/s?lang={}&done=expired",
            w.lang
        ))));
    };
    let sent = fields.get("csrf").map(String::as_str).unwrap_or_default();
    if !origin_allowed(headers) || !same_secret(&s.csrf, sent) {
        return Err(Box::new(refused(
            w,
            StatusCode::FORBIDDEN,
            Notice::StaleForm,
        )));
    }
    Ok((id, s, w))
}

/// A form posted from an opened story's page (`form_session`'s checks): the words to
/// answer in, and the story's project and id; a session with no story goes back to `/s`.
async fn story_form(
    app: &App,
    headers: &HeaderMap,
    fields: &HashMap<String, String>,
) -> std::result::Result<(&'static Words, String, String), Box<Response>> {
    let (_, s, w) = form_session(app, headers, fields).await?;
    match s.opened {
        Opened::Story {
            project_id,
            story_id,
        } => Ok((w, project_id, story_id)),
        Opened::Nothing { .. } => Err(Box::new(see_other("/s".into()))),
    }
}

async fn story_page(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let asked = q.lang.as_deref();
    let s = match session::find(&app, &headers).await {
        Ok(Some((_, s))) => s,
        found => {
            let w = words(choose(asked, accept_language(&headers), None));
            return match found {
                Err(e) => failed(w, &e),
                Ok(_) => see_other(format!("/s?lang={}&done=expired", w.lang)),
            };
        }
    };
    let Opened::Story {
        project_id,
        story_id,
    } = s.opened
    else {
        return see_other("/s".into());
    };
    let view = app
        .data(move |d| d.storyteller_story(&project_id, &story_id))
        .await;
    match view {
        Ok(view) => {
            let w = words(choose(
                asked,
                accept_language(&headers),
                view.consent.language.as_deref(),
            ));
            let shown = q.done.as_deref().and_then(Notice::parse);
            respond(StatusCode::OK, pages::story(w, &view, &s.csrf, shown))
        }
        Err(e) => failed(words(choose(asked, accept_language(&headers), None)), &e),
    }
}

async fn narrow(
    State(app): State<App>,
    headers: HeaderMap,
    Form(fields): Form<HashMap<String, String>>,
) -> Response {
    let (w, project_id, story_id) = match story_form(&app, &headers, &fields).await {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let keep: BTreeSet<String> = fields
        .keys()
        .filter_map(|k| k.strip_prefix("keep_"))
        .map(str::to_string)
        .collect();
    let changed = app
        .data(move |d| d.narrow_storyteller_consent(&project_id, &story_id, &keep))
        .await;
    match changed {
        Ok(true) => {
            tracing::info!("a storyteller narrowed their consent on the portal");
            see_other(format!("/s/story?lang={}&done=saved", w.lang))
        }
        Ok(false) => see_other(format!("/s/story?lang={}&done=unchanged", w.lang)),
        Err(e) => failed(w, &e),
    }
}

async fn withdraw(
    State(app): State<App>,
    client: ClientAddr,
    headers: HeaderMap,
    Form(fields): Form<HashMap<String, String>>,
) -> Response {
    let (_, s, w) = match form_session(&app, &headers, &fields).await {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let erase_audio = fields.get("erase").is_none_or(|v| v != "no");
    match s.opened {
        Opened::Story {
            project_id,
            story_id,
        } => {
            let purge = app
                .data(move |d| d.withdraw_as_storyteller(&project_id, &story_id, erase_audio))
                .await;
            match purge {
                Ok(purge) => {
                    if let Some(purge) = purge {
                        purge.run(&app).await;
                        tracing::info!("a storyteller withdrew their story on the portal");
                    }
                    see_other(format!("/s/story?lang={}&done=withdrawn", w.lang))
                }
                Err(e) => failed(w, &e),
            }
        }
        Opened::Nothing { hashes } => {
            let counted = hashes.first().map(|(_, h)| h.clone()).unwrap_or_default();
            if let Err(e) = app
                .throttle
                .attempt(Attempt::PortalWithdraw, client.0, &counted)
            {
                return too_many(w, &e);
            }
            if let Err(e) = app.throttle.ask_pending(client.0) {
                return too_many(w, &e);
            }
            // The story may have arrived since the code was entered: then it is
            // withdrawn now; otherwise the request waits for it.
            let purges = app
                .data(move |d| d.withdraw_by_code(&hashes, erase_audio))
                .await;
            match purges {
                Ok(purges) => {
                    for purge in purges {
                        purge.run(&app).await;
                    }
                    refused(w, StatusCode::OK, Notice::Pending)
                }
                Err(e) => failed(w, &e),
            }
        }
    }
}

async fn leave(
    State(app): State<App>,
    Https(secure): Https,
    headers: HeaderMap,
    Form(fields): Form<HashMap<String, String>>,
) -> Response {
    let (id, _, w) = match form_session(&app, &headers, &fields).await {
        Ok(found) => found,
        Err(page) => return *page,
    };
    if let Err(e) = session::close(&app, &id).await {
        return failed(w, &e);
    }
    let cookie = session::set_cookie(session::COOKIE, "", std::time::Duration::ZERO, secure);
    with_cookie(see_other(format!("/s?lang={}", w.lang)), cookie)
}

/// The storyteller's own recording, Range-served as a lead's is, only while their
/// consent grants `record` (the same rule a lead's audio follows).
async fn audio(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let Some((
        _,
        Session {
            opened:
                Opened::Story {
                    project_id,
                    story_id,
                },
            ..
        },
    )) = session::find(&app, &headers).await?
    else {
        return Err(Error::not_found("recording"));
    };
    let id = parse_id(&id, "recording")?;
    let key = id.clone();
    // The best copy delivered: the lossless one, else the listening copy.
    let best = app
        .data(move |d| d.storyteller_best_copy(&story_id, &key))
        .await?;
    let Some(representation) = best else {
        return Err(Error::not_found("recording"));
    };
    serve_audio(
        &app,
        &project_id,
        &id,
        representation,
        &headers,
        Disposition::Inline,
    )
    .await
}
