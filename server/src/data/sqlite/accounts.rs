//! Accounts in SQLite: tables `projects`, `invites` and `principals`.

use rusqlite::{OptionalExtension, params};
use tellus_protocol::Role;

use super::SqliteData;
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

impl Accounts for SqliteData {
    fn create_project(&self, project: &NewProject) -> Result<()> {
        self.db().write(|tx| {
            let exists = tx
                .query_row(
                    "SELECT 1 FROM projects WHERE id = ?1",
                    [&project.id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if exists {
                return Err(Error::conflict(
                    "project_exists",
                    format!("a project with id '{}' already exists", project.id),
                ));
            }
            tx.execute(
                "INSERT INTO projects (id, name, config, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![project.id, project.name, project.config, project.created_at],
            )?;
            Ok(())
        })
    }

    fn project_config(&self, project_id: &str) -> Result<Option<String>> {
        self.db().with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT config FROM projects WHERE id = ?1",
                    [project_id],
                    |r| r.get::<_, String>(0),
                )
                .optional()?)
        })
    }

    fn create_invite(&self, invite: &NewInvite) -> Result<()> {
        self.db().write(|tx| {
            let exists = tx
                .query_row(
                    "SELECT 1 FROM projects WHERE id = ?1",
                    [&invite.project_id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !exists {
                return Err(Error::not_found("project"));
            }
            tx.execute(
                "INSERT INTO invites (id, code_hash, project_id, role, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    invite.id,
                    invite.code_hash,
                    invite.project_id,
                    invite.role.as_str(),
                    invite.created_at,
                    invite.expires_at
                ],
            )?;
            Ok(())
        })
    }

    fn create_admin_token(&self, token: &NewPrincipal) -> Result<()> {
        self.db().write(|tx| {
            tx.execute(
                "INSERT INTO principals (id, token_hash, role, project_id, label, created_at)
                 VALUES (?1, ?2, 'admin', NULL, ?3, ?4)",
                params![token.id, token.token_hash, token.label, token.created_at],
            )?;
            Ok(())
        })
    }

    fn revoke(&self, id: &str, at: i64) -> Result<Option<Revoked>> {
        self.db().write(|tx| {
            if tx.execute(
                "UPDATE invites SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![id, at],
            )? > 0
            {
                return Ok(Some(Revoked::Invite));
            }
            if tx.execute(
                "UPDATE principals SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![id, at],
            )? > 0
            {
                return Ok(Some(Revoked::Token));
            }
            Ok(None)
        })
    }

    fn enrol(
        &self,
        code_hash: &str,
        device: &NewPrincipal,
        expected: Option<Role>,
    ) -> Result<Enrolled> {
        self.db().write(|tx| {
            let invite = tx
                .query_row(
                    "SELECT i.id, i.role, i.project_id, i.expires_at, i.used_at, i.revoked_at, p.config
                     FROM invites i JOIN projects p ON p.id = i.project_id WHERE i.code_hash = ?1",
                    [code_hash],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            InviteFound {
                                role: r.get(1)?,
                                expires_at: r.get(3)?,
                                used: r.get::<_, Option<i64>>(4)?.is_some(),
                                revoked: r.get::<_, Option<i64>>(5)?.is_some(),
                            },
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(6)?,
                        ))
                    },
                )
                .optional()?;
            let (invite_id, found, project_id, config) = match invite {
                Some((id, found, project_id, config)) => (id, Some(found), project_id, config),
                None => (String::new(), None, String::new(), String::new()),
            };
            if let Some(refusal) = invite_refusal(found.as_ref(), now_ms(), expected) {
                return Err(refusal);
            }
            let role = found.map(|f| f.role).unwrap_or_default();
            tx.execute(
                "UPDATE invites SET used_at = ?2 WHERE id = ?1",
                params![invite_id, now_ms()],
            )?;
            tx.execute(
                "INSERT INTO principals (id, token_hash, role, project_id, label, invite_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    device.id,
                    device.token_hash,
                    role,
                    project_id,
                    device.label,
                    invite_id,
                    device.created_at
                ],
            )?;
            Ok(Enrolled {
                role: Role::parse(&role).unwrap_or(Role::Reporter),
                project_id,
                config,
            })
        })
    }

    fn principal_by_token(&self, token_hash: &str) -> Result<Option<StoredPrincipal>> {
        let found = self.db().with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT id, role, project_id, revoked_at FROM principals WHERE token_hash = ?1",
                    [token_hash],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<String>>(2)?,
                            r.get::<_, Option<i64>>(3)?,
                        ))
                    },
                )
                .optional()?)
        })?;
        found
            .map(|(id, role, project_id, revoked_at)| {
                Ok(StoredPrincipal {
                    id,
                    role: parse_role(&role)?,
                    project_id,
                    revoked: revoked_at.is_some(),
                })
            })
            .transpose()
    }

    fn list_devices(&self) -> Result<Vec<DeviceListed>> {
        self.db().with(|c| {
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

    fn list_invites(&self, now: i64) -> Result<Vec<InviteListed>> {
        self.db().with(|c| {
            let mut stmt = c.prepare(
                "SELECT i.id, i.role, i.project_id, i.created_at, i.expires_at, i.used_at,
                        i.revoked_at, (SELECT p.id FROM principals p WHERE p.invite_id = i.id)
                 FROM invites i ORDER BY i.created_at, i.id",
            )?;
            let rows = stmt.query_map([], |r| {
                let expires_at: i64 = r.get(4)?;
                let found = InviteFound {
                    role: r.get(1)?,
                    expires_at,
                    used: r.get::<_, Option<i64>>(5)?.is_some(),
                    revoked: r.get::<_, Option<i64>>(6)?.is_some(),
                };
                Ok(InviteListed {
                    id: r.get(0)?,
                    state: invite_state(&found, now),
                    role: found.role,
                    project_id: r.get(2)?,
                    created_at: rfc3339(r.get(3)?),
                    expires_at: rfc3339(expires_at),
                    device_id: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}
