//! A lead's enrolments, one per server, kept in a small JSON file readable only by its
//! owner (the CLI keeps it in its data folder), so that `tellus pull` needs no token on
//! the command line or in the environment after `tellus enrol --lead`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::client;
use crate::fsutil::{Access, Durability, replace_file};
use crate::{Error, Result};

/// The enrolments file's name in a data folder.
pub const FILE_NAME: &str = "lead-accounts.json";

/// One enrolment: the server (normalised), the lead's token and who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadAccount {
    pub server: String,
    pub token: String,
    pub lead_id: String,
    pub project_id: String,
    /// The pin of the server's key when the invite carried one (`sha256:…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
}

impl LeadAccount {
    /// The pin, read back.
    pub fn pin(&self) -> Result<Option<tellus_net::CertificatePin>> {
        self.pin
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| Error::Folder(format!("the enrolment's pin for {}: {e}", self.server)))
    }
}

/// Every server this computer is enrolled with as a lead, by normalised address.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LeadAccounts {
    servers: BTreeMap<String, LeadAccount>,
}

impl LeadAccounts {
    /// The enrolments kept at `path`; none when the file does not exist yet.
    pub fn load(path: &Path) -> Result<Self> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::Folder(format!(
                    "{} cannot be read ({e}); enrol again with `tellus enrol --lead`",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LeadAccounts::default()),
            Err(e) => Err(Error::io_at("read", path, e)),
        }
    }

    /// The enrolment with `server`, however its address is written.
    pub fn get(&self, server: &str) -> Option<&LeadAccount> {
        let key = client::server_identity(server).ok()?;
        self.servers.get(&key)
    }

    /// Keeps `account`, replacing an earlier enrolment with the same server.
    /// The servers this computer is enrolled with as a lead.
    pub fn servers(&self) -> impl Iterator<Item = &str> {
        self.servers.keys().map(String::as_str)
    }

    pub fn insert(&mut self, account: LeadAccount) {
        self.servers.insert(account.server.clone(), account);
    }

    /// Writes the file atomically, readable and writable by its owner only.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Protocol(format!("cannot encode the enrolments: {e}")))?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io_at("create", parent, e))?;
        }
        let tmp = path.with_extension("json.tmp");
        replace_file(path, &tmp, &bytes, Access::OwnerOnly, Durability::Now)
    }
}

/// Enrols this computer as a lead with a lead's invite (a code, or its link with the
/// server and pin) and keeps the enrolment in the file at `accounts`. A reporter's code
/// is refused by the server without being used.
pub async fn enrol(
    accounts: &Path,
    server: &str,
    invite_code: &str,
    device_label: &str,
) -> Result<LeadAccount> {
    // Read first: a damaged file is reported before the single-use code is spent.
    let mut known = LeadAccounts::load(accounts)?;
    let (server, enrolled, pin) = client::enrol(server, invite_code, device_label).await?;
    let account = LeadAccount {
        server: client::server_identity(&server)?,
        token: enrolled.token,
        lead_id: enrolled.reporter_id,
        project_id: enrolled.project_id,
        pin: pin.map(|p| p.to_string()),
    };
    known.insert(account.clone());
    known.save(accounts)?;
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrolments_round_trip_by_server_and_a_damaged_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leads").join("lead-accounts.json");
        let mut accounts = LeadAccounts::load(&path).unwrap();
        assert!(accounts.get("https://stories.example.org").is_none());
        let account = LeadAccount {
            server: client::server_identity("https://stories.example.org/").unwrap(),
            token: "secret".into(),
            lead_id: "lead-1".into(),
            project_id: "p".into(),
            pin: None,
        };
        accounts.insert(account.clone());
        accounts.save(&path).unwrap();
        let again = LeadAccounts::load(&path).unwrap();
        assert_eq!(again.get("https://stories.example.org"), Some(&account));
        assert_eq!(
            again.get("https://stories.example.org/api/v1"),
            Some(&account)
        );
        assert!(again.get("https://other.example.org").is_none());
        assert!(!path.with_extension("json.tmp").exists());

        std::fs::write(&path, b"{ not json").unwrap();
        let damaged = LeadAccounts::load(&path).unwrap_err().to_string();
        assert!(damaged.contains("enrol again"), "{damaged}");
    }
}
