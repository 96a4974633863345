//! Where everything lives in a pulled folder. Paths in the manifest and the withdrawal
//! log are relative to the folder, with `/` separators, so that a folder can be moved
//! or copied and still verified.
//!
//! ```text
//! DIR/
//!   manifest.json        every file below with its SHA-256 and size
//!   SHA256SUMS           the same, for `sha256sum -c SHA256SUMS`
//!   withdrawals.log      one JSON line per withdrawal: what was removed and when
//!   project.json         the project's configuration (consent forms, guide, tags)
//!   stories/<story id>/
//!     story.json         title, summary, status, tags, demographics, recordings' metadata
//!     notes.json         notes and markers, in audio order
//!     consent.json       the server's view of the storyteller's consent
//!     identity.json      real name / contact, only while consent allows (rarely there)
//!     audio/<recording id>.flac   the lossless copy (.wav for recordings from before
//!                                  issue 20), verified by SHA-256 and PCM identity
//!     audio/<recording id>.opus   the listening copy, with `tellus pull --listening`
//!   .tellus-pull/        the pull's own state: cursor, lock, temporary and partial files
//! ```

use std::path::{Path, PathBuf};

use tellus_protocol::{AudioFormat, Representation};

use crate::{Error, Result};

pub const MANIFEST: &str = "manifest.json";
pub const SHA256SUMS: &str = "SHA256SUMS";
pub const WITHDRAWALS_LOG: &str = "withdrawals.log";
pub const PROJECT: &str = "project.json";
pub const STORIES: &str = "stories";
pub const STATE_DIR: &str = ".tellus-pull";

pub const STORY_JSON: &str = "story.json";
pub const NOTES_JSON: &str = "notes.json";
pub const CONSENT_JSON: &str = "consent.json";
pub const IDENTITY_JSON: &str = "identity.json";
pub const AUDIO_DIR: &str = "audio";

/// A pulled folder's paths.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute path of a manifest-relative path.
    pub fn path(&self, rel: &str) -> PathBuf {
        rel.split('/')
            .fold(self.root.clone(), |path, part| path.join(part))
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }

    pub fn state_file(&self) -> PathBuf {
        self.state_dir().join("state.json")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.state_dir().join("lock")
    }

    /// Temporary files are written here, then renamed into place (same file system).
    pub fn tmp_dir(&self) -> PathBuf {
        self.state_dir().join("tmp")
    }

    /// Downloads in progress, kept across runs so that they resume with a Range.
    pub fn partial_dir(&self) -> PathBuf {
        self.state_dir().join("partial")
    }

    /// The partial file of one copy of a recording; named with its story so that a
    /// withdrawal can find it (the lossless copy's name is the one of every pull before
    /// issue 20, so that their downloads still resume).
    pub fn partial(
        &self,
        story_id: &str,
        recording_id: &str,
        representation: Representation,
    ) -> PathBuf {
        let name = match representation {
            Representation::Lossless => format!("{story_id}.{recording_id}.part"),
            Representation::Listening => format!("{story_id}.{recording_id}.listening.part"),
        };
        self.partial_dir().join(name)
    }

    pub fn story_dir(&self, story_id: &str) -> PathBuf {
        self.root.join(STORIES).join(story_id)
    }
}

/// `stories/<id>/`: the prefix of every manifest path of one story.
pub fn story_prefix(story_id: &str) -> String {
    format!("{STORIES}/{story_id}/")
}

/// `stories/<id>/<name>`.
pub fn story_file(story_id: &str, name: &str) -> String {
    format!("{STORIES}/{story_id}/{name}")
}

/// `stories/<story id>/audio/<recording id>.<wav|flac|opus>`: named by its format, so
/// the lossless copy and the listening copy sit side by side.
pub fn audio_file(story_id: &str, recording_id: &str, format: AudioFormat) -> String {
    format!(
        "{STORIES}/{story_id}/{AUDIO_DIR}/{recording_id}.{}",
        format.extension()
    )
}

/// An audio file's name read back: its recording id and format, and so which copy it
/// is (Opus is the listening copy); None for any other name.
pub fn parse_audio_name(name: &str) -> Option<(String, AudioFormat, Representation)> {
    let (stem, extension) = name.rsplit_once('.')?;
    let format = AudioFormat::parse(extension)?;
    let id = checked_id(stem, "recording").ok().filter(|id| id == stem)?;
    let representation = match format {
        AudioFormat::OggOpus => Representation::Listening,
        AudioFormat::Wav | AudioFormat::Flac => Representation::Lossless,
    };
    Some((id, format, representation))
}

/// An id from the server as the canonical UUID text, or an error: ids become folder
/// and file names, so nothing else (`..`, `/`) may pass.
pub fn checked_id(text: &str, what: &str) -> Result<String> {
    uuid::Uuid::try_parse(text)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| Error::Protocol(format!("a {what} id is not a UUID: {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uuids_become_names() {
        let id = "0190f0d2-8a6b-7c3d-9e4f-0123456789ab";
        assert_eq!(checked_id(id, "story").unwrap(), id);
        assert_eq!(
            checked_id(&id.to_uppercase(), "story").unwrap(),
            id,
            "canonical lowercase"
        );
        for bad in [
            "../../etc",
            "",
            "a/b",
            "0190f0d2-8a6b-7c3d-9e4f-0123456789ab/..",
        ] {
            assert!(checked_id(bad, "story").is_err(), "{bad}");
        }
    }

    #[test]
    fn relative_paths_map_under_the_root() {
        let layout = Layout::new("/data/pulled");
        assert_eq!(
            layout.path(&audio_file("s", "r", AudioFormat::Flac)),
            PathBuf::from("/data/pulled/stories/s/audio/r.flac")
        );
        let id = "0190f0d2-8a6b-7c3d-9e4f-0123456789ab";
        assert_eq!(
            parse_audio_name(&format!("{id}.opus")),
            Some((
                id.to_string(),
                AudioFormat::OggOpus,
                Representation::Listening
            ))
        );
        assert_eq!(
            parse_audio_name(&format!("{id}.wav")),
            Some((id.to_string(), AudioFormat::Wav, Representation::Lossless))
        );
        assert_eq!(parse_audio_name(&format!("{id}.mp3")), None);
        assert_eq!(parse_audio_name("../x.wav"), None);
    }
}
