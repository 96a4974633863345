//! The portal's short sessions: after a code is entered, the browser holds a random id
//! in an HttpOnly, SameSite=Strict cookie scoped to `/s`, and the database remembers
//! (for [`TTL`], by the id's hash, never the id) which one story it opens, or that the
//! code opened none, so any replica serves any session. Each session has its own CSRF
//! token, sent back in every form. Before a session there is only the entry form,
//! protected by a double-submit token (cookie and field).

use std::time::Duration;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::App;
use crate::auth::sha256_hex;
use crate::clock::now_ms;
pub use crate::data::portal::Opened;
/// A live session: what it opened and its CSRF token.
pub use crate::data::portal::StoredSession as Session;
use crate::error::Result;

pub const COOKIE: &str = "tellus_portal";
pub const ENTRY_COOKIE: &str = "tellus_portal_entry";
/// A session closes this long after the code was entered.
pub const TTL: Duration = Duration::from_secs(15 * 60);
/// At most this many sessions at once; beyond, the oldest is closed.
const MAX_SESSIONS: usize = 10_000;

/// 256 random bits, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether two secrets match, in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A new session; returns its id (for the cookie) and the session.
pub async fn open(app: &App, opened: Opened) -> Result<(String, Session)> {
    let id = random_token();
    let now = now_ms();
    let session = Session {
        id_hash: sha256_hex(&id),
        opened,
        csrf: random_token(),
        expires_at: now.saturating_add(i64::try_from(TTL.as_millis()).unwrap_or(i64::MAX)),
    };
    let kept = session.clone();
    app.data(move |d| d.open_portal_session(&kept, now, MAX_SESSIONS))
        .await?;
    Ok((id, session))
}

/// The live session the request's cookie names, on whichever replica it was opened.
pub async fn find(app: &App, headers: &HeaderMap) -> Result<Option<(String, Session)>> {
    let Some(id) = cookie(headers, COOKIE) else {
        return Ok(None);
    };
    let id_hash = sha256_hex(&id);
    let found = app
        .data(move |d| d.find_portal_session(&id_hash, now_ms()))
        .await?;
    Ok(found.map(|session| (id, session)))
}

pub async fn close(app: &App, id: &str) -> Result<()> {
    let id_hash = sha256_hex(id);
    app.data(move |d| d.close_portal_session(&id_hash)).await
}

/// A cookie's value, if it has the shape of our tokens.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    crate::web::session::cookie_value(headers, name).filter(|v| {
        !v.is_empty()
            && v.len() <= 64
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The Set-Cookie value for `name` (Secure when the page is served over HTTPS).
pub fn set_cookie(name: &str, value: &str, max_age: Duration, https: bool) -> String {
    format!(
        "{name}={value}; Path=/s; HttpOnly; SameSite=Strict; Max-Age={}{}",
        max_age.as_secs(),
        if https { "; Secure" } else { "" }
    )
}

/// A form POST from another site is refused. Under `Referrer-Policy: no-referrer` a
/// browser sends `Origin: null` on the page's own posts, so "null" and no Origin pass
/// here; the CSRF token is the lock that holds.
pub fn origin_allowed(headers: &HeaderMap) -> bool {
    headers.get(header::ORIGIN).is_some_and(|o| o == "null")
        || crate::web::session::same_origin(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_when_equal_and_not_empty() {
        assert!(!same_secret("", ""));
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
    }

    #[test]
    fn only_a_cookie_shaped_like_our_tokens_names_a_session() {
        let mut headers = HeaderMap::new();
        let id = random_token();
        headers.insert(
            header::COOKIE,
            format!("a=b; {COOKIE}={id}").parse().unwrap(),
        );
        assert_eq!(cookie(&headers, COOKIE), Some(id));
        headers.insert(header::COOKIE, format!("{COOKIE}=a.b").parse().unwrap());
        assert_eq!(cookie(&headers, COOKIE), None);
    }
}
