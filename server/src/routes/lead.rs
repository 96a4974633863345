//! What a lead reads: the changes feed, receipts, the audio (with Range and ETag), and
//! the CSV export filtered by consent scope. A reporter may read only the receipts of
//! its own recordings.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tellus_protocol::{AudioFormat, ChangesPage, ExportScope, Receipt, Representation};

use super::parse_id;
use crate::App;
use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::data::feed::StoredRecording as Stored;
use crate::error::{Error, Result};
use crate::media::{Disposition, content_disposition, served_audio_type};
use crate::visibility::Visibility;
use tellus_protocol::Role;

pub use crate::data::sqlite::feed::csv_row;
pub use crate::export::CSV_HEADER;

pub async fn changes(
    State(app): State<App>,
    who: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<ChangesPage>> {
    let project_id = who.lead("read the changes feed")?.to_string();
    let after: i64 = match query.get("after").map(String::as_str) {
        None | Some("") => 0,
        Some(text) => text.parse().ok().filter(|n: &i64| *n >= 0).ok_or_else(|| {
            Error::bad_request(
                "invalid_cursor",
                "'after' must be a cursor from an earlier page",
            )
        })?,
    };
    let max = app.config.feed_page_max;
    let limit: u32 = match query.get("limit") {
        None => max.min(100),
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                Error::bad_request(
                    "invalid_limit",
                    format!("'limit' must be between 1 and {max}"),
                )
            })?,
    };
    // Transcript changes (issue 22) only to clients that ask for them (`with=transcript`):
    // a lead built before them cannot read that kind.
    let with_transcripts = crate::transcripts::feed_wants_transcripts(&query);
    let page = app
        .data(move |d| d.changes(&project_id, after, limit, with_transcripts))
        .await?;
    Ok(Json(page))
}

/// The `representation` query parameter of a receipt or an audio request; absent or
/// empty means lossless (every client before issue 20).
pub fn parse_representation(text: Option<&str>) -> Result<Representation> {
    match text {
        None | Some("") => Ok(Representation::Lossless),
        Some(text) => Representation::parse(text).ok_or_else(|| {
            Error::bad_request(
                "invalid_representation",
                "representation must be 'lossless' or 'listening'",
            )
        }),
    }
}

/// The best copy of a recording the server holds: lossless, else the listening copy.
pub async fn best_delivered(app: &App, id: &str) -> Result<Option<Representation>> {
    for representation in Representation::ALL {
        if stored(app, id, representation).await?.is_some() {
            return Ok(Some(representation));
        }
    }
    Ok(None)
}

async fn stored(app: &App, id: &str, representation: Representation) -> Result<Option<Stored>> {
    let id = id.to_string();
    app.data(move |d| d.recording(&id, representation)).await
}

/// A lead reaches a recording only while its story is visible (visibility.rs).
async fn lead_may_see(app: &App, rec: &Stored) -> Result<()> {
    let (project, story) = (rec.project_id.clone(), rec.story_id.clone());
    let seen = app.data(move |d| d.visibility(&project, &story)).await?;
    if seen == Visibility::Visible {
        Ok(())
    } else {
        Err(Error::not_found("delivered recording"))
    }
}

