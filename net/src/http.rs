//! The HTTP client every Tellus client uses: hyper-util's pooled client over
//! hyper-rustls with the `Trust` decision, HTTP/1.1. A refused certificate comes back as
//! `NetError::NotTrusted` with the reason in words; any other failure to get an answer
//! is `NetError::Network`.

use std::error::Error as StdError;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::trust::{NotTrusted, Trust, explain};

pub type BoxError = Box<dyn StdError + Send + Sync>;

/// What a request carries: nothing, bytes in memory, or a stream (a recording's range).
pub type RequestBody = UnsyncBoxBody<Bytes, BoxError>;

pub fn empty_body() -> RequestBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

pub fn bytes_body(bytes: impl Into<Bytes>) -> RequestBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A body streamed from `pieces` (its length must be given as Content-Length).
pub fn stream_body<S, E>(pieces: S) -> RequestBody
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    use futures_util::StreamExt;
    StreamBody::new(pieces.map(|piece| piece.map(Frame::data).map_err(Into::into))).boxed_unsync()
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The server's certificate was refused; retrying will not help until the server
    /// or this device's enrolment changes.
    #[error("{0}")]
    NotTrusted(NotTrusted),
    /// The network failed (refused, reset, timed out, cut mid-body).
    #[error("{0}")]
    Network(String),
}

/// A pooled HTTP/1.1 client applying one `Trust`.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, RequestBody>,
}

impl HttpClient {
    pub fn new(trust: &Trust, connect_timeout: Duration) -> Result<HttpClient, NetError> {
        let tls = trust.client_config().map_err(NetError::NotTrusted)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // Idle connections are dropped before a Tellus server would close them (its
        // header_read_timeout_secs, 10 s by default), so a request never goes out on a
        // connection the server is closing.
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(5))
            .build(https);
        Ok(HttpClient { client })
    }

    /// Sends `request`; the answer's head (its body is read by the caller).
    pub async fn send(
        &self,
        request: http::Request<RequestBody>,
    ) -> Result<http::Response<Incoming>, NetError> {
        let host = request.uri().host().unwrap_or_default().to_string();
        self.client
            .request(request)
            .await
            .map_err(|e| classify(&host, &e))
    }
}

/// A refused certificate anywhere in `error`'s chain is `NotTrusted`; anything else is
/// the network, described by the whole chain (which names the cause, never content).
pub fn classify(host: &str, error: &(dyn StdError + 'static)) -> NetError {
    let mut text = error.to_string();
    let mut level: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = level {
        // io::Error hides what it wraps from `source()`; look inside.
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|i| i as &(dyn StdError + 'static));
        for candidate in [Some(e), inner].into_iter().flatten() {
            if let Some(tls) = candidate.downcast_ref::<rustls::Error>() {
                if matches!(tls, rustls::Error::InvalidCertificate(_)) {
                    return NetError::NotTrusted(explain(host, tls));
                }
            }
        }
        level = e.source().or(inner);
        if let Some(next) = level {
            let next = next.to_string();
            if !text.contains(&next) {
                text.push_str(": ");
                text.push_str(&next);
            }
        }
    }
    NetError::Network(text)
}

pub use http;
pub use hyper::body::Incoming as ResponseBody;

/// Reads a whole response body (small answers: JSON, errors).
pub async fn read_body(body: Incoming) -> Result<Bytes, NetError> {
    body.collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| classify("", &e))
}

/// The next piece of a response body; None at its end.
pub async fn next_piece(body: &mut Incoming) -> Option<Result<Bytes, NetError>> {
    loop {
        match body.frame().await? {
            Ok(frame) => match frame.into_data() {
                Ok(data) => return Some(Ok(data)),
                Err(_trailers) => continue,
            },
            Err(e) => return Some(Err(classify("", &e))),
        }
    }
}
