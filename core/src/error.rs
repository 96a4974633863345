use std::path::PathBuf;

/// The one error type of tellus-core. Messages are written for the person using the app
/// and never carry story text, names or consent details.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Something the user typed or a caller passed is not acceptable.
    #[error("{0}")]
    InvalidInput(String),

    /// No such thing in this data folder.
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: String },

    /// The storyteller's consent does not allow this.
    #[error("{0}")]
    ConsentRequired(String),

    /// The data folder has no project set up yet.
    #[error("no project is set up in this data folder yet")]
    NoProject,

    /// The database was written by a newer version of Tellus than this one.
    #[error(
        "the database at {path} was written by a newer Tellus (schema {found}, this build knows {known}); update the app"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },

    /// The disk is full. The write was rolled back; nothing saved before is lost.
    #[error("the device's storage is full: free some space and try again (nothing saved was lost)")]
    StorageFull,

    /// Too little free storage to start recording: how much there is, how much must
    /// stay free, and where. Nothing was created.
    #[error(
        "not enough free storage to record: {} free in {}, and at least {} must stay free; free some space and try again",
        megabytes(*.free_bytes),
        .path.display(),
        megabytes(*.needed_bytes)
    )]
    NotEnoughStorage {
        path: PathBuf,
        free_bytes: u64,
        needed_bytes: u64,
    },

    #[error("database error: {0}")]
    Database(rusqlite::Error),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// Recording: no microphone, a device that cannot be opened, a recording that
    /// already stopped.
    #[error("{0}")]
    Audio(String),

    #[error("project configuration is not valid: {0}")]
    Config(String),

    /// The platform's secret store (Android Keystore, iOS Keychain) cannot be used now,
    /// e.g. before the phone's first unlock. Nothing was changed; try again later.
    #[error(
        "the device's secret store cannot be used now ({0}); nothing was lost, try again later"
    )]
    SecretStore(String),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => Error::StorageFull,
            _ => Error::Database(e),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Bytes as the storage settings of a phone show them: "4.8 MB".
fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

impl Error {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidInput(msg.into())
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
