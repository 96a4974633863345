//! Accounts in PostgreSQL: tables `projects`, `invites` and `principals`. The decisions
//! are `admin`'s, as in SQLite.

use sqlx_core::row::Row;
use tellus_protocol::Role;

use super::{PgData, q};
use crate::admin::{invite_refusal, invite_state};
use crate::clock::{now_ms, rfc3339};
use crate::data::accounts::{
    Accounts, DeviceListed, Enrolled, InviteFound, InviteListed, NewInvite, NewPrincipal,
    NewProject, Revoked, StoredPrincipal,
};
use crate::error::{Error, Result};

fn parse_role(role: &str) -> Result<Role> {
    Role::parse(role)
        .ok_or_else(|| Error::internal(format!("unknown role '{role}' in the database")))
}

impl Accounts for PgData {
    fn create_project(&self, project: &NewProject) -> Result<()> {
        in_tx!(self, |tx| {
            // ON CONFLICT rather than look-then-insert: two replicas may race.
            let made = q(
                "INSERT INTO projects (id, name, config, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&project.id)
            .bind(&project.name)
            .bind(&project.config)
            .bind(project.created_at)
            .execute(&mut *tx)
            .await?;
            if made.rows_affected() == 0 {
                return Err(Error::conflict(
                    "project_exists",
                    format!("a project with id '{}' already exists", project.id),
                ));
            }
        })
    }

    fn project_config(&self, project_id: &str) -> Result<Option<String>> {
        with_conn!(self, |conn| {
            q("SELECT config FROM projects WHERE id = $1")
                .bind(project_id)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get::<String, _>(0))
                .transpose()?
        })
    }

    fn create_invite(&self, invite: &NewInvite) -> Result<()> {
        in_tx!(self, |tx| {
            let exists = q("SELECT 1 FROM projects WHERE id = $1 FOR SHARE")
                .bind(&invite.project_id)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if !exists {
                return Err(Error::not_found("project"));
            }
            q(
                "INSERT INTO invites (id, code_hash, project_id, role, created_at, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&invite.id)
            .bind(&invite.code_hash)
            .bind(&invite.project_id)
            .bind(invite.role.as_str())
            .bind(invite.created_at)
            .bind(invite.expires_at)
            .execute(&mut *tx)
            .await?;
        })
    }

    fn create_admin_token(&self, token: &NewPrincipal) -> Result<()> {
        in_tx!(self, |tx| {
            q(
                "INSERT INTO principals (id, token_hash, role, project_id, label, created_at)
               VALUES ($1, $2, 'admin', NULL, $3, $4)",
            )
            .bind(&token.id)
            .bind(&token.token_hash)
            .bind(&token.label)
            .bind(token.created_at)
            .execute(&mut *tx)
            .await?;
        })
    }

    fn revoke(&self, id: &str, at: i64) -> Result<Option<Revoked>> {
        in_tx!(self, |tx| {
            let invite =
                q("UPDATE invites SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            if invite.rows_affected() > 0 {
                Some(Revoked::Invite)
            } else {
                let token =
                    q("UPDATE principals SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
                        .bind(id)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                (token.rows_affected() > 0).then_some(Revoked::Token)
            }
        })
    }

    fn enrol(
        &self,
        code_hash: &str,
        device: &NewPrincipal,
        expected: Option<Role>,
    ) -> Result<Enrolled> {
        in_tx!(self, |tx| {
            // FOR UPDATE: two enrolments with one code (on two replicas) cannot both
            // find it unused.
            let row = q(
                "SELECT i.id, i.role, i.project_id, i.expires_at, i.used_at, i.revoked_at, p.config
                 FROM invites i JOIN projects p ON p.id = i.project_id WHERE i.code_hash = $1
                 FOR UPDATE OF i",
            )
            .bind(code_hash)
            .fetch_optional(&mut *tx)
            .await?;
            let (invite_id, found, project_id, config) = match row {
                Some(r) => (
                    r.try_get::<String, _>(0)?,
                    Some(InviteFound {
                        role: r.try_get(1)?,
                        expires_at: r.try_get(3)?,
                        used: r.try_get::<Option<i64>, _>(4)?.is_some(),
                        revoked: r.try_get::<Option<i64>, _>(5)?.is_some(),
                    }),
                    r.try_get::<String, _>(2)?,
                    r.try_get::<String, _>(6)?,
                ),
                None => (String::new(), None, String::new(), String::new()),
            };
            if let Some(refusal) = invite_refusal(found.as_ref(), now_ms(), expected) {
                return Err(refusal);
            }
            let role = found.map(|f| f.role).unwrap_or_default();
            q("UPDATE invites SET used_at = $2 WHERE id = $1")
                .bind(&invite_id)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            q("INSERT INTO principals (id, token_hash, role, project_id, label, invite_id, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&device.id)
            .bind(&device.token_hash)
            .bind(&role)
            .bind(&project_id)
            .bind(&device.label)
            .bind(&invite_id)
            .bind(device.created_at)
            .execute(&mut *tx)
            .await?;
            Enrolled {
                role: Role::parse(&role).unwrap_or(Role::Reporter),
                project_id,
                config,
            }
        })
    }

    fn principal_by_token(&self, token_hash: &str) -> Result<Option<StoredPrincipal>> {
        let row = with_conn!(self, |conn| {
            q("SELECT id, role, project_id, revoked_at FROM principals WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&mut *conn)
                .await?
        })?;
        row.map(|r| {
            Ok(StoredPrincipal {
                id: r.try_get(0)?,
                role: parse_role(&r.try_get::<String, _>(1)?)?,
                project_id: r.try_get(2)?,
                revoked: r.try_get::<Option<i64>, _>(3)?.is_some(),
            })
        })
        .transpose()
    }

    fn list_devices(&self) -> Result<Vec<DeviceListed>> {
        let rows = with_conn!(self, |conn| {
            q(
                "SELECT id, role, project_id, label, created_at, revoked_at FROM principals
               ORDER BY created_at, id",
            )
            .fetch_all(&mut *conn)
            .await?
        })?;
        rows.iter()
            .map(|r| {
                Ok(DeviceListed {
                    id: r.try_get(0)?,
                    role: r.try_get(1)?,
                    project_id: r.try_get(2)?,
                    label: r.try_get(3)?,
                    created_at: rfc3339(r.try_get(4)?),
                    revoked_at: r.try_get::<Option<i64>, _>(5)?.map(rfc3339),
                })
            })
            .collect()
    }

    fn list_invites(&self, now: i64) -> Result<Vec<InviteListed>> {
        let rows = with_conn!(self, |conn| {
            q(
                "SELECT i.id, i.role, i.project_id, i.created_at, i.expires_at, i.used_at,
                      i.revoked_at, (SELECT p.id FROM principals p WHERE p.invite_id = i.id)
               FROM invites i ORDER BY i.created_at, i.id",
            )
            .fetch_all(&mut *conn)
            .await?
        })?;
        rows.iter()
            .map(|r| {
                let expires_at: i64 = r.try_get(4)?;
                let found = InviteFound {
                    role: r.try_get(1)?,
                    expires_at,
                    used: r.try_get::<Option<i64>, _>(5)?.is_some(),
                    revoked: r.try_get::<Option<i64>, _>(6)?.is_some(),
                };
                Ok(InviteListed {
                    id: r.try_get(0)?,
                    state: invite_state(&found, now),
                    role: found.role,
                    project_id: r.try_get(2)?,
                    created_at: rfc3339(r.try_get(3)?),
                    expires_at: rfc3339(expires_at),
                    device_id: r.try_get(7)?,
                })
            })
            .collect()
    }
}