/// The delivery receipt of one copy of a recording: for the reporter who uploaded it,
/// and for the leads of its project.
pub async fn receipt(
    State(app): State<App>,
    who: Principal,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Receipt>> {
    if who.role == Role::Admin {
        return Err(Error::forbidden("receipts are for reporters and leads"));
    }
    let id = parse_id(&id, "recording")?;
    let representation = parse_representation(query.get("representation").map(String::as_str))?;
    let rec = stored(&app, &id, representation)
        .await?
        .filter(|r| match who.role {
            Role::Reporter => r.reporter_id == who.id,
            _ => Some(&r.project_id) == who.project_id.as_ref(),
        })
        .ok_or_else(|| Error::not_found("delivered recording"))?;
    if who.role != Role::Reporter {
        lead_may_see(&app, &rec).await?;
    }
    Ok(Json(Receipt {
        recording_id: id,
        story_id: rec.story_id,
        sha256: rec.sha256,
        bytes: rec.bytes,
        received_at: rfc3339(rec.received_at),
        representation,
        format: AudioFormat::from_content_type(&rec.content_type).map(|f| f.as_str().to_string()),
        pcm_sha256: rec.pcm_sha256,
    }))
}

/// One `bytes=` range, resolved against the file size; None when unsatisfiable.
fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>> {
    let malformed =
        || Error::bad_request("invalid_range", "Range must be one 'bytes=START-END' range");
    let spec = value.trim().strip_prefix("bytes=").ok_or_else(malformed)?;
    if spec.contains(',') {
        return Err(Error::bad_request(
            "invalid_range",
            "only one range per request is served",
        ));
    }
    let (first, last) = spec.split_once('-').ok_or_else(malformed)?;
    let number = |t: &str| t.trim().parse::<u64>().map_err(|_| malformed());
    let (start, end) = match (first.trim().is_empty(), last.trim().is_empty()) {
        (false, true) => (number(first)?, size.saturating_sub(1)),
        (false, false) => (number(first)?, number(last)?.min(size.saturating_sub(1))),
        (true, false) => {
            let n = number(last)?;
            if n == 0 {
                return Ok(None);
            }
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        (true, true) => return Err(malformed()),
    };
    if size == 0 || start > end || start >= size {
        return Ok(None);
    }
    Ok(Some((start, end)))
}

pub async fn audio(
    State(app): State<App>,
    who: Principal,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response> {
    let project_id = who.lead("download audio")?.to_string();
    let id = parse_id(&id, "recording")?;
    let representation = parse_representation(query.get("representation").map(String::as_str))?;
    serve_audio(
        &app,
        &project_id,
        &id,
        representation,
        &headers,
        Disposition::Attachment,
    )
    .await
}

/// One delivered copy of a recording of `project_id`, whole or one Range of it, with
/// its SHA-256 as ETag (also what the leads' web page and the portal play, `Inline`).
pub async fn serve_audio(
    app: &App,
    project_id: &str,
    id: &str,
    representation: Representation,
    headers: &HeaderMap,
    disposition: Disposition,
) -> Result<Response> {
    let id = id.to_string();
    let rec = stored(app, &id, representation)
        .await?
        .filter(|r| r.project_id == project_id)
        .ok_or_else(|| Error::not_found("delivered recording"))?;
    lead_may_see(app, &rec).await?;
    let etag = format!("\"{}\"", rec.sha256);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let key = crate::storage::key(&id, representation);
    let size = app
        .storage
        .size(&key)
        .await
        .map_err(|e| Error::io("cannot open stored audio", e))?
        .ok_or_else(|| Error::not_found("delivered recording"))?;
    // A Range is honoured unless If-Range names another version.
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == etag);
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(value) if if_range_ok => match parse_range(value, size)? {
            Some(r) => Some(r),
            None => {
                return Ok((
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{size}"))],
                    Json(tellus_protocol::ApiError {
                        code: "range_not_satisfiable".into(),
                        message: format!("the recording is {size} bytes long"),
                    }),
                )
                    .into_response());
            }
        },
        _ => None,
    };
    let (start, len) = range.map_or((0, size), |(s, e)| (s, e - s + 1));
    let stream = app
        .storage
        .read(&key, start..start + len)
        .await
        .map_err(|e| Error::io("cannot read stored audio", e))?
        .ok_or_else(|| Error::not_found("delivered recording"))?;
    let mut response = Body::from_stream(stream).into_response();
    *response.status_mut() = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    // The server's own type for what it stored, never what a client declared; no
    // sniffing, no scripts even if the bytes look like a page, and a safe file name.
    let (content_type, extension) = served_audio_type(&rec.content_type);
    set(h, header::ETAG, etag);
    set(h, header::CONTENT_TYPE, content_type.to_string());
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        content_disposition(
            disposition,
            &match representation {
                Representation::Lossless => format!("recording-{id}"),
                Representation::Listening => format!("recording-{id}-listening"),
            },
            extension,
        ),
    );
    set(h, header::CONTENT_LENGTH, len.to_string());
    set(h, header::ACCEPT_RANGES, "bytes".into());
    if let Some((s, e)) = range {
        set(h, header::CONTENT_RANGE, format!("bytes {s}-{e}/{size}"));
    }
    Ok(response)
}

/// The `scope` query parameter (absent means `all`).
pub fn parse_scope(text: Option<&str>) -> Result<ExportScope> {
    match text {
        None => Ok(ExportScope::All),
        Some(text) => ExportScope::parse(text).ok_or_else(|| {
            Error::bad_request(
                "invalid_scope",
                "scope must be 'all', 'research' or 'public'",
            )
        }),
    }
}

pub async fn export_csv(
    State(app): State<App>,
    who: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    let project_id = who.lead("export stories")?.to_string();
    let scope = parse_scope(query.get("scope").map(String::as_str))?;
    let name = format!("{project_id}-{}", scope.as_str());
    let csv = app.data(move |d| d.project_csv(&project_id, scope)).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                content_disposition(Disposition::Attachment, &name, "csv"),
            ),
        ],
        csv,
    )
        .into_response())
}

/// A one-time link that signs this lead in to the web page within minutes
/// (`tellus lead open`); see web/links.rs.
pub async fn sign_in_link(
    State(app): State<App>,
    who: Principal,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<crate::web::links::SignInLink>)> {
    who.lead("open the leads' web page")?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::auth::bearer_token)
        .unwrap_or_default()
        .to_string();
    let link = app
        .data(move |d| crate::web::links::issue(d, &who, &token))
        .await?;
    Ok((StatusCode::CREATED, Json(link)))
}
