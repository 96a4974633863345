//! The one error type of tellus-lead. Messages are written for the lead at the keyboard
//! and never carry story text, names, contact details or consent items: ids, paths,
//! sizes and what to do next.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Something the user typed is not acceptable (a URL, a scope, an option).
    #[error("{0}")]
    InvalidInput(String),

    /// The server answered with an error of its own (its JSON `ApiError`).
    #[error("the server refused {what}: {message} ({code}, HTTP {status})")]
    Server {
        what: String,
        status: u16,
        code: String,
        message: String,
    },

    /// The server could not be reached, or the connection broke.
    #[error("cannot talk to the server ({what}): {reason}")]
    Network { what: String, reason: String },

    /// The server's certificate is not trusted (tellus_net::Trust); nothing was sent.
    #[error("{reason}")]
    NotTrusted { reason: String },

    /// The server sent something that breaks the protocol (a bad id, a wrong length).
    #[error("the server sent something unexpected: {0}")]
    Protocol(String),

    /// A download ended before all its bytes came; what came is kept and resumed.
    #[error("{0}")]
    Incomplete(String),

    /// A download did not match the SHA-256 or size the server announced, twice.
    #[error("{0}")]
    Integrity(String),

    /// The folder cannot be used as it is (another pull runs in it, it came from
    /// another server, its state cannot be read).
    #[error("{0}")]
    Folder(String),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn io_at(action: &str, path: &Path, source: std::io::Error) -> Self {
        Error::io(format!("cannot {action} {}", path.display()), source)
    }

    pub(crate) fn net(what: impl Into<String>, e: tellus_net::NetError) -> Self {
        match e {
            tellus_net::NetError::NotTrusted(why) => Error::NotTrusted { reason: why.0 },
            tellus_net::NetError::Network(reason) => Error::Network {
                what: what.into(),
                reason,
            },
        }
    }

    /// Worth trying again in this run: the network broke, or the server had a
    /// passing problem (5xx, 423 busy, 429).
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Error::Network { .. } | Error::Incomplete(_) => true,
            Error::Server { status, .. } => *status >= 500 || *status == 423 || *status == 429,
            _ => false,
        }
    }
}
