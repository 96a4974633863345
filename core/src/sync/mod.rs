//! Background sync (DESIGN.md §3, §4): enrolment, a persisted outbox, resumable verified
//! uploads over tus, withdrawal that propagates, network policy, single flight,
//! cancellation and progress. The API is async; the CLI and the FFI bring the runtime.
//!
//! - `enrol`: join a project with an invite code; refresh the configuration (ETag).
//! - `outbox`: what to deliver and what the server confirmed, in SQLite.
//! - `documents`: the core's model as the protocol's wire types.
//! - `transport`: the `Transport` trait (prepared requests, file-range bodies) and the
//!   default `HttpTransport` (tellus-net: one TLS trust decision on every platform).
//! - `tus`: the uploader.
//! - `backoff`, `policy`: when to retry, what the network allows.
//! - `overview`: the story list with delivery states in one call; when to sync next.
//! - `secrets`: the `SecretStore` seam the device token is kept behind.
//! - `engine`: one sync at a time, per story in order, with progress and cancellation.

mod api;
pub mod backoff;
pub mod documents;
pub mod engine;
pub mod enrol;
pub mod outbox;
pub mod overview;
pub mod policy;
pub mod secrets;
pub mod transport;
pub mod tus;

pub use engine::{SyncEngine, SyncProgress, SyncReport};
pub use enrol::enrol;
pub use outbox::{Account, DeliveryState, ItemKind, ItemState, OutboxItem};
pub use overview::{NetworkNeed, NextAttempt, NextAttemptReason, StoryRow};
pub use policy::{Network, SyncSettings};
pub use secrets::{DEVICE_TOKEN, SecretStore};
pub use transport::{
    HttpTransport, Method, PreparedRequest, RequestBody, Transport, TransportError,
    TransportFailure, TransportResponse,
};

/// Why a sync did not finish. Messages are for the reporter and carry no story content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("this device is not enrolled with a project server yet; enrol with an invite code")]
    NotEnrolled,
    #[error("the server no longer accepts this device's token; enrol again with a new invite code")]
    EnrolAgain,
    #[error(
        "this device's token is no longer in its secret store (restored to a new phone, or its key was reset); enrol again with a new invite code"
    )]
    TokenLost,
    /// The secret store cannot be used now (e.g. before the phone's first unlock): try
    /// again later. Never "not enrolled"; nothing queued changed.
    #[error("{0}")]
    SecretStore(String),
    #[error("there is no network connection")]
    Offline,
    #[error("the server cannot be reached: {0}")]
    Unreachable(String),
    /// The server's certificate was refused (tellus_net::Trust): nothing was sent, and
    /// retrying will not help until the server or this device's enrolment changes.
    #[error("{0}")]
    ServerNotTrusted(String),
    #[error("the sync was cancelled")]
    Cancelled,
    #[error("{0}")]
    Refused(String),
    #[error("the server's answer was not understood: {0}")]
    Protocol(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Store(String),
}

impl SyncError {
    /// Whether only a new enrolment (a new invite code) gets sync going again.
    pub fn needs_enrolment(&self) -> bool {
        matches!(
            self,
            SyncError::NotEnrolled | SyncError::EnrolAgain | SyncError::TokenLost
        )
    }
}

/// A request without an answer: the network (try again later) or an untrusted server.
impl From<TransportError> for SyncError {
    fn from(e: TransportError) -> Self {
        match e.kind {
            TransportFailure::Network => SyncError::Unreachable(e.message),
            TransportFailure::ServerNotTrusted => SyncError::ServerNotTrusted(e.message),
        }
    }
}

impl From<crate::Error> for SyncError {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::SecretStore(_) => SyncError::SecretStore(e.to_string()),
            _ => SyncError::Store(e.to_string()),
        }
    }
}
