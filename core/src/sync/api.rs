//! Requests to the project server on behalf of this device: the base URL, the token, and
//! the cancellation of the sync that sends them.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde::de::DeserializeOwned;
use tellus_protocol::{API_PREFIX, ApiError};
use tokio_util::sync::CancellationToken;

use super::transport::{
    Method, PreparedRequest, RequestBody, Transport, TransportError, TransportFuture,
    TransportResponse,
};

/// Why a request got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The sync was cancelled; the request was abandoned (the server keeps whatever part
    /// of a body it received, and the next sync asks it for the offset).
    Cancelled,
    /// The network failed.
    Transport(TransportError),
}

/// A request without an answer ends the run: cancelled, or the server unreachable.
impl From<SendError> for super::SyncError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Cancelled => super::SyncError::Cancelled,
            SendError::Transport(t) => t.into(),
        }
    }
}

pub(crate) struct Api {
    pub transport: Arc<dyn Transport>,
    /// No trailing slash.
    pub base: String,
    pub token: Option<String>,
    /// The server's key as the invite pinned it; None: the web PKI.
    pub server_pin: Option<tellus_net::CertificatePin>,
    pub cancel: CancellationToken,
}

impl Api {
    /// A request to an API route (`/stories/…`, under `/api/v1` of the base URL).
    pub fn request(&self, method: Method, route: &str) -> PreparedRequest {
        self.authorised(PreparedRequest::new(
            method,
            format!("{}{}{}", self.base, API_PREFIX, route),
        ))
    }

    /// A request to a path the server named (a tus Location, `/api/v1/uploads/…`),
    /// resolved against the base URL's origin.
    pub fn request_at(&self, method: Method, path: &str) -> PreparedRequest {
        let origin = match self.base.find("://") {
            Some(i) => match self.base[i + 3..].find('/') {
                Some(slash) => &self.base[..i + 3 + slash],
                None => self.base.as_str(),
            },
            None => self.base.as_str(),
        };
        self.authorised(PreparedRequest::new(method, format!("{origin}{path}")))
    }

    fn authorised(&self, mut request: PreparedRequest) -> PreparedRequest {
        request.server_pin = self.server_pin;
        match &self.token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    pub fn json_body<T: serde::Serialize>(request: PreparedRequest, value: &T) -> PreparedRequest {
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        request
            .header("content-type", "application/json")
            .body(RequestBody::Bytes(bytes))
    }

    pub async fn send(&self, request: PreparedRequest) -> Result<TransportResponse, SendError> {
        self.unless_cancelled(self.transport.send(request)).await
    }

    /// `send`, counting the body bytes that have left into `sent`.
    pub async fn send_counting(
        &self,
        request: PreparedRequest,
        sent: Arc<AtomicU64>,
    ) -> Result<TransportResponse, SendError> {
        self.unless_cancelled(self.transport.send_counting(request, sent))
            .await
    }

    async fn unless_cancelled(
        &self,
        sending: TransportFuture<'_>,
    ) -> Result<TransportResponse, SendError> {
        if self.cancel.is_cancelled() {
            return Err(SendError::Cancelled);
        }
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(SendError::Cancelled),
            result = sending => result.map_err(SendError::Transport),
        }
    }

    /// Waits `duration` unless the sync is cancelled first.
    pub async fn pause(&self, duration: std::time::Duration) -> Result<(), SendError> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(SendError::Cancelled),
            _ = tokio::time::sleep(duration) => Ok(()),
        }
    }
}

/// The server's explanation of a refusal, or the status when it gave none.
pub(crate) fn refusal(response: &TransportResponse) -> String {
    match serde_json::from_slice::<ApiError>(&response.body) {
        Ok(e) => format!("{} ({}, {})", e.message, response.status, e.code),
        Err(_) => format!("the server answered {}", response.status),
    }
}

pub(crate) fn error_code(response: &TransportResponse) -> Option<String> {
    serde_json::from_slice::<ApiError>(&response.body)
        .ok()
        .map(|e| e.code)
}

pub(crate) fn parse<T: DeserializeOwned>(response: &TransportResponse) -> Result<T, String> {
    serde_json::from_slice(&response.body)
        .map_err(|e| format!("the server's answer could not be read: {e}"))
}
