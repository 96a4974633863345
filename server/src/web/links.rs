//! One-time sign-in links for the leads' web page (`tellus lead open`): a lead whose
//! computer holds the token asks for a link, opens it in a browser within minutes, and
//! is signed in without copying the token anywhere. The link works once.
//!
//! The server still keeps no clear token: a link's row holds the SHA-256 of its secret
//! and the lead's token sealed with a one-time pad derived from that secret (SHA-256 of
//! a label and the secret, XORed with the token's 32 random bytes). Only whoever has
//! the link can unseal it, once; an expired or used row is worthless and removed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::auth::{Principal, sha256_hex};
use crate::clock::{now_ms, rfc3339};
#[cfg(test)]
use crate::data::SqliteData;
use crate::data::web::{StoredLink, WebPages};
#[cfg(test)]
use crate::db::Db;
use crate::error::{Error, Result};

/// How long a link can be used: minutes, enough to switch to a browser.
pub const LINK_TTL_MS: i64 = 10 * 60 * 1000;

/// A new link: its path on this server and when it stops working.
#[derive(Debug, Clone, Serialize)]
pub struct SignInLink {
    pub path: String,
    pub expires_at: String,
}

fn pad(secret: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"tellus web sign-in link seal\0");
    hasher.update(secret);
    hasher.finalize().into()
}

fn xor(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// The 32 random bytes of a token as `auth::new_token` makes them.
fn token_bytes(token: &str) -> Option<[u8; 32]> {
    let encoded = token.strip_prefix("tellus_")?;
    URL_SAFE_NO_PAD.decode(encoded).ok()?.try_into().ok()
}

/// A link for `lead`, whose token (the one the request came with) is `token`.
pub fn issue<D: WebPages + ?Sized>(data: &D, lead: &Principal, token: &str) -> Result<SignInLink> {
    let token = token_bytes(token)
        .ok_or_else(|| Error::bad_request("invalid_token", "this token cannot open a link"))?;
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let secret_text = URL_SAFE_NO_PAD.encode(secret);
    let now = now_ms();
    let expires_at = now + LINK_TTL_MS;
    data.store_sign_in_link(
        &StoredLink {
            secret_hash: sha256_hex(&secret_text),
            principal_id: lead.id.clone(),
            sealed_token: hex::encode(xor(&token, &pad(&secret))),
            expires_at,
        },
        now,
    )?;
    Ok(SignInLink {
        path: format!("/lead/link/{secret_text}"),
        expires_at: rfc3339(expires_at),
    })
}

/// Spends a link: the lead's token, once, while it has not expired; None otherwise.
pub fn spend<D: WebPages + ?Sized>(data: &D, secret_text: &str) -> Result<Option<String>> {
    let Some(secret) = URL_SAFE_NO_PAD
        .decode(secret_text)
        .ok()
        .filter(|s| s.len() == 32)
    else {
        return Ok(None);
    };
    let row = data.take_sign_in_link(&sha256_hex(secret_text))?;
    let Some((sealed, expires_at)) = row else {
        return Ok(None);
    };
    if expires_at <= now_ms() {
        return Ok(None);
    }
    let sealed: Option<[u8; 32]> = hex::decode(sealed).ok().and_then(|b| b.try_into().ok());
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let secret: [u8; 32] = secret.try_into().unwrap_or([0; 32]);
    Ok(Some(format!(
        "tellus_{}",
        URL_SAFE_NO_PAD.encode(xor(&sealed, &pad(&secret)))
    )))
}

/// [`issue`] on a SQLite server database.
#[cfg(test)]
pub fn create(db: &Db, lead: &Principal, token: &str) -> Result<SignInLink> {
    issue(&SqliteData::new(db.clone()), lead, token)
}

/// [`spend`] on a server database.
#[cfg(test)]
pub fn redeem(db: &Db, secret_text: &str) -> Result<Option<String>> {
    spend(&SqliteData::new(db.clone()), secret_text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tellus_protocol::Role;

    fn lead(db: &Db) -> Principal {
        db.write(|tx| {
            tx.execute(
                "INSERT INTO projects (id, name, config, created_at) VALUES ('p', 'P', '{}', 0)",
                [],
            )?;
            tx.execute(
                "INSERT INTO principals (id, token_hash, role, project_id, label, created_at)
                 VALUES ('lead-1', 'h', 'lead', 'p', 'Lead', 0)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
        Principal {
            id: "lead-1".into(),
            role: Role::Lead,
            project_id: Some("p".into()),
        }
    }

    #[test]
    fn a_link_gives_its_token_back_once_and_not_after_it_expired() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("server.db")).unwrap();
        let who = lead(&db);
        let token = crate::auth::new_token();
        let secret = |link: &SignInLink| link.path.rsplit('/').next().unwrap().to_string();

        let link = create(&db, &who, &token).unwrap();
        assert_eq!(redeem(&db, &secret(&link)).unwrap(), Some(token.clone()));
        assert_eq!(redeem(&db, &secret(&link)).unwrap(), None, "once");

        let link = create(&db, &who, &token).unwrap();
        db.write(|tx| Ok(tx.execute("UPDATE web_links SET expires_at = ?1", [now_ms() - 1])?))
            .unwrap();
        assert_eq!(redeem(&db, &secret(&link)).unwrap(), None, "expired");

        // A wrong or malformed secret opens nothing.
        create(&db, &who, &token).unwrap();
        assert_eq!(redeem(&db, "not-a-secret").unwrap(), None);
        assert_eq!(
            redeem(&db, &URL_SAFE_NO_PAD.encode([7u8; 32])).unwrap(),
            None
        );
        assert!(create(&db, &who, "not a token").is_err());
    }
}
