//! Who is asking: bearer tokens (stored as SHA-256, never in clear), invite codes
//! (hashed, single-use, expiring), and the role checks every route makes.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tellus_protocol::Role;

use crate::App;
use crate::error::{Error, Result};

/// The caller of a request, after its token was checked.
#[derive(Debug, Clone)]
pub struct Principal {
    pub id: String,
    pub role: Role,
    /// The one project a reporter or lead belongs to (None for an admin).
    pub project_id: Option<String>,
}

impl Principal {
    fn require(&self, role: Role, what: &str) -> Result<&str> {
        if self.role != role {
            return Err(Error::forbidden(format!(
                "only a {} may {what}; this token is a {}'s",
                role.as_str(),
                self.role.as_str()
            )));
        }
        Ok(self.project_id.as_deref().unwrap_or_default())
    }

    /// A reporter's project id, or 403.
    pub fn reporter(&self, what: &str) -> Result<&str> {
        self.require(Role::Reporter, what)
    }

    /// A lead's project id, or 403.
    pub fn lead(&self, what: &str) -> Result<&str> {
        self.require(Role::Lead, what)
    }

    pub fn admin(&self, what: &str) -> Result<()> {
        self.require(Role::Admin, what).map(|_| ())
    }
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A new bearer token: 256 random bits.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("tellus_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Letters a person can read out and type without confusing 0/O or 1/I/L.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A new invite code, "XXXX-XXXX-XXXX-XXXX": 16 characters, about 79 bits.
pub fn new_invite_code() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// How a typed code is compared: case, spaces and dashes do not matter.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl FromRequestParts<App> for Principal {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self> {
        let unauthorized = |message: &str| {
            Error::refused(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                message.to_string(),
            )
        };
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                unauthorized("send 'Authorization: Bearer <token>'; enrol to get a token")
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(bearer_token)
            .ok_or_else(|| unauthorized("the Authorization header must be 'Bearer <token>'"))?;
        match lookup_token(app, token).await? {
            TokenCheck::Unknown => Err(unauthorized("this token is not known to the server")),
            TokenCheck::Revoked => Err(unauthorized(
                "this token was revoked by the project's operator; ask for a new invite",
            )),
            TokenCheck::Valid(principal) => Ok(principal),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is matched without
/// regard to case (RFC 7235 §2.1), so `bearer` works as well.
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// What a presented token turns out to be.
pub enum TokenCheck {
    Unknown,
    Revoked,
    Valid(Principal),
}

/// Looks a bearer token up by its SHA-256 (the clear token is never stored).
pub async fn lookup_token(app: &App, token: &str) -> Result<TokenCheck> {
    let hash = sha256_hex(token);
    let found = app.data(move |d| d.principal_by_token(&hash)).await?;
    Ok(match found {
        None => TokenCheck::Unknown,
        Some(p) if p.revoked => TokenCheck::Revoked,
        Some(p) => TokenCheck::Valid(Principal {
            id: p.id,
            role: p.role,
            project_id: p.project_id,
        }),
    })
}
