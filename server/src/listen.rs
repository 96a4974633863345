//! How the server meets the open internet: axum-server (hyper underneath) with a
//! header-read timeout, a first-request timeout, caps on connections overall and per
//! client address, HTTPS of its own (rustls, the certificate read again when its files
//! change), an optional plain-HTTP listener that only redirects to HTTPS, and a graceful
//! shutdown with a deadline after which connections are dropped.
//!
//! Why axum-server: it is hyper-util's connection builder with what a server facing the
//! internet needs already written and tested (TLS accept with a handshake timeout,
//! certificate hot swap, first-request timeout, graceful shutdown with a deadline,
//! connection counting), maintained beside axum. The one thing it lacks, connection caps,
//! is a listener here (`Limited`, through axum-server's `AddrListener`): at the overall
//! cap it stops accepting (the kernel's backlog holds newcomers), and a connection over
//! its client's cap is closed before it costs more than a moment, so the open files stay
//! under the caps even when thousands of connections arrive at once. The same listener
//! wraps each admitted TCP stream so that it closes lingering (`linger.rs`), beneath TLS,
//! so an answer sent before a body was read reaches the client over HTTP and HTTPS alike.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::Request;
use axum::extract::connect_info::Connected;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use axum_server::{AddrListener, Address, Handle, Server};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;

use crate::config::ServerConfig;
use crate::error::{Error, Result};
use crate::linger::Lingering;

/// Files the server keeps open besides its connections: the database and its WAL, the
/// spool and audio files of requests in flight, the listening sockets, the runtime.
const FILES_BESIDES_CONNECTIONS: u64 = 64;

/// The listening sockets, bound before the data folder is opened so that "address in
/// use" is the first error a misconfigured server reports.
pub(crate) struct Listeners {
    main: TcpListener,
    redirect: Option<TcpListener>,
    pub(crate) addr: SocketAddr,
    pub(crate) redirect_addr: Option<SocketAddr>,
}

pub(crate) async fn bind(config: &ServerConfig) -> Result<Listeners> {
    config.tls()?;
    let main = listen_on(config.listen).await?;
    let addr = local_addr(&main)?;
    let redirect = match config.redirect_http_from {
        Some(at) => Some(listen_on(at).await?),
        None => None,
    };
    let redirect_addr = redirect.as_ref().map(local_addr).transpose()?;
    Ok(Listeners {
        main,
        redirect,
        addr,
        redirect_addr,
    })
}

async fn listen_on(at: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(at)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {at}"), e))
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr> {
    listener
        .local_addr()
        .map_err(|e| Error::io("cannot read the listening address", e))
}

/// Serves `router` on the listeners until `shutdown` resolves; then requests in flight
/// get `shutdown_grace_secs` to finish, and whatever is still open is dropped.
pub(crate) async fn serve(
    listeners: Listeners,
    config: &ServerConfig,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let control = axum_server::Control::new();
    let max_connections = fit_to_open_file_limit(config.max_connections);
    let admission = Admission::new(
        max_connections,
        config.max_connections_per_client,
        config.trusted_proxies.clone(),
    );
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let stopper = {
        let control = control.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!(
                grace_secs = grace.as_secs(),
                "shutting down: finishing requests in flight"
            );
            control.graceful_shutdown(Some(grace));
        })
    };
    let redirect = listeners.redirect.map(|listener| {
        let router = redirect_router(listeners.addr.port());
        let server = Server::from_listener(admission.limit(listener))
            .handle(Handle::with_control(control.clone()));
        let server = configure(server, config_timeouts(config));
        tokio::spawn(async move {
            server
                .serve(router.into_make_service_with_connect_info::<SocketAddr>())
                .await
        })
    });
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let main = Server::from_listener(admission.limit(listeners.main))
        .handle(Handle::with_control(control));
    let served = match config.tls()? {
        Some((cert, key)) => {
            let tls = RustlsConfig::from_config(Arc::new(load_certificate(cert, key)?));
            let reloader = tokio::spawn(reload_on_change(
                tls.clone(),
                cert.to_path_buf(),
                key.to_path_buf(),
                Duration::from_secs(config.tls_reload_check_secs.max(1)),
            ));
            let acceptor = RustlsAcceptor::new(tls)
                .handshake_timeout(Duration::from_secs(config.header_read_timeout_secs));
            let served = configure(main.acceptor(acceptor), config_timeouts(config))
                .serve(service)
                .await;
            reloader.abort();
            served
        }
        None => {
            configure(main, config_timeouts(config))
                .serve(service)
                .await
        }
    };
    stopper.abort();
    if let Some(redirect) = redirect {
        redirect.abort();
    }
    served.map_err(|e| Error::io("the server stopped", e))
}

