//! The one public error of the FFI surface, mapped from the core's errors in one place.
//! Variants are what a shell can act on; messages carry no story text, names or consent
//! details (the core's messages are written that way).

use tellus_core::Error as CoreError;

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
    /// The device's storage failed (disk full, damaged database, permissions).
    #[error("{reason}")]
    Storage { reason: String },
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
            | CoreError::Database(_)
            | CoreError::Io { .. } => TellusError::Storage { reason },
        }
    }
}

pub type Result<T, E = TellusError> = std::result::Result<T, E>;
