//! How sync requests reach the server. The core prepares every request (method, URL,
//! headers and a body that is either small bytes or a byte range of a recording) and a
//! `Transport` only sends it and hands back status, headers and body; what happens next is
//! decided by the core. `HttpTransport` (tellus-net: hyper over rustls with the one trust
//! decision) is the default. A phone shell can plug in its own (iOS uploads in the
//! background only from a file through URLSession): for that,
//! `PreparedRequest::write_body_file` writes a chunk to a standalone file, and the
//! request's `server_pin` tells the shell's TLS check (`tellus_net::Trust::check_chain`)
//! whom to trust.

use std::future::Future;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tellus_net::http::{bytes_body, empty_body, read_body, stream_body};
use tellus_net::{CertificateDer, CertificatePin, HttpClient, NetError, Trust};

/// The HTTP methods the protocol uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }
}

/// What a request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    None,
    /// A small body held in memory (JSON documents, consent events).
    Bytes(Vec<u8>),
    /// `len` bytes of the file at `path` from `offset`: a chunk of a recording, streamed
    /// from the file, never loaded whole.
    FileRange {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

impl RequestBody {
    pub fn len(&self) -> u64 {
        match self {
            RequestBody::None => 0,
            RequestBody::Bytes(bytes) => bytes.len() as u64,
            RequestBody::FileRange { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One request, fully decided by the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedRequest {
    pub method: Method,
    pub url: String,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: RequestBody,
    /// The server's key as the invite pinned it (a self-signed server): trust only that
    /// key. None: the web PKI (tellus_net::Trust).
    pub server_pin: Option<CertificatePin>,
}

impl PreparedRequest {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        PreparedRequest {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: RequestBody::None,
            server_pin: None,
        }
    }

    /// The trust this request's server needs (see `server_pin`).
    pub fn trust(&self) -> Trust {
        Trust::for_server(self.server_pin)
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    pub fn body(mut self, body: RequestBody) -> Self {
        self.body = body;
        self
    }

    /// Writes the body to a standalone file at `dest`, for transports that can only
    /// upload from a file (iOS background URLSession). A file range is copied through a
    /// small buffer; the recording is never read whole into memory.
    pub fn write_body_file(&self, dest: &Path) -> std::io::Result<()> {
        let mut out = std::fs::File::create(dest)?;
        match &self.body {
            RequestBody::None => {}
            RequestBody::Bytes(bytes) => out.write_all(bytes)?,
            RequestBody::FileRange { path, offset, len } => {
                let mut file = std::fs::File::open(path)?;
                file.seek(SeekFrom::Start(*offset))?;
                let copied = std::io::copy(&mut file.take(*len), &mut out)?;
                if copied != *len {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the recording is shorter than the chunk to send",
                    ));
                }
            }
        }
        out.sync_all()
    }
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportResponse {
    pub status: u16,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl TransportResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The request did not get an answer: the network, not the server, failed (whatever part
/// of a body was sent may have arrived; the core asks the server what it holds), or the
/// server's certificate was not trusted (nothing was sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    pub message: String,
    pub kind: TransportFailure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    /// Refused, reset, timed out, cut: try again later.
    Network,
    /// The server's certificate was refused: retrying will not help until the server or
    /// this device's enrolment changes.
    ServerNotTrusted,
}

impl TransportError {
    pub fn network(message: impl Into<String>) -> Self {
        TransportError {
            message: message.into(),
            kind: TransportFailure::Network,
        }
    }

    pub fn not_trusted(message: impl Into<String>) -> Self {
        TransportError {
            message: message.into(),
            kind: TransportFailure::ServerNotTrusted,
        }
    }

    pub fn is_not_trusted(&self) -> bool {
        self.kind == TransportFailure::ServerNotTrusted
    }
}

impl From<NetError> for TransportError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::NotTrusted(why) => TransportError::not_trusted(why.0),
            NetError::Network(why) => TransportError::network(why),
        }
    }
}

pub type TransportFuture<'a> =
    Pin<Box<dyn Future<Output = Result<TransportResponse, TransportError>> + Send + 'a>>;

/// Sends prepared requests. Implementations must send exactly the headers and body given
/// (a file range as those bytes of the file) and report any failure to get a complete
/// response as a `TransportError`.
pub trait Transport: Send + Sync {
    fn send(&self, request: PreparedRequest) -> TransportFuture<'_>;

    /// Like `send`, adding to `sent` the body bytes as they leave, for progress while a
    /// long body is on its way. The default leaves `sent` alone.
    fn send_counting(&self, request: PreparedRequest, sent: Arc<AtomicU64>) -> TransportFuture<'_> {
        let _ = sent;
        self.send(request)
    }

    /// Whether `send_counting` counts. A transport that cannot (a platform's, which
    /// hands a file to the system) is given a recording in chunks, so that progress
    /// still moves with each answered chunk instead of once per recording.
    fn counts_sent_bytes(&self) -> bool {
        false
    }
}

/// How long a request may make no progress at all (no body bytes sent, no answer)
/// before it is abandoned as stalled.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Size of each piece read from a recording while streaming a body. 256 KiB measured
/// best on loopback (64 KiB cost the client more CPU; 1 MiB pieces reached the server in
/// larger frames that it batched worse).
const STREAM_BUFFER: usize = 256 * 1024;
/// Pieces queued ahead of the socket. Memory per upload is about this many pieces plus
/// the one being read and the one hyper holds: about 1.5 MiB.
const READ_AHEAD: usize = 4;

/// The default transport: tellus-net's HTTP client (hyper over rustls, the one trust
/// decision), streaming file ranges. One pooled client per trust a request asks for.
pub struct HttpTransport {
    clients: std::sync::Mutex<Vec<(Option<CertificatePin>, HttpClient)>>,
    extra_roots: Vec<CertificateDer<'static>>,
    stall_timeout: Duration,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl HttpTransport {
    pub fn new() -> Result<Self, TransportError> {
        Self::with_stall_timeout(DEFAULT_STALL_TIMEOUT)
    }

    pub fn with_stall_timeout(stall_timeout: Duration) -> Result<Self, TransportError> {
        Ok(HttpTransport {
            clients: std::sync::Mutex::new(Vec::new()),
            extra_roots: Vec::new(),
            stall_timeout,
        })
    }

    /// Also trusts `root` for servers without a pin (a private CA; tests).
    pub fn with_root(mut self, root: CertificateDer<'static>) -> Self {
        self.extra_roots.push(root);
        self
    }

    fn client_for(&self, pin: Option<CertificatePin>) -> Result<HttpClient, TransportError> {
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| TransportError::network("the HTTP clients' lock was poisoned"))?;
        if let Some((_, client)) = clients.iter().find(|(p, _)| *p == pin) {
            return Ok(client.clone());
        }
        let trust = self
            .extra_roots
            .iter()
            .fold(Trust::for_server(pin), |t, root| t.with_root(root.clone()));
        let client = HttpClient::new(&trust, CONNECT_TIMEOUT)?;
        clients.push((pin, client.clone()));
        Ok(client)
    }

    /// Sends `request`, giving it up once it has made no progress for `stall_timeout`:
    /// a link that stalls (bytes neither leave nor arrive) is cut, a slow one that keeps
    /// moving never is.
    async fn send_watched(
        &self,
        request: PreparedRequest,
        sent: Option<Arc<AtomicU64>>,
    ) -> Result<TransportResponse, TransportError> {
        let progress = Arc::new(Progress {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        });
        let work = self.send_inner(request, progress.clone(), sent);
        tokio::pin!(work);
        loop {
            tokio::select! {
                result = &mut work => return result,
                _ = tokio::time::sleep(Duration::from_millis(250)) => {
                    if progress.idle() > self.stall_timeout {
                        return Err(TransportError::network(format!(
                            "the connection stalled for {} s", self.stall_timeout.as_secs()
                        )));
                    }
                }
            }
        }
    }

    async fn send_inner(
        &self,
        request: PreparedRequest,
        progress: Arc<Progress>,
        sent: Option<Arc<AtomicU64>>,
    ) -> Result<TransportResponse, TransportError> {
        let client = self.client_for(request.server_pin)?;
        let method = request.method.as_str();
        let path = request
            .url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
            .unwrap_or_default();
        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(&request.url)
            .header("user-agent", concat!("tellus/", env!("CARGO_PKG_VERSION")));
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let body = match request.body {
            RequestBody::None => empty_body(),
            RequestBody::Bytes(bytes) => bytes_body(bytes),
            RequestBody::FileRange { path, offset, len } => {
                let file = std::fs::File::open(&path).map_err(|e| {
                    TransportError::network(format!("cannot read the recording: {e}"))
                })?;
                let seen = progress.clone();
                let stream = read_ahead(file, offset, len).map(move |read| {
                    seen.touch();
                    if let (Some(sent), Ok(bytes)) = (&sent, &read) {
                        sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    }
                    read.map(bytes::Bytes::from)
                });
                builder = builder.header("content-length", len);
                stream_body(stream)
            }
        };
        let request = builder
            .body(body)
            .map_err(|e| TransportError::network(format!("cannot make the request: {e}")))?;
        let started = Instant::now();
        let response = client.send(request).await.inspect_err(|e| {
            tracing::debug!(%method, %path, error = %e, "request failed");
        })?;
        progress.touch();
        let status = response.status().as_u16();
        // Ids only: the protocol's paths name stories, recordings and uploads by UUID.
        tracing::debug!(%method, %path, status, ms = started.elapsed().as_millis() as u64, "request");
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let body = read_body(response.into_body()).await?.to_vec();
        Ok(TransportResponse {
            status,
            headers,
            body,
        })
    }
}

/// `len` bytes of `file` from `offset` as a stream of `STREAM_BUFFER` pieces, read on a
/// blocking thread up to `READ_AHEAD` pieces ahead of the socket, so the next piece is
/// ready when the last one has gone (reading on demand left the link idle for each read).
/// A file shorter than the range ends the stream with an error: the request fails and
/// the server keeps what arrived. The reading thread is one of tokio's blocking pool for
/// as long as the body is on its way (or until the stall watchdog drops the request); a
/// shell that shrinks that pool to a handful of threads would have to count it.
fn read_ahead(
    mut file: std::fs::File,
    offset: u64,
    len: u64,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut left = len;
        if let Err(e) = file.seek(SeekFrom::Start(offset)) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        while left > 0 {
            let want = left.min(STREAM_BUFFER as u64);
            // read_to_end fills the spare capacity without zeroing it first.
            let mut piece = Vec::with_capacity(want as usize);
            let read = match (&mut file).take(want).read_to_end(&mut piece) {
                Ok(n) if n as u64 == want => Ok(piece),
                Ok(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the recording is shorter than the chunk to send",
                )),
                Err(e) => Err(e),
            };
            let failed = read.is_err();
            left -= want;
            // The request is gone (finished, cut or cancelled): stop reading.
            if tx.blocking_send(read).is_err() || failed {
                return;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|piece| (piece, rx))
    })
}

