//! The one public error of the FFI surface, mapped from the core's errors in one place.
//! Variants are what a shell can act on; messages carry no story text, names or consent
//! details (the core's messages are written that way).

use tellus_core::Error as CoreError;
use tellus_core::sync::SyncError;

#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum TellusError {
    /// Something typed or passed is not acceptable; show the message.
    #[error("{reason}")]
    InvalidInput { reason: String },
    /// The storyteller's consent does not allow this.
    #[error("{reason}")]
    ConsentMissing { reason: String },
    /// The app has no project yet: enrol first.
    #[error("{reason}")]
    NotEnrolled { reason: String },
    /// The thing asked for does not exist on this device.
    #[error("no {what} with id {id}")]
    NotFound { what: String, id: String },
    /// The microphone could not be opened or failed, or the recording cannot do what was
    /// asked (e.g. it has already stopped). Whatever was captured is kept.
    #[error("{reason}")]
    Audio { reason: String },
    /// The server could not be reached, or the connection dropped: try again later (the
    /// shell's network callback or scheduled work will).
    #[error("{reason}")]
    Network { reason: String },
    /// The server's certificate is not trusted (not from a public authority, expired,
    /// for another name, or not the key the invite pinned): nothing was sent. Show the
    /// message; retrying will not help until the server or the enrolment changes. A
    /// platform transport returns it when `check_server_certificate` refused.
    #[error("{reason}")]
    ServerNotTrusted { reason: String },
    /// The server answered and refused (a bad invite code, a file too large, ...): show
    /// the message; retrying the same will not help.
    #[error("{reason}")]
    ServerRefused { reason: String },
    /// The sync was cancelled (by `cancel_sync`); what was sent is kept.
    #[error("{reason}")]
    Cancelled { reason: String },
    /// The device's storage failed (disk full, damaged database, permissions).
    #[error("{reason}")]
    Storage { reason: String },
    /// The platform secret store (Keystore, Keychain) that keeps the device token cannot
    /// be used now, e.g. before the phone's first unlock: try again later. This is never
    /// "not enrolled", and nothing queued was lost.
    #[error("{reason}")]
    SecretStoreUnavailable { reason: String },
}

/// What a shell's observer or `LogSink` may throw (any exception counts as this). An
/// observer's failed call is counted on the subscription's handle and logged, without
/// the exception's text; a sink's loses that record. Either keeps receiving later values.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum ObserverError {
    #[error("{reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ObserverError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ObserverError::Failed { reason: e.reason }
    }
}

/// What a shell's `PlatformSecretStore` throws.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum SecretStoreError {
    /// The store cannot be used now (locked, busy); the core retries later.
    #[error("{reason}")]
    Unavailable { reason: String },
}

impl From<CoreError> for TellusError {
    fn from(e: CoreError) -> Self {
        // Kotlin errors already have a `message`, so the text travels as `reason`.
        let reason = e.to_string();
        match e {
            CoreError::InvalidInput(_) | CoreError::Config(_) => {
                TellusError::InvalidInput { reason }
            }
            CoreError::Audio(_) => TellusError::Audio { reason },
            CoreError::ConsentRequired(_) => TellusError::ConsentMissing { reason },
            CoreError::NoProject => TellusError::NotEnrolled { reason },
            CoreError::NotFound { what, id } => TellusError::NotFound {
                what: what.to_string(),
                id,
            },
            CoreError::NewerSchema { .. }
            | CoreError::StorageFull
            | CoreError::NotEnoughStorage { .. }
            | CoreError::Database(_)
            | CoreError::Io { .. } => TellusError::Storage { reason },
            CoreError::SecretStore(_) => TellusError::SecretStoreUnavailable { reason },
        }
    }
}

impl From<SyncError> for TellusError {
    fn from(e: SyncError) -> Self {
        let reason = e.to_string();
        match e {
            SyncError::NotEnrolled | SyncError::EnrolAgain | SyncError::TokenLost => {
                TellusError::NotEnrolled { reason }
            }
            SyncError::SecretStore(_) => TellusError::SecretStoreUnavailable { reason },
            SyncError::Offline | SyncError::Unreachable(_) => TellusError::Network { reason },
            SyncError::ServerNotTrusted(_) => TellusError::ServerNotTrusted { reason },
            SyncError::Cancelled => TellusError::Cancelled { reason },
            SyncError::Refused(_) | SyncError::Protocol(_) => TellusError::ServerRefused { reason },
            SyncError::Invalid(_) => TellusError::InvalidInput { reason },
            SyncError::Store(_) => TellusError::Storage { reason },
        }
    }
}

/// A shell's transport or observer that failed in a way its interface does not declare
/// (a Kotlin RuntimeException, say) counts as a dropped connection: the core asks the
/// server what arrived and resumes.
impl From<uniffi::UnexpectedUniFFICallbackError> for TellusError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        TellusError::Network {
            reason: format!("the platform transport failed: {}", e.reason),
        }
    }
}

/// The shell's secret store as the core sees it: any failure is "cannot be used now".
impl From<SecretStoreError> for CoreError {
    fn from(e: SecretStoreError) -> Self {
        CoreError::SecretStore(e.to_string())
    }
}

/// A secret store that throws something its interface does not declare (a Kotlin
/// RuntimeException, say) cannot be used now either: retried later, never "gone".
impl From<uniffi::UnexpectedUniFFICallbackError> for SecretStoreError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        SecretStoreError::Unavailable {
            reason: format!("the platform secret store failed: {}", e.reason),
        }
    }
}

pub type Result<T, E = TellusError> = std::result::Result<T, E>;
