//! What an operator does: create projects, invite reporters and leads, mint admin tokens,
//! revoke. Called by `tellus admin ...` on the data folder directly and by the admin
//! routes; enrolment (spending an invite) lives here too.

use axum::http::StatusCode;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use tellus_protocol::{ConsentForm, EnrolResponse, InviteResponse, Role};

use crate::auth::{new_invite_code, new_token, normalize_code, sha256_hex};
use crate::clock::{now_ms, rfc3339};
use crate::db::Db;
use crate::error::{Error, Result};

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

/// What `revoke` found under an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Revoked {
    Invite,
    Token,
}

/// An enrolled device (a reporter's phone or laptop, a lead's computer) or an operator's
/// token, as `tellus admin devices` lists it: the id is the one `revoke` takes.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceListed {
    pub id: String,
    pub role: String,
    pub project_id: Option<String>,
    pub label: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// An invite as `tellus admin invites` lists it (never its code: only its hash is kept).
#[derive(Debug, Clone, Serialize)]
pub struct InviteListed {
    pub id: String,
    pub role: String,
    pub project_id: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    /// "unused", "used", "expired" or "revoked".
    pub state: &'static str,
    /// The device enrolled with it, when used.
    pub device_id: Option<String>,
}

/// Every device and token, oldest first.
pub fn list_devices(db: &Db) -> Result<Vec<DeviceListed>> {
    db.with(|c| {
        let mut stmt = c.prepare(
            "SELECT id, role, project_id, label, created_at, revoked_at FROM principals
             ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(DeviceListed {
                id: r.get(0)?,
                role: r.get(1)?,
                project_id: r.get(2)?,
                label: r.get(3)?,
                created_at: rfc3339(r.get(4)?),
                revoked_at: r.get::<_, Option<i64>>(5)?.map(rfc3339),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

/// Every invite, oldest first, with what became of it.
pub fn list_invites(db: &Db) -> Result<Vec<InviteListed>> {
    let now = now_ms();
    db.with(|c| {
        let mut stmt = c.prepare(
            "SELECT i.id, i.role, i.project_id, i.created_at, i.expires_at, i.used_at,
                    i.revoked_at, (SELECT p.id FROM principals p WHERE p.invite_id = i.id)
             FROM invites i ORDER BY i.created_at, i.id",
        )?;
        let rows = stmt.query_map([], |r| {
            let expires_at: i64 = r.get(4)?;
            let used = r.get::<_, Option<i64>>(5)?.is_some();
            let revoked = r.get::<_, Option<i64>>(6)?.is_some();
            Ok(InviteListed {
                id: r.get(0)?,
                role: r.get(1)?,
                project_id: r.get(2)?,
                created_at: rfc3339(r.get(3)?),
                expires_at: rfc3339(expires_at),
                state: if used {
                    "used"
                } else if revoked {
                    "revoked"
                } else if expires_at <= now {
                    "expired"
                } else {
                    "unused"
                },
                device_id: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Creates a project from its configuration (tellus-core's `ProjectConfig` as JSON).
pub fn create_project(db: &Db, config_json: &str) -> Result<ProjectCreated> {
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
    let compact = config.to_string();
    db.write(|tx| {
        let exists = tx
            .query_row("SELECT 1 FROM projects WHERE id = ?1", [&id], |_| Ok(()))
            .optional()?
            .is_some();
        if exists {
            return Err(Error::conflict(
                "project_exists",
                format!("a project with id '{id}' already exists"),
            ));
        }
        tx.execute(
            "INSERT INTO projects (id, name, config, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![id, name, compact, now_ms()],
        )?;
        Ok(())
    })?;
    Ok(ProjectCreated { id, name })
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
    db: &Db,
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
    let id = new_id();
    let expires_at =
        now_ms().saturating_add(i64::try_from(ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX));
    db.write(|tx| {
        let exists = tx
            .query_row("SELECT 1 FROM projects WHERE id = ?1", [project_id], |_| {
                Ok(())
            })
            .optional()?
            .is_some();
        if !exists {
            return Err(Error::not_found("project"));
        }
        tx.execute(
            "INSERT INTO invites (id, code_hash, project_id, role, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                sha256_hex(&normalize_code(&code)),
                project_id,
                role.as_str(),
                now_ms(),
                expires_at
            ],
        )?;
        Ok(())
    })?;
    Ok(InviteResponse {
        invite_id: id,
        code,
        project_id: project_id.to_string(),
        role,
        expires_at: rfc3339(expires_at),
    })
}

/// An operator's token for the admin routes.
pub fn create_admin_token(db: &Db, label: &str) -> Result<AdminToken> {
    check_typed_text("invalid_label", "the token's label", label, Some(200))?;
    let token = new_token();
    let id = new_id();
    db.write(|tx| {
        tx.execute(
            "INSERT INTO principals (id, token_hash, role, project_id, label, created_at)
             VALUES (?1, ?2, 'admin', NULL, ?3, ?4)",
            params![id, sha256_hex(&token), label, now_ms()],
        )?;
        Ok(())
    })?;
    Ok(AdminToken { id, token })
}

/// Revokes an invite or a device's token by its id.
pub fn revoke(db: &Db, id: &str) -> Result<Revoked> {
    db.write(|tx| {
        let now = now_ms();
        if tx.execute(
            "UPDATE invites SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
            params![id, now],
        )? > 0
        {
            return Ok(Revoked::Invite);
        }
        if tx.execute(
            "UPDATE principals SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
            params![id, now],
        )? > 0
        {
            return Ok(Revoked::Token);
        }
        Err(Error::refused(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no invite or device with id '{id}'"),
        ))
    })
}

/// Spends an invite code: a new device token for its project and role. With `expected`,
/// an invite for another role is refused and stays unspent.
pub fn enrol(
    db: &Db,
    code: &str,
    device_label: &str,
    expected: Option<Role>,
) -> Result<EnrolResponse> {
    let label = device_label.trim();
    check_typed_text("invalid_label", "the device's label", label, None)?;
    let hash = sha256_hex(&normalize_code(code));
    let token = new_token();
    let id = new_id();
    let (role, project_id, config) = db.write(|tx| {
        let invite = tx
            .query_row(
                "SELECT i.id, i.role, i.project_id, i.expires_at, i.used_at, i.revoked_at, p.config
                 FROM invites i JOIN projects p ON p.id = i.project_id WHERE i.code_hash = ?1",
                [&hash],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                },
            )
            .optional()?;
        let refused = |message: &str| {
            Error::refused(StatusCode::FORBIDDEN, "invalid_invite", message.to_string())
        };
        let Some((invite_id, role, project_id, expires_at, used_at, revoked_at, config)) = invite
        else {
            return Err(refused(
                "this invite code is not known; check it or ask for a new one",
            ));
        };
        if used_at.is_some() {
            return Err(refused(
                "this invite code was already used; each code enrols one device",
            ));
        }
        if revoked_at.is_some() {
            return Err(refused("this invite code was revoked; ask for a new one"));
        }
        if expires_at <= now_ms() {
            return Err(refused("this invite code has expired; ask for a new one"));
        }
        if let Some(expected) = expected
            && expected.as_str() != role
        {
            return Err(Error::refused(
                StatusCode::FORBIDDEN,
                "wrong_role",
                format!(
                    "this invite code is for a {role}, and this device enrols as a {}; the code was not used and still works where a {role} enrols",
                    expected.as_str()
                ),
            ));
        }
        tx.execute(
            "UPDATE invites SET used_at = ?2 WHERE id = ?1",
            params![invite_id, now_ms()],
        )?;
        tx.execute(
            "INSERT INTO principals (id, token_hash, role, project_id, label, invite_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, sha256_hex(&token), role, project_id, label, invite_id, now_ms()],
        )?;
        Ok((role, project_id, config))
    })?;
    Ok(EnrolResponse {
        token,
        reporter_id: id,
        role: Role::parse(&role).unwrap_or(Role::Reporter),
        project_id,
        project: serde_json::from_str(&config)
            .map_err(|e| Error::Config(format!("stored project configuration: {e}")))?,
    })
}
