//! What an operator does: create projects, invite reporters and leads, mint admin tokens,
//! revoke. Called by `tellus admin ...` on the data folder directly and by the admin
//! routes; enrolment (spending an invite) lives here too.

use std::sync::Arc;

use axum::http::StatusCode;
use serde::Serialize;
use tellus_protocol::{ConsentForm, EnrolResponse, InviteResponse, Role};

use crate::auth::{new_invite_code, new_token, normalize_code, sha256_hex};
use crate::clock::{now_ms, rfc3339};
use crate::data::Data;
use crate::data::accounts::{InviteFound, NewInvite, NewPrincipal, NewProject};
use crate::db::Db;
use crate::error::{Error, Result};

pub use crate::data::accounts::{DeviceListed, InviteListed, Revoked};

#[derive(Debug, Clone, Serialize)]
pub struct ProjectCreated {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdminToken {
    pub id: String,
    pub token: String,
}

/// Where the operator's commands act: the data layer of a running server (`App::data`,
/// whichever backend), or the SQLite database opened alone (`App::open_db`), as
/// `tellus admin` and the tests do. Each command runs on the calling thread.
pub trait Store {
    fn run<R>(&self, f: impl FnOnce(&dyn Data) -> Result<R>) -> Result<R>;
}

impl Store for dyn Data {
    fn run<R>(&self, f: impl FnOnce(&dyn Data) -> Result<R>) -> Result<R> {
        f(self)
    }
}

impl Store for Arc<dyn Data> {
    fn run<R>(&self, f: impl FnOnce(&dyn Data) -> Result<R>) -> Result<R> {
        f(&**self)
    }
}

impl Store for Db {
    fn run<R>(&self, f: impl FnOnce(&dyn Data) -> Result<R>) -> Result<R> {
        f(&crate::data::SqliteData::new(self.clone()))
    }
}

/// Every device and token, oldest first.
pub fn list_devices(store: &(impl Store + ?Sized)) -> Result<Vec<DeviceListed>> {
    store.run(|d| d.list_devices())
}

/// Every invite, oldest first, with what became of it.
pub fn list_invites(store: &(impl Store + ?Sized)) -> Result<Vec<InviteListed>> {
    let now = now_ms();
    store.run(|d| d.list_invites(now))
}

/// What became of an invite by `now`: "used", "revoked", "expired" or "unused".
pub fn invite_state(invite: &InviteFound, now: i64) -> &'static str {
    if invite.used {
        "used"
    } else if invite.revoked {
        "revoked"
    } else if invite.expires_at <= now {
        "expired"
    } else {
        "unused"
    }
}

/// Why an invite (None: no invite has that code) cannot enrol a device now, if it
/// cannot. With `expected`, an invite for another role is refused and stays unspent.
pub fn invite_refusal(
    invite: Option<&InviteFound>,
    now: i64,
    expected: Option<Role>,
) -> Option<Error> {
    let refused = |message: &str| {
        Error::refused(StatusCode::FORBIDDEN, "invalid_invite", message.to_string())
    };
    let Some(invite) = invite else {
        return Some(refused(
            "this invite code is not known; check it or ask for a new one",
        ));
    };
    if invite.used {
        return Some(refused(
            "this invite code was already used; each code enrols one device",
        ));
    }
    if invite.revoked {
        return Some(refused("this invite code was revoked; ask for a new one"));
    }
    if invite.expires_at <= now {
        return Some(refused("this invite code has expired; ask for a new one"));
    }
    let role = &invite.role;
    match expected {
        Some(expected) if expected.as_str() != role => Some(Error::refused(
            StatusCode::FORBIDDEN,
            "wrong_role",
            format!(
                "this invite code is for a {role}, and this device enrols as a {}; the code was not used and still works where a {role} enrols",
                expected.as_str()
            ),
        )),
        _ => None,
    }
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Creates a project from its configuration (tellus-core's `ProjectConfig` as JSON).
pub fn create_project(store: &(impl Store + ?Sized), config_json: &str) -> Result<ProjectCreated> {
    let config: serde_json::Value = serde_json::from_str(config_json).map_err(|e| {
        Error::bad_request(
            "invalid_config",
            format!("the project configuration is not JSON: {e}"),
        )
    })?;
    let field = |name: &str| {
        config
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                Error::bad_request(
                    "invalid_config",
                    format!("the project configuration needs a '{name}'"),
                )
            })
    };
    let (id, name) = (field("id")?, field("name")?);
    check_project_id(&id)?;
    check_typed_text("invalid_config", "the project's name", &name, Some(200))?;
    consent_forms(&config).map_err(|why| Error::bad_request("invalid_config", why))?;
    let project = NewProject {
        id,
        name,
        config: config.to_string(),
        created_at: now_ms(),
    };
    store.run(|d| d.create_project(&project))?;
    Ok(ProjectCreated {
        id: project.id,
        name: project.name,
    })
}

