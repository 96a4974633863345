//! The server's settings: defaults, overridden by a TOML file, overridden by flags and
//! environment (the CLI applies those last).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on, e.g. "127.0.0.1:8080" (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Holds `server.db`, `audio/` and `spool/` (empty: the caller chooses; the CLI
    /// uses `<user data folder>/server`).
    pub data_dir: PathBuf,
    /// What a story may hold (`[limits]`): enforced on every story and upload, and sent
    /// to phones with the project configuration so they refuse the same at input.
    pub limits: tellus_protocol::Limits,
    /// Largest JSON request body other than a story document (`limits.document_bytes`),
    /// in bytes.
    pub max_json_bytes: usize,
    /// An unfinished upload is deleted this long after it was created.
    pub upload_expiry_secs: u64,
    /// How long an invite code stays valid.
    pub invite_expiry_secs: u64,
    /// Most changes per feed page.
    pub feed_page_max: u32,
    /// A request body that sends nothing for this long counts as cut (its received
    /// prefix is kept).
    pub body_idle_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::new(),
            limits: tellus_protocol::Limits::default(),
            max_json_bytes: 1024 * 1024,
            upload_expiry_secs: 7 * 24 * 3600,
            invite_expiry_secs: 14 * 24 * 3600,
            feed_page_max: 500,
            body_idle_timeout_secs: 30,
        }
    }
}

impl ServerConfig {
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("server.db")
    }

    pub fn audio_dir(&self) -> PathBuf {
        self.data_dir.join("audio")
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.data_dir.join("spool")
    }
}
