//! The platform upload transport (DESIGN.md §6): iOS uploads in the background only
//! through URLSession, and only from a file. The core prepares every request; for one with
//! a body, this adapter first writes the body (a chunk of a recording, never the whole
//! file: this transport does not count bytes as they leave, so the core sends chunks of
//! at most 64 MiB) to a standalone chunk file, hands the shell the method, URL, headers and that
//! file, and gives the shell's answer back to the core, which decides what happens next:
//! the same resumable, verified delivery as the built-in reqwest transport.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tellus_core::sync::transport::TransportFuture;
use tellus_core::sync::{PreparedRequest, Transport, TransportError, TransportResponse};

use crate::error::TellusError;

/// One HTTP header.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

/// A request the core prepared, for the shell to send exactly as given.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PlatformRequest {
    /// "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" or "OPTIONS".
    pub method: String,
    pub url: String,
    /// Lowercase names. Send them all; a transport that sets Content-Length itself from
    /// the body file may skip that one.
    pub headers: Vec<HttpHeader>,
    /// The body to upload, as a file of `body_length` bytes; None for no body. The file
    /// belongs to the core: it is deleted once `send` returns.
    pub body_file: Option<String>,
    pub body_length: u64,
    /// Pass to `check_server_certificate` when the platform asks whether to trust the
    /// server (iOS: the URLSession delegate's server-trust challenge).
    pub server_pin: Option<String>,
}

/// What the server answered.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PlatformResponse {
    pub status: u16,
    pub headers: Vec<HttpHeader>,
    pub body: Vec<u8>,
}

/// Sends prepared requests through the platform's own HTTP stack. Return
/// `TellusError::Network` when no complete answer came back (the connection dropped, the
/// system cancelled the task): the core then asks the server what arrived and resumes.
/// The platform's own certificate check is not the decision: answer its server-trust
/// challenge with `check_server_certificate` (and `TellusError::ServerNotTrusted` when
/// that refused), so every platform trusts exactly what the core does.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait PlatformTransport: Send + Sync {
    async fn send(&self, request: PlatformRequest) -> Result<PlatformResponse, TellusError>;
}

/// The core's `Transport`, over the shell's `PlatformTransport`.
pub(crate) struct ShellTransport {
    shell: Arc<dyn PlatformTransport>,
    chunk_dir: PathBuf,
    next_chunk: AtomicU64,
}

impl ShellTransport {
    /// Chunk files live in `chunk_dir`; any left there by a crash are removed now.
    pub(crate) fn new(shell: Arc<dyn PlatformTransport>, chunk_dir: PathBuf) -> Self {
        if let Ok(entries) = std::fs::read_dir(&chunk_dir) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        ShellTransport {
            shell,
            chunk_dir,
            next_chunk: AtomicU64::new(0),
        }
    }

    async fn send_through_shell(
        &self,
        request: PreparedRequest,
    ) -> Result<TransportResponse, TransportError> {
        let body_length = request.body.len();
        let body_file = if request.body.is_empty() {
            None
        } else {
            let n = self.next_chunk.fetch_add(1, Ordering::Relaxed);
            let path = self
                .chunk_dir
                .join(format!("{}-{n}.chunk", std::process::id()));
            let (dir, file, prepared) = (self.chunk_dir.clone(), path.clone(), request.clone());
            tokio::task::spawn_blocking(move || {
                std::fs::create_dir_all(&dir)?;
                prepared.write_body_file(&file)
            })
            .await
            .map_err(|e| TransportError::network(format!("cannot prepare the chunk: {e}")))?
            .map_err(|e| TransportError::network(format!("cannot prepare the chunk file: {e}")))?;
            Some(path)
        };
        let platform = PlatformRequest {
            method: request.method.as_str().to_string(),
            url: request.url.clone(),
            headers: request
                .headers
                .iter()
                .map(|(name, value)| HttpHeader {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            body_file: body_file.as_ref().map(|p| p.display().to_string()),
            body_length,
            server_pin: request.server_pin.map(|p| p.to_string()),
        };
        let answer = self.shell.send(platform).await;
        if let Some(path) = body_file {
            let _ = std::fs::remove_file(path);
        }
        let response = answer.map_err(|e| match e {
            TellusError::ServerNotTrusted { reason } => TransportError::not_trusted(reason),
            other => TransportError::network(other.to_string()),
        })?;
        Ok(TransportResponse {
            status: response.status,
            headers: response
                .headers
                .into_iter()
                .map(|h| (h.name.to_ascii_lowercase(), h.value))
                .collect(),
            body: response.body,
        })
    }
}

impl Transport for ShellTransport {
    fn send(&self, request: PreparedRequest) -> TransportFuture<'_> {
        Box::pin(self.send_through_shell(request))
    }
}

/// The core's TLS trust decision (tellus_net::Trust) for a certificate chain a
/// platform's TLS stack received: `chain` in DER, the server's own certificate first;
/// `server_pin` as the `PlatformRequest` carried it. Ok: trust it; an error says why
/// not. The platform must still check the handshake proves the server holds the key
/// (URLSession does), and must not add its own trust on top (no "allow anyway").
#[uniffi::export]
pub fn check_server_certificate(
    host: String,
    chain: Vec<Vec<u8>>,
    server_pin: Option<String>,
) -> Result<(), TellusError> {
    let pin = server_pin
        .as_deref()
        .map(str::parse::<tellus_core::net::CertificatePin>)
        .transpose()
        .map_err(|e| TellusError::InvalidInput {
            reason: e.to_string(),
        })?;
    let chain: Vec<_> = chain
        .into_iter()
        .map(tellus_core::net::CertificateDer::from)
        .collect();
    tellus_core::net::Trust::for_server(pin)
        .check_chain(&host, &chain, tellus_core::net::UnixTime::now())
        .map_err(|why| TellusError::ServerNotTrusted { reason: why.0 })
}
