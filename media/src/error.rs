use std::path::{Path, PathBuf};

use crate::PcmSpec;

/// Everything that can go wrong reading, encoding or verifying audio.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: truncated: {detail}", path.display())]
    Truncated { path: PathBuf, detail: String },
    #[error("{}: not a valid {format} file: {detail}", path.display())]
    Malformed {
        path: PathBuf,
        format: &'static str,
        detail: String,
    },
    #[error("{}: not 16-bit integer PCM ({bits} bits)", path.display())]
    NotSixteenBit { path: PathBuf, bits: u16 },
    #[error("{}: unsupported {what}: {value}", path.display())]
    Unsupported {
        path: PathBuf,
        what: &'static str,
        value: u64,
    },
    #[error("the audio is not the source's: {found:?} where the source is {expected:?}")]
    SpecMismatch { expected: PcmSpec, found: PcmSpec },
    #[error("the audio differs from the source at frame {frame}")]
    Mismatch { frame: u64 },
    #[error(
        "the listening copy lasts {found_ms} ms where the source lasts {expected_ms} ms (more than 20 ms apart)"
    )]
    DurationMismatch { expected_ms: u64, found_ms: u64 },
    #[error("a lossy format has no PCM identity")]
    NotLossless,
    #[error("{}: encoder failed: {detail}", path.display())]
    Encoder { path: PathBuf, detail: String },
}

impl MediaError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        MediaError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn truncated(path: &Path, detail: impl Into<String>) -> Self {
        MediaError::Truncated {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }

    pub(crate) fn malformed(path: &Path, format: &'static str, detail: impl Into<String>) -> Self {
        MediaError::Malformed {
            path: path.to_path_buf(),
            format,
            detail: detail.into(),
        }
    }

    /// An I/O error while reading `path`: an early end of file is a truncation.
    pub(crate) fn reading(path: &Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::UnexpectedEof {
            MediaError::truncated(path, "the file ends early")
        } else {
            MediaError::io(path, source)
        }
    }
}
