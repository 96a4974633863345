//! Representations of a recording (DESIGN.md §8, issue 20).
//!
//! The recorder writes a WAV; after it is finalised the phone makes a verified lossless
//! copy (FLAC) and a small listening copy (Ogg Opus). Each representation is its own file
//! with its own tus upload, SHA-256 and receipt. What ties them to the recorded audio is
//! the PCM identity (`pcm_sha256`): the SHA-256 of the samples, interleaved 16-bit
//! little-endian, exactly the bytes of a 16-bit WAV's `data` chunk — so anyone can check it
//! with independent tools (`flac -d --force-raw-format --endian=little --sign=signed -c
//! FILE | sha256sum`). Lossy copies have no PCM identity.
//!
//! Positions (notes, markers) are in the recording's own timeline and mean the same
//! moment in every representation: an Ogg Opus copy declares its encoder delay as
//! pre-skip, which decoders remove.

use serde::{Deserialize, Serialize};

/// Which copy of a recording a file is.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Representation {
    /// The archival copy: FLAC, or the WAV itself (every upload before issue 20, and a
    /// phone that keeps WAV). What a lead's pull fetches. Absent anywhere = this.
    #[default]
    Lossless,
    /// A small lossy copy for listening on a metered connection: Ogg Opus.
    Listening,
}

impl Representation {
    pub const ALL: [Representation; 2] = [Representation::Lossless, Representation::Listening];

    pub fn as_str(self) -> &'static str {
        match self {
            Representation::Lossless => "lossless",
            Representation::Listening => "listening",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "lossless" => Some(Representation::Lossless),
            "listening" => Some(Representation::Listening),
            _ => None,
        }
    }

    /// The formats this representation may be in.
    pub fn allows(self, format: AudioFormat) -> bool {
        match self {
            Representation::Lossless => matches!(format, AudioFormat::Wav | AudioFormat::Flac),
            Representation::Listening => format == AudioFormat::OggOpus,
        }
    }
}

impl std::fmt::Display for Representation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The audio formats Tellus stores and serves: exactly these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioFormat {
    /// 16-bit PCM WAV (RIFF), as the recorder writes it.
    Wav,
    /// FLAC, 16-bit, same rate and channels as the WAV it was made from.
    Flac,
    /// Opus in an Ogg container (RFC 7845).
    #[serde(rename = "opus")]
    OggOpus,
}

impl AudioFormat {
    /// The name used in documents and the phone's store: "wav", "flac", "opus".
    pub fn as_str(self) -> &'static str {
        match self {
            AudioFormat::Wav => "wav",
            AudioFormat::Flac => "flac",
            AudioFormat::OggOpus => "opus",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "wav" => Some(AudioFormat::Wav),
            "flac" => Some(AudioFormat::Flac),
            "opus" => Some(AudioFormat::OggOpus),
            _ => None,
        }
    }

    /// The one content type Tellus declares in `Upload-Metadata` and serves.
    pub fn content_type(self) -> &'static str {
        match self {
            AudioFormat::Wav => "audio/wav",
            AudioFormat::Flac => "audio/flac",
            AudioFormat::OggOpus => "audio/ogg",
        }
    }

    /// A file name extension for a pulled or exported copy.
    pub fn extension(self) -> &'static str {
        match self {
            AudioFormat::Wav => "wav",
            AudioFormat::Flac => "flac",
            AudioFormat::OggOpus => "opus",
        }
    }

    /// Reads a declared content type: the canonical one and the common aliases, nothing
    /// else (parameters such as `; codecs=opus` are allowed on Ogg).
    pub fn from_content_type(declared: &str) -> Option<Self> {
        let lower = declared.trim().to_ascii_lowercase();
        let (essence, params) = match lower.split_once(';') {
            Some((e, p)) => (e.trim(), Some(p.trim())),
            None => (lower.as_str(), None),
        };
        let format = match essence {
            "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => AudioFormat::Wav,
            "audio/flac" | "audio/x-flac" => AudioFormat::Flac,
            "audio/ogg" | "audio/opus" => AudioFormat::OggOpus,
            _ => return None,
        };
        match params {
            None => Some(format),
            Some("codecs=opus" | "codecs=\"opus\"") if format == AudioFormat::OggOpus => {
                Some(format)
            }
            Some(_) => None,
        }
    }
}

impl std::fmt::Display for AudioFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One file of a recording, as a story document lists it (phone → server) and as a lead
/// reads it (the server fills `delivered`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepresentationMeta {
    pub representation: Representation,
    /// "wav", "flac" or "opus".
    pub format: String,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the whole file.
    pub sha256: String,
    /// Filled by the server for a lead: this file is delivered and verified.
    #[serde(default)]
    pub delivered: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_absent_means_lossless() {
        for r in Representation::ALL {
            assert_eq!(Representation::parse(r.as_str()), Some(r));
        }
        assert_eq!(Representation::default(), Representation::Lossless);
        for f in [AudioFormat::Wav, AudioFormat::Flac, AudioFormat::OggOpus] {
            assert_eq!(AudioFormat::parse(f.as_str()), Some(f));
            assert_eq!(AudioFormat::from_content_type(f.content_type()), Some(f));
        }
        assert_eq!(
            serde_json::to_string(&AudioFormat::OggOpus).unwrap(),
            "\"opus\""
        );
    }

    #[test]
    fn only_the_allowed_formats_and_pairings() {
        assert!(Representation::Lossless.allows(AudioFormat::Flac));
        assert!(Representation::Lossless.allows(AudioFormat::Wav));
        assert!(!Representation::Lossless.allows(AudioFormat::OggOpus));
        assert!(Representation::Listening.allows(AudioFormat::OggOpus));
        assert!(!Representation::Listening.allows(AudioFormat::Wav));
        assert_eq!(
            AudioFormat::from_content_type("audio/ogg; codecs=opus"),
            Some(AudioFormat::OggOpus)
        );
        for refused in [
            "text/html",
            "audio/",
            "",
            "audio/mpeg",
            "audio/wav; x=1",
            "audio/wav\u{0}",
        ] {
            assert_eq!(AudioFormat::from_content_type(refused), None, "{refused:?}");
        }
    }
}
