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
    /// A PostgreSQL database (`postgres://user:password@host:port/database`) holding
    /// what the server stores, for several replicas; absent, the embedded SQLite file
    /// `server.db` in `data_dir`. Audio and the upload spool stay in `data_dir`.
    pub database: Option<String>,
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
    /// A connection must have sent a whole request head this long after it opened (or
    /// after its previous request): half-sent and idle connections are closed.
    pub header_read_timeout_secs: u64,
    /// Every request other than an upload's body must be answered within this long
    /// (its body read and its handler run), else 408.
    pub request_timeout_secs: u64,
    /// Open connections at most; more are closed as they arrive. Lowered at start to fit
    /// under the process's open-file limit.
    pub max_connections: usize,
    /// Open connections from one client address at most (IPv6: one /64). Connections
    /// from a trusted proxy count only towards `max_connections`.
    pub max_connections_per_client: usize,
    /// On SIGTERM, requests in flight get this long to finish; then every connection is
    /// dropped (an upload keeps what arrived).
    pub shutdown_grace_secs: u64,
    /// Invite codes and lead sign-ins one client address may try at once, before it is
    /// held to one every `attempt_every_secs_per_client` (429 with `Retry-After`). Raise
    /// it when many phones enrol from behind one address (an office network's NAT).
    pub attempts_burst_per_client: u32,
    /// After its burst, one more attempt per client address this often.
    pub attempt_every_secs_per_client: u64,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for rate limits and
    /// logs). Empty: every peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Serve HTTPS with this certificate chain (PEM) and `tls_key`; both are read again
    /// when either file changes (certificate renewals).
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert` (PEM: PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    /// How often the certificate files are checked for a change.
    pub tls_reload_check_secs: u64,
    /// With TLS: also listen here for plain HTTP and redirect every request to HTTPS.
    pub redirect_http_from: Option<SocketAddr>,
    /// With TLS: `Strict-Transport-Security: max-age=` this (0: no HSTS header).
    pub hsts_max_age_secs: u64,
    /// `[transcribe]`: the engine that drafts transcripts (docs/transcripts.md).
    pub transcribe: crate::transcripts::TranscribeConfig,
    /// Where audio is kept: unset, the `audio/` folder of `data_dir`; else
    /// `s3://bucket[/prefix]?endpoint=...&region=...`,
    /// `az://container[/prefix]?account=...&access_key=...&endpoint=...` or `file:///folder`
    /// (docs/deploy.md).
    pub storage: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::new(),
            database: None,
            limits: tellus_protocol::Limits::default(),
            max_json_bytes: 1024 * 1024,
            upload_expiry_secs: 7 * 24 * 3600,
            invite_expiry_secs: 14 * 24 * 3600,
            feed_page_max: 500,
            body_idle_timeout_secs: 30,
            header_read_timeout_secs: 10,
            request_timeout_secs: 60,
            max_connections: 1024,
            max_connections_per_client: 64,
            shutdown_grace_secs: 10,
            attempts_burst_per_client: 10,
            attempt_every_secs_per_client: 6,
            trusted_proxies: Vec::new(),
            tls_cert: None,
            tls_key: None,
            tls_reload_check_secs: 10,
            redirect_http_from: None,
            hsts_max_age_secs: 365 * 24 * 3600,
            transcribe: Default::default(),
            storage: None,
        }
    }
}

impl ServerConfig {
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// Whether the server serves HTTPS itself; a certificate without a key (or the
    /// other way round) is a configuration error.
    pub fn tls(&self) -> Result<Option<(&Path, &Path)>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some((cert.as_path(), key.as_path()))),
            (None, None) => {
                if self.redirect_http_from.is_some() {
                    return Err(Error::Config(
                        "redirect_http_from needs tls_cert and tls_key: there is no HTTPS to redirect to".into(),
                    ));
                }
                Ok(None)
            }
            _ => Err(Error::Config(
                "tls_cert and tls_key go together: give both (or neither)".into(),
            )),
        }
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