/// The consent forms of a project's configuration: every version a storyteller may have
/// seen, each whole (`ConsentForm::validate`), at least one, none twice. Every consent
/// event is checked against them, so a project without them is refused at creation.
pub fn consent_forms(config: &serde_json::Value) -> std::result::Result<Vec<ConsentForm>, String> {
    let forms: Vec<ConsentForm> =
        serde_json::from_value(config.get("consent_forms").cloned().unwrap_or_default())
            .map_err(|e| format!("the project's consent forms cannot be read: {e}"))?;
    if forms.is_empty() {
        return Err("the project configuration needs at least one consent form".into());
    }
    for (i, form) in forms.iter().enumerate() {
        form.validate()?;
        if forms[..i]
            .iter()
            .any(|f| f.id == form.id && f.version == form.version)
        {
            return Err(format!(
                "consent form {} version {} appears twice",
                form.id, form.version
            ));
        }
    }
    Ok(forms)
}

/// A project id travels in URLs, file names (exports, a lead's pulled folder) and
/// headers: ASCII letters, digits, `-`, `_` and `.`, starting with a letter or digit, at
/// most 64 characters, never `..`.
pub fn check_project_id(id: &str) -> Result<()> {
    let valid = (1..=64).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !id.contains("..");
    if valid {
        Ok(())
    } else {
        Err(Error::bad_request(
            "invalid_config",
            format!(
                "the project id {:?} must be 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit",
                id.escape_default().to_string()
            ),
        ))
    }
}

/// Text a person typed that is shown to others (a project's name, a device's label):
/// not empty, no control characters, and at most `max` characters when given. A
/// device's length is the server's `[limits]` `label_chars`, held by the enrol route
/// (413 `over_limit`, as every limit), so it passes None here.
pub fn check_typed_text(
    code: &'static str,
    what: &str,
    text: &str,
    max: Option<usize>,
) -> Result<()> {
    let text = text.trim();
    let malformed = text.is_empty() || text.chars().any(char::is_control);
    let too_long = max.is_some_and(|max| text.chars().count() > max);
    if malformed || too_long {
        return Err(Error::bad_request(
            code,
            match max {
                Some(max) => format!(
                    "{what} must be 1 to {max} characters, without line breaks or control characters"
                ),
                None => {
                    format!("{what} must not be empty or hold line breaks or control characters")
                }
            },
        ));
    }
    Ok(())
}

/// A single-use invite for a reporter or a lead of `project_id`, valid for `ttl_secs`.
pub fn create_invite(
    store: &(impl Store + ?Sized),
    project_id: &str,
    role: Role,
    ttl_secs: u64,
) -> Result<InviteResponse> {
    if role == Role::Admin {
        return Err(Error::bad_request(
            "invalid_role",
            "invites are for reporters and leads; make an admin token with 'tellus admin token'",
        ));
    }
    let code = new_invite_code();
    let now = now_ms();
    let invite = NewInvite {
        id: new_id(),
        code_hash: sha256_hex(&normalize_code(&code)),
        project_id: project_id.to_string(),
        role,
        created_at: now,
        expires_at: now
            .saturating_add(i64::try_from(ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX)),
    };
    store.run(|d| d.create_invite(&invite))?;
    Ok(InviteResponse {
        invite_id: invite.id,
        code,
        project_id: invite.project_id,
        role,
        expires_at: rfc3339(invite.expires_at),
    })
}

/// An operator's token for the admin routes.
pub fn create_admin_token(store: &(impl Store + ?Sized), label: &str) -> Result<AdminToken> {
    check_typed_text("invalid_label", "the token's label", label, Some(200))?;
    let token = new_token();
    let principal = NewPrincipal {
        id: new_id(),
        token_hash: sha256_hex(&token),
        label: label.to_string(),
        created_at: now_ms(),
    };
    store.run(|d| d.create_admin_token(&principal))?;
    Ok(AdminToken {
        id: principal.id,
        token,
    })
}

/// Revokes an invite or a device's token by its id.
pub fn revoke(store: &(impl Store + ?Sized), id: &str) -> Result<Revoked> {
    store.run(|d| d.revoke(id, now_ms()))?.ok_or_else(|| {
        Error::refused(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no invite or device with id '{id}'"),
        )
    })
}

/// Spends an invite code: a new device token for its project and role. With `expected`,
/// an invite for another role is refused and stays unspent.
pub fn enrol(
    store: &(impl Store + ?Sized),
    code: &str,
    device_label: &str,
    expected: Option<Role>,
) -> Result<EnrolResponse> {
    let label = device_label.trim();
    check_typed_text("invalid_label", "the device's label", label, None)?;
    let hash = sha256_hex(&normalize_code(code));
    let token = new_token();
    let device = NewPrincipal {
        id: new_id(),
        token_hash: sha256_hex(&token),
        label: label.to_string(),
        created_at: now_ms(),
    };
    let enrolled = store.run(|d| d.enrol(&hash, &device, expected))?;
    Ok(EnrolResponse {
        token,
        reporter_id: device.id,
        role: enrolled.role,
        project_id: enrolled.project_id,
        project: serde_json::from_str(&enrolled.config)
            .map_err(|e| Error::internal(format!("stored project configuration: {e}")))?,
    })
}