fn config_timeouts(config: &ServerConfig) -> Duration {
    Duration::from_secs(config.header_read_timeout_secs.max(1))
}

/// hyper's settings for a server facing the internet: HTTP/1.1 only (what every Tellus
/// client and browser here speaks, and less to defend than HTTP/2), a request head
/// within `header_timeout` of the connection opening or of the previous response, and
/// accept errors (the process out of files) logged rather than spun on.
fn configure<A>(mut server: Server<Peer, A>, header_timeout: Duration) -> Server<Peer, A> {
    server
        .http_builder()
        .http1()
        .header_read_timeout(header_timeout)
        .max_buf_size(64 * 1024);
    server
        .http1_only()
        .first_request_timeout(header_timeout)
        .accept_error_handler(|peer, e| {
            let peer = peer.map(|p| p.0);
            if peer.is_some() {
                // A TLS handshake that failed or timed out: the client's business.
                tracing::debug!(?peer, error = %e, "connection failed before its first request");
            } else {
                tracing::warn!(error = %e, "cannot accept a connection");
            }
        })
}

/// `max_connections`, lowered when the process may not open that many files (each
/// connection is one); the soft limit is raised towards the hard one first.
fn fit_to_open_file_limit(max_connections: usize) -> usize {
    #[cfg(unix)]
    {
        let wanted = max_connections as u64 + FILES_BESIDES_CONNECTIONS;
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return max_connections;
        }
        // rlim_t is u64 on the platforms served here, not everywhere.
        #[allow(clippy::unnecessary_cast)]
        let current = |l: &libc::rlimit| l.rlim_cur as u64;
        if current(&limit) < wanted {
            let raised = libc::rlimit {
                rlim_cur: (wanted as libc::rlim_t).min(limit.rlim_max),
                rlim_max: limit.rlim_max,
            };
            // SAFETY: as above.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                limit.rlim_cur = raised.rlim_cur;
            }
        }
        let room = current(&limit).saturating_sub(FILES_BESIDES_CONNECTIONS);
        if room < max_connections as u64 {
            let fitted = room.max(1) as usize;
            tracing::warn!(
                configured = max_connections,
                open_file_limit = current(&limit),
                max_connections = fitted,
                "max_connections lowered to fit under the open-file limit (raise `ulimit -n` to allow more)"
            );
            return fitted;
        }
    }
    max_connections
}

/// The plain-HTTP listener's whole job: send every request to the same path over HTTPS.
fn redirect_router(https_port: u16) -> Router {
    Router::new().fallback(move |request: Request| async move {
        match https_location(&request, https_port) {
            Some(location) => Redirect::permanent(&location).into_response(),
            None => Error::bad_request(
                "https_only",
                "this server answers over HTTPS only; send a Host header or use https://",
            )
            .into_response(),
        }
    })
}

fn https_location(request: &Request, https_port: u16) -> Option<String> {
    let host = request.headers().get(header::HOST)?.to_str().ok()?;
    // The Host header with its port dropped; an IPv6 literal keeps its brackets.
    let uri: Uri = format!("http://{host}/").parse().ok()?;
    let name = uri.host()?;
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    Some(format!("https://{name}{port}{path}"))
}

/// `Strict-Transport-Security`, for a server that serves HTTPS itself.
pub(crate) fn hsts_value(max_age_secs: u64) -> Option<HeaderValue> {
    (max_age_secs > 0)
        .then(|| HeaderValue::from_str(&format!("max-age={max_age_secs}")).ok())
        .flatten()
}

