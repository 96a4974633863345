use std::collections::BTreeSet;

use rusqlite::{OptionalExtension, Transaction, params};

use super::Store;
use crate::error::{Error, Result};
use crate::model::{ProjectConfig, Timestamp};

pub(crate) fn load(tx: &Transaction<'_>) -> Result<ProjectConfig> {
    let json: Option<String> = tx
        .query_row(
            "SELECT config_json FROM project WHERE singleton = 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    ProjectConfig::from_json(&json.ok_or(Error::NoProject)?)
}

impl Store {
    /// The project this data folder belongs to.
    pub fn project(&self) -> Result<ProjectConfig> {
        self.read(load)
    }

    /// Sets or replaces the project configuration. A new configuration must keep every
    /// consent form version that recorded consent refers to, so that what a storyteller
    /// agreed to can always be read back.
    pub fn set_project(&self, config: &ProjectConfig) -> Result<()> {
        config.validate()?;
        self.write(|tx| {
            match load(tx) {
                Ok(current) if current.id != config.id => {
                    return Err(Error::invalid(format!(
                        "this data folder belongs to project {}, not {}",
                        current.id, config.id
                    )));
                }
                Ok(_) | Err(Error::NoProject) => {}
                Err(other) => return Err(other),
            }
            let mut stmt = tx.prepare(
                "SELECT DISTINCT form_id, form_version FROM consent_events WHERE form_id IS NOT NULL",
            )?;
            let used: BTreeSet<(String, u32)> = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            if let Some((id, version)) = used.iter().find(|(id, v)| config.form(id, *v).is_none()) {
                return Err(Error::Config(format!(
                    "consent form {id} version {version} is still referred to by recorded consent and cannot be removed"
                )));
            }
            tx.execute(
                "INSERT INTO project (singleton, config_json, updated_at) VALUES (1, ?1, ?2)
                 ON CONFLICT (singleton) DO UPDATE SET config_json = ?1, updated_at = ?2",
                params![config.to_json(), Timestamp::now()],
            )?;
            Ok(())
        })
    }
}
