//! The portal's short sessions: after a code is entered, the browser holds a random id
//! in an HttpOnly, SameSite=Strict cookie scoped to `/s`, and the server remembers (in
//! memory only, for [`TTL`]) which one story it opens, or that the code opened none.
//! Each session has its own CSRF token, sent back in every form. Before a session there
//! is only the entry form, protected by a double-submit token (cookie and field).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::auth::sha256_hex;

pub const COOKIE: &str = "tellus_portal";
pub const ENTRY_COOKIE: &str = "tellus_portal_entry";
/// A session closes this long after the code was entered.
pub const TTL: Duration = Duration::from_secs(15 * 60);
/// At most this many sessions at once; beyond, the oldest is closed.
const MAX_SESSIONS: usize = 10_000;

/// What an entered code opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    Story {
        project_id: String,
        story_id: String,
    },
    /// No story (yet): the code's hash in every project, for a withdrawal asked for
    /// before the story arrives.
    Nothing {
        hashes: Vec<super::codes::ProjectHash>,
    },
}

#[derive(Debug, Clone)]
pub struct Session {
    pub opened: Opened,
    pub csrf: String,
    expires: Instant,
}

#[derive(Default)]
pub struct Sessions {
    by_id_hash: Mutex<HashMap<String, Session>>,
}

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

impl Sessions {
    /// A new session; returns its id (for the cookie) and the session.
    pub fn open(&self, opened: Opened) -> (String, Session) {
        let id = random_token();
        let session = Session {
            opened,
            csrf: random_token(),
            expires: Instant::now() + TTL,
        };
        if let Ok(mut map) = self.by_id_hash.lock() {
            let now = Instant::now();
            map.retain(|_, s| s.expires > now);
            if map.len() >= MAX_SESSIONS {
                if let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, s)| s.expires)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
            map.insert(sha256_hex(&id), session.clone());
        }
        (id, session)
    }

    /// The live session the request's cookie names.
    pub fn find(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie(headers, COOKIE)?;
        let map = self.by_id_hash.lock().ok()?;
        let session = map
            .get(&sha256_hex(&id))
            .filter(|s| s.expires > Instant::now())?;
        Some((id, session.clone()))
    }

    pub fn close(&self, id: &str) {
        if let Ok(mut map) = self.by_id_hash.lock() {
            map.remove(&sha256_hex(id));
        }
    }
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
    fn a_session_is_found_by_its_cookie_only_and_closes() {
        let sessions = Sessions::default();
        let (id, session) = sessions.open(Opened::Nothing { hashes: vec![] });
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("a=b; {COOKIE}={id}").parse().unwrap(),
        );
        let (_, found) = sessions.find(&headers).unwrap();
        assert_eq!(found.csrf, session.csrf);
        let mut other = HeaderMap::new();
        other.insert(
            header::COOKIE,
            format!("{COOKIE}={}", random_token()).parse().unwrap(),
        );
        assert!(sessions.find(&other).is_none());
        sessions.close(&id);
        assert!(sessions.find(&headers).is_none());
        assert!(!same_secret("", ""));
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
    }
}
