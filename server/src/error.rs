//! The one error type of tellus-server. Every error leaves as a JSON `ApiError` with a
//! stable code and a message a person can act on; internal details go to the log only
//! (and never carry story text, names or consent details).

use std::io;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tellus_protocol::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A refusal the client can understand and act on.
    #[error("{message}")]
    Refused {
        status: StatusCode,
        code: &'static str,
        message: String,
    },

    /// Too many attempts at something a person types (an invite code, a token) from one
    /// address or with one code; 429 with `Retry-After`.
    #[error("too many attempts; try again in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },

    /// The server's disk is full; whatever was being written was rolled back.
    #[error("the server's storage is full; nothing of this request was kept, try again later")]
    StorageFull,

    #[error("database error: {0}")]
    Database(rusqlite::Error),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },

    #[error("configuration: {0}")]
    Config(String),

    /// A fault inside the server (a stored value that cannot be read back, a poisoned
    /// lock, a failed blocking task): 500, details to the log only.
    #[error("internal: {0}")]
    Internal(String),

    /// `tellus admin migrate` stopped: the source or the target is not as it must be
    /// (a damaged audio file, a target holding other data). Nothing was committed.
    #[error("migrate: {0}")]
    Migrate(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Error::Refused {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::refused(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(what: &str) -> Self {
        Error::refused(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} with that id is visible to you"),
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::refused(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::refused(StatusCode::CONFLICT, code, message)
    }

    pub fn internal(what: impl Into<String>) -> Self {
        Error::Internal(what.into())
    }

    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        if is_disk_full(&source) {
            return Error::StorageFull;
        }
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::Refused { status, .. } => *status,
            Error::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            Error::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> ApiError {
        match self {
            Error::Refused { code, message, .. } => ApiError {
                code: (*code).to_string(),
                message: message.clone(),
            },
            Error::StorageFull => ApiError {
                code: "storage_full".into(),
                message: self.to_string(),
            },
            Error::TooManyAttempts { retry_after_secs } => ApiError {
                code: "too_many_attempts".into(),
                message: format!(
                    "too many attempts from this address or with this code; try again in {retry_after_secs} seconds"
                ),
            },
            _ => ApiError {
                code: "internal".into(),
                message: "the server failed to handle this request; it has been logged".into(),
            },
        }
    }
}

pub fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => Error::StorageFull,
            _ => Error::Database(e),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = (status, axum::Json(self.body())).into_response();
        self.add_headers(&mut response);
        response
    }
}

impl Error {
    /// Headers an error carries besides its body (`Retry-After` on a 429).
    pub fn add_headers(&self, response: &mut Response) {
        if let Error::TooManyAttempts { retry_after_secs } = self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(*retry_after_secs),
            );
        }
    }
}