/// When a request last made progress, for the stall watchdog.
struct Progress {
    start: Instant,
    last_ms: AtomicU64,
}

impl Progress {
    fn touch(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let now = self.start.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

impl Transport for HttpTransport {
    fn send(&self, request: PreparedRequest) -> TransportFuture<'_> {
        Box::pin(self.send_watched(request, None))
    }

    fn send_counting(&self, request: PreparedRequest, sent: Arc<AtomicU64>) -> TransportFuture<'_> {
        Box::pin(self.send_watched(request, Some(sent)))
    }

    fn counts_sent_bytes(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_streamed_range_is_exactly_those_bytes_and_a_short_file_ends_in_an_error() {
        use futures_util::StreamExt;
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("audio.wav");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&source, &data).unwrap();
        let open = || std::fs::File::open(&source).unwrap();

        // Several pieces, an offset and a length that are not multiples of a piece.
        let pieces: Vec<_> = read_ahead(open(), 12_345, 2_500_000).collect().await;
        assert!(pieces.len() > 2);
        let streamed: Vec<u8> = pieces.into_iter().flat_map(|p| p.unwrap()).collect();
        assert_eq!(streamed, &data[12_345..2_512_345]);

        let pieces: Vec<_> = read_ahead(open(), 2_000_000, 1_500_000).collect().await;
        let (last, whole) = pieces.split_last().unwrap();
        assert!(whole.iter().all(|p| p.is_ok()));
        assert_eq!(
            last.as_ref().unwrap_err().kind(),
            std::io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn a_chunk_file_holds_exactly_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("audio.wav");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&source, &data).unwrap();
        let request =
            PreparedRequest::new(Method::Patch, "http://x/").body(RequestBody::FileRange {
                path: source.clone(),
                offset: 1234,
                len: 50_000,
            });
        let chunk = dir.path().join("chunk");
        request.write_body_file(&chunk).unwrap();
        assert_eq!(std::fs::read(&chunk).unwrap(), &data[1234..51_234]);

        let too_long =
            PreparedRequest::new(Method::Patch, "http://x/").body(RequestBody::FileRange {
                path: source,
                offset: 90_000,
                len: 50_000,
            });
        assert!(too_long.write_body_file(&chunk).is_err());
    }
}