/// A certificate chain and its key as a rustls server configuration (ring, TLS 1.2 and
/// 1.3, HTTP/1.1 by ALPN). Every problem is named with its file.
pub fn load_certificate(cert: &Path, key: &Path) -> Result<rustls::ServerConfig> {
    let tls_error = |what: String| Error::Config(what);
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| {
            tls_error(format!(
                "cannot read the certificate {}: {e}",
                cert.display()
            ))
        })?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_error(format!("{} is not a PEM certificate: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(tls_error(format!(
            "{} holds no certificate (expected PEM 'BEGIN CERTIFICATE')",
            cert.display()
        )));
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        tls_error(format!(
            "cannot read a private key from {} (PEM PKCS#8, PKCS#1 or SEC1): {e}",
            key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(format!("TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| {
            tls_error(format!(
                "the key {} does not fit the certificate {}: {e}",
                key.display(),
                cert.display()
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// When either file changes (a renewal writes new ones), loads them and swaps the
/// certificate in for new connections; a pair that does not load (a renewal half
/// written) is logged and the old certificate kept.
async fn reload_on_change(tls: RustlsConfig, cert: PathBuf, key: PathBuf, every: Duration) {
    let stamp = |path: &Path| -> Option<(SystemTime, u64)> {
        let meta = std::fs::metadata(path).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    };
    let mut seen = (stamp(&cert), stamp(&key));
    loop {
        tokio::time::sleep(every).await;
        let now = (stamp(&cert), stamp(&key));
        if now == seen {
            continue;
        }
        let (c, k) = (cert.clone(), key.clone());
        match tokio::task::spawn_blocking(move || load_certificate(&c, &k)).await {
            Ok(Ok(config)) => {
                tls.reload_from_config(Arc::new(config));
                seen = now;
                tracing::info!(cert = %cert.display(), "TLS certificate reloaded");
            }
            Ok(Err(e)) => {
                // Tried again at the next check: the other file of a renewal may still
                // be on its way.
                tracing::warn!(error = %e, "the changed TLS certificate does not load; still serving the previous one");
            }
            Err(e) => tracing::warn!(error = %e, "reloading the TLS certificate failed"),
        }
    }
}

/// Counts open connections, overall and per client address, and refuses those over
/// either cap as they arrive (the socket is closed at once, so refusing costs no file).
#[derive(Clone)]
pub struct Admission {
    inner: Arc<AdmissionInner>,
}

struct AdmissionInner {
    max_total: usize,
    max_per_client: usize,
    trusted: Vec<IpAddr>,
    counts: Mutex<Counts>,
    /// Told whenever a connection ends, for a listener waiting for room.
    room: tokio::sync::Notify,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
    /// Whether a refusal was already logged since the count last dropped below its cap,
    /// so an attack is one warning, not one per connection.
    warned_total: bool,
}

/// An admitted connection's place in the counts; given back when the connection ends.
pub struct Ticket {
    inner: Arc<AdmissionInner>,
    client: Option<IpAddr>,
}

impl Admission {
    pub fn new(max_total: usize, max_per_client: usize, trusted: Vec<IpAddr>) -> Admission {
        Admission {
            inner: Arc::new(AdmissionInner {
                max_total: max_total.max(1),
                max_per_client: max_per_client.max(1),
                trusted,
                counts: Mutex::new(Counts::default()),
                room: tokio::sync::Notify::new(),
            }),
        }
    }

    /// `listener`, accepting only what the caps allow.
    fn limit(&self, listener: TcpListener) -> Limited {
        Limited {
            listener,
            admission: self.clone(),
        }
    }

    fn full(&self) -> bool {
        self.inner
            .counts
            .lock()
            .is_ok_and(|c| c.total >= self.inner.max_total)
    }

    /// Returns once there is room for another connection overall.
    async fn wait_for_room(&self) {
        loop {
            let room = self.inner.room.notified();
            if !self.full() {
                return;
            }
            room.await;
        }
    }

    /// A place for a connection from `peer`, or None when it is over a cap.
    pub fn admit(&self, peer: IpAddr) -> Option<Ticket> {
        let client = (!self.inner.trusted.contains(&peer)).then(|| client_key(peer));
        let mut counts = self.inner.counts.lock().ok()?;
        if counts.total >= self.inner.max_total {
            if !counts.warned_total {
                counts.warned_total = true;
                tracing::warn!(
                    open = counts.total,
                    "connection limit reached: new connections wait until some end"
                );
            }
            return None;
        }
        if let Some(client) = client {
            let open = counts.per_client.entry(client).or_default();
            if *open >= self.inner.max_per_client {
                tracing::debug!(%client, open = *open, "connection refused: over the per-client limit");
                return None;
            }
            *open += 1;
        }
        counts.total += 1;
        Some(Ticket {
            inner: self.inner.clone(),
            client,
        })
    }

    /// Connections open now.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.inner.counts.lock().map_or(0, |c| c.total)
    }
}

/// IPv4 addresses as they are; IPv6 by their /64, which one subscriber usually has whole.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let Ok(mut counts) = self.inner.counts.lock() else {
            return;
        };
        counts.total = counts.total.saturating_sub(1);
        if counts.total < self.inner.max_total {
            counts.warned_total = false;
        }
        self.inner.room.notify_one();
        if let Some(client) = self.client {
            if let Some(open) = counts.per_client.get_mut(&client) {
                *open = open.saturating_sub(1);
                if *open == 0 {
                    counts.per_client.remove(&client);
                }
            }
        }
    }
}

/// The peer of a connection, as axum-server hands it to the router (and the router's
/// `ConnectInfo<SocketAddr>` reads it).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl Address for Peer {
    type Stream = Admitted;
    type Listener = Limited;
}

impl Connected<Peer> for SocketAddr {
    fn connect_info(peer: Peer) -> SocketAddr {
        peer.0
    }
}

/// A listener that applies `Admission` as it accepts, before anything else (before the
/// TLS handshake, so a refused connection costs no crypto either).
pub struct Limited {
    listener: TcpListener,
    admission: Admission,
}

impl AddrListener<Admitted, Peer> for Limited {
    async fn bind_to(_: Peer) -> io::Result<Self> {
        Err(io::Error::other(
            "a Limited listener is made by listen::bind",
        ))
    }

    async fn accept_stream(&self) -> io::Result<(Admitted, Peer)> {
        loop {
            // At the overall cap nothing is accepted: newcomers wait in the backlog
            // instead of costing a file each.
            self.admission.wait_for_room().await;
            let (stream, peer) = self.listener.accept().await?;
            match self.admission.admit(peer.ip()) {
                Some(ticket) => {
                    return Ok((
                        Admitted {
                            stream: Lingering::new(stream),
                            _ticket: ticket,
                        },
                        Peer(peer),
                    ));
                }
                // Over its client's cap: closed here and now.
                None => drop(stream),
            }
        }
    }

    fn get_local_addr(&self) -> io::Result<Peer> {
        self.listener.local_addr().map(Peer)
    }
}

/// A connection that holds its place in the counts for as long as it is open, and
/// closes lingering (`linger.rs`) beneath TLS when there is TLS.
pub struct Admitted {
    stream: Lingering,
    _ticket: Ticket,
}

impl AsyncRead for Admitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The status for a request that took longer than `request_timeout_secs`.
pub(crate) fn timed_out() -> Response {
    Error::refused(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        "the request took too long to arrive or to answer; try again",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_overall_and_per_client_and_places_come_back() {
        let admission = Admission::new(3, 2, vec!["10.0.0.9".parse().unwrap()]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let b_same_64: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        let first = admission.admit(a).unwrap();
        let _second = admission.admit(a).unwrap();
        assert!(admission.admit(a).is_none(), "a third from one client");
        let _v6 = admission.admit(b).unwrap();
        assert!(admission.admit(b_same_64).is_none(), "over the total");
        drop(first);
        assert_eq!(admission.open(), 2);
        let _v6_again = admission.admit(b_same_64).unwrap();
        assert!(
            admission.admit(b_same_64).is_none(),
            "one /64 is one client, and the total is full"
        );
    }

    #[test]
    fn a_trusted_proxy_counts_only_towards_the_total() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let admission = Admission::new(5, 1, vec![proxy]);
        let held: Vec<_> = (0..5).map(|_| admission.admit(proxy).unwrap()).collect();
        assert!(admission.admit(proxy).is_none());
        drop(held);
        assert_eq!(admission.open(), 0);
    }

    #[test]
    fn redirects_keep_the_host_and_path_and_name_the_https_port() {
        let request = |host: &str, path: &str| {
            Request::builder()
                .uri(path)
                .header(header::HOST, host)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        assert_eq!(
            https_location(&request("stories.example.org", "/lead?x=1"), 443).unwrap(),
            "https://stories.example.org/lead?x=1"
        );
        assert_eq!(
            https_location(&request("127.0.0.1:8080", "/"), 8443).unwrap(),
            "https://127.0.0.1:8443/"
        );
        assert_eq!(
            https_location(&request("[::1]:80", "/api/v1/project"), 8443).unwrap(),
            "https://[::1]:8443/api/v1/project"
        );
        assert!(https_location(&request("a b", "/"), 443).is_none());
    }
}
