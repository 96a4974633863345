//! Reading a completed upload as the audio it says it is (issue 20, docs/data-saver.md),
//! after its SHA-256 matched and before it is moved into storage. A lossless copy is
//! decoded and its PCM identity computed (and compared with the declared one); a
//! listening copy must be a valid Ogg Opus stream. A file that fails is refused and
//! nothing of it is kept.

use std::path::Path;

use axum::http::StatusCode;
use tellus_protocol::{AudioFormat, Representation};

use crate::error::{Error, Result};

/// What completion keeps beside a verified file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The PCM identity the server computed; None for a listening copy, and for a WAV
    /// from a phone before issue 20 that does not decode (kept exactly as before).
    pub pcm_sha256: Option<String>,
}

/// Checks the spooled file at `path`. Blocking: decodes the whole file.
pub fn check(
    path: &Path,
    representation: Representation,
    format: AudioFormat,
    declared_pcm: Option<&str>,
) -> Result<Checked> {
    match representation {
        Representation::Listening => {
            tellus_media::inspect_ogg_opus(path).map_err(|e| {
                // The error names the spool file: logged here, not told to the client.
                tracing::warn!(error = %e, "a listening copy is not a valid Ogg Opus stream");
                refused(
                    "invalid_opus",
                    "the listening copy is not a valid Ogg Opus stream (its pages, checksums or headers do not hold); nothing was kept".into(),
                )
            })?;
            Ok(Checked { pcm_sha256: None })
        }
        Representation::Lossless => match tellus_media::identity(path, format) {
            Ok(identity) => match declared_pcm {
                Some(declared) if !declared.eq_ignore_ascii_case(&identity.pcm_sha256) => {
                    Err(refused(
                        "pcm_mismatch",
                        format!(
                            "the {format} file decodes to other audio than its declared PCM identity (pcm_sha256); nothing was kept, make the copy again from the recording"
                        ),
                    ))
                }
                _ => Ok(Checked {
                    pcm_sha256: Some(identity.pcm_sha256),
                }),
            },
            // A WAV from a phone before issue 20 (no PCM identity declared) is kept as
            // every server before kept it: its whole-file SHA-256 is the check.
            Err(e) if format == AudioFormat::Wav && declared_pcm.is_none() => {
                tracing::warn!(error = %e, "a WAV without a declared PCM identity does not decode; kept as before");
                Ok(Checked { pcm_sha256: None })
            }
            Err(e) => {
                tracing::warn!(error = %e, "a lossless copy does not decode");
                Err(refused(
                    "undecodable",
                    format!(
                        "the lossless copy does not decode as 16-bit {format}; nothing was kept"
                    ),
                ))
            }
        },
    }
}

fn refused(code: &'static str, message: String) -> Error {
    Error::refused(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}
