//! Accounts: projects, invites, principals (enrolled devices and operators' tokens) and
//! the bearer tokens that name them. The decisions (is this invite still good? what
//! became of it?) are the pure functions of `admin`, which every backend applies.

use serde::Serialize;
use tellus_protocol::Role;

use crate::error::Result;

/// A project as it is created: its id, name and configuration (JSON text).
#[derive(Debug, Clone)]
pub struct NewProject {
    pub id: String,
    pub name: String,
    pub config: String,
    pub created_at: i64,
}

/// A single-use invite, kept only as the hash of its code.
#[derive(Debug, Clone)]
pub struct NewInvite {
    pub id: String,
    pub code_hash: String,
    pub project_id: String,
    pub role: Role,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A device (reporter or lead) or an operator's token, kept only as the token's hash.
#[derive(Debug, Clone)]
pub struct NewPrincipal {
    pub id: String,
    pub token_hash: String,
    pub label: String,
    pub created_at: i64,
}

/// An invite as enrolment finds it, for `admin::invite_refusal`.
#[derive(Debug, Clone)]
pub struct InviteFound {
    pub role: String,
    pub expires_at: i64,
    pub used: bool,
    pub revoked: bool,
}

/// What spending an invite gave: the new device's role and project, and the project's
/// stored configuration (JSON text).
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub role: Role,
    pub project_id: String,
    pub config: String,
}

/// A principal found by its token's hash.
#[derive(Debug, Clone)]
pub struct StoredPrincipal {
    pub id: String,
    pub role: Role,
    pub project_id: Option<String>,
    pub revoked: bool,
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

pub trait Accounts {
    /// Creates a project; 409 `project_exists` when its id is taken.
    fn create_project(&self, project: &NewProject) -> Result<()>;

    /// A project's stored configuration (JSON text), None for an unknown project.
    fn project_config(&self, project_id: &str) -> Result<Option<String>>;

    /// Keeps a new invite; 404 when its project does not exist.
    fn create_invite(&self, invite: &NewInvite) -> Result<()>;

    /// Keeps a new operator's token (role admin, no project).
    fn create_admin_token(&self, token: &NewPrincipal) -> Result<()>;

    /// Revokes the invite or the principal with this id (again is harmless); None when
    /// neither exists.
    fn revoke(&self, id: &str, at: i64) -> Result<Option<Revoked>>;

    /// Spends the invite whose code hashes to `code_hash` and keeps `device` for its
    /// project and role, in one transaction; refused (and the invite left unspent) as
    /// `admin::invite_refusal` says.
    fn enrol(
        &self,
        code_hash: &str,
        device: &NewPrincipal,
        expected: Option<Role>,
    ) -> Result<Enrolled>;

    /// The principal whose token hashes to `token_hash`.
    fn principal_by_token(&self, token_hash: &str) -> Result<Option<StoredPrincipal>>;

    /// Every device and token, oldest first.
    fn list_devices(&self) -> Result<Vec<DeviceListed>>;

    /// Every invite, oldest first, with what became of it by `now`.
    fn list_invites(&self, now: i64) -> Result<Vec<InviteListed>>;
}
