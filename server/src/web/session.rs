//! Signing in to the web page: the lead types their token once; the browser keeps it in
//! an HttpOnly, SameSite=Strict cookie scoped to `/lead`, and every request checks it
//! like a bearer token (by its SHA-256), so a revoked device is out on its next click.
//! The server stores nothing new: no session table, no clear token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tellus_protocol::Role;

use super::pages;
use crate::App;
use crate::auth::{TokenCheck, lookup_token};

pub const COOKIE: &str = "tellus_lead";
/// A signed-in browser is asked for the token again after this long.
const MAX_AGE_SECS: u32 = 12 * 3600;

/// A signed-in lead: a valid, unrevoked lead token from the cookie.
pub struct Lead {
    pub project_id: String,
}

/// Why a token does not open the web page, in words for the person who typed it.
pub fn refusal(check: &TokenCheck) -> Option<(StatusCode, &'static str)> {
    match check {
        TokenCheck::Unknown => Some((
            StatusCode::UNAUTHORIZED,
            "This token is not known to the server. Check that you copied all of it.",
        )),
        TokenCheck::Revoked => Some((
            StatusCode::UNAUTHORIZED,
            "This token was revoked by the project's operator. Ask them for a new lead invite.",
        )),
        TokenCheck::Valid(p) if p.role == Role::Reporter => Some((
            StatusCode::FORBIDDEN,
            "This is a reporter's token. The web page is for project leads only: reporters send stories from the app and can never read them here.",
        )),
        TokenCheck::Valid(p) if p.role != Role::Lead => Some((
            StatusCode::FORBIDDEN,
            "This token does not belong to a project lead. Ask the project's operator for a lead invite.",
        )),
        TokenCheck::Valid(_) => None,
    }
}

/// Whether `token` could be a token at all: what `auth::new_token` makes. Anything else
/// is refused before it could reach a header.
pub fn plausible_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 200
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, COOKIE).filter(|t| plausible_token(t))
}

/// The value of the cookie `name` in a request (the lead's page and the portal).
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim().to_string())
}

/// The session cookie; Secure when the browser came over HTTPS ([`crate::https::Https`]).
pub fn set_cookie(token: &str, https: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/lead; HttpOnly; SameSite=Strict; Max-Age={MAX_AGE_SECS}{}",
        secure(https)
    )
}

pub fn clear_cookie(https: bool) -> String {
    format!(
        "{COOKIE}=; Path=/lead; HttpOnly; SameSite=Strict; Max-Age=0{}",
        secure(https)
    )
}

/// A POST from another site is refused even if a browser sent the cookie along
/// (SameSite=Strict already keeps it out; this is the second lock).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or_default();
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

impl FromRequestParts<App> for Lead {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let Some(token) = cookie_token(&parts.headers) else {
            return Err(pages::sign_in(None, StatusCode::UNAUTHORIZED));
        };
        let check = lookup_token(app, &token)
            .await
            .map_err(|e| pages::PageError(e).into_response())?;
        if let Some((status, why)) = refusal(&check) {
            let mut response = pages::sign_in(Some(why), status);
            if let Ok(v) = clear_cookie(crate::https::Https::of(parts, app)).parse() {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            return Err(response);
        }
        match check {
            TokenCheck::Valid(principal) => Ok(Lead {
                project_id: principal.project_id.unwrap_or_default(),
            }),
            _ => Err(pages::sign_in(None, StatusCode::UNAUTHORIZED)),
        }
    }
}

fn secure(https: bool) -> &'static str {
    if https { "; Secure" } else { "" }
}
