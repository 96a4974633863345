//! Reading a pulled folder back, for exports. A story whose consent cannot be read is
//! left out and reported: without a consent known, no scope covers it.

use std::fs;
use std::path::Path;

use serde::de::DeserializeOwned;
use tellus_protocol::{
    AudioFormat, ConsentSummary, IdentityDoc, NoteDoc, Representation, StoryDocument,
};

use crate::layout::{self, Layout, checked_id, parse_audio_name, story_file};
use crate::manifest::Manifest;
use crate::{Error, Result};

/// One story as pulled.
#[derive(Debug, Clone)]
pub struct PulledStory {
    /// The document with its notes; `identity` and `consent` are kept apart below.
    pub doc: StoryDocument,
    pub consent: ConsentSummary,
    /// Only present when the server sent it, i.e. while consent allowed it.
    pub identity: Option<IdentityDoc>,
    /// The audio files held (lossless and listening copies), in the document's order
    /// of recordings, the lossless copy first.
    pub audio: Vec<HeldAudio>,
    /// Each held recording's transcript cues (`<recording>.vtt`), one entry per recording
    /// in the order of `audio`'s first file of it.
    pub transcripts: Vec<Vec<crate::transcripts::Cue>>,
}

/// One audio file of a pulled story.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldAudio {
    pub recording_id: String,
    pub representation: Representation,
    pub format: AudioFormat,
    /// Relative to the pulled folder.
    pub file: String,
    /// As the manifest lists it (None for a file the manifest does not know).
    pub sha256: Option<String>,
    pub bytes: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct PulledFolder {
    /// The project's configuration (`project.json`), when it is there.
    pub project: Option<serde_json::Value>,
    /// Sorted by story id.
    pub stories: Vec<PulledStory>,
    /// Stories left out, and why (ids and file names only).
    pub skipped: Vec<String>,
}

impl PulledFolder {
    pub fn read(dir: &Path) -> Result<PulledFolder> {
        let layout = Layout::new(dir);
        if !layout.root().join(layout::MANIFEST).exists() {
            return Err(Error::Folder(format!(
                "{} is not a folder made by `tellus pull` (it has no {})",
                dir.display(),
                layout::MANIFEST
            )));
        }
        let project = read_json::<serde_json::Value>(&layout.root().join(layout::PROJECT)).ok();
        let manifest = Manifest::load(&layout)?;
        let mut folder = PulledFolder {
            project,
            ..PulledFolder::default()
        };
        let stories_dir = layout.root().join(layout::STORIES);
        let entries = match fs::read_dir(&stories_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(folder),
            Err(e) => return Err(Error::io_at("read", &stories_dir, e)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io_at("read", &stories_dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match checked_id(&name, "story") {
                Ok(id) if id == name => ids.push(id),
                _ => folder
                    .skipped
                    .push(format!("stories/{name}: not a story folder")),
            }
        }
        ids.sort();
        for id in ids {
            match read_story(&layout, &manifest, &id) {
                Ok(Some(story)) => folder.stories.push(story),
                Ok(None) => {}
                Err(why) => folder.skipped.push(format!("story {id}: {why}")),
            }
        }
        Ok(folder)
    }
}

/// A story's folder, or None when it holds no document yet (only audio arrived).
fn read_story(
    layout: &Layout,
    manifest: &Manifest,
    id: &str,
) -> std::result::Result<Option<PulledStory>, String> {
    let file = |name: &str| layout.path(&layout::story_file(id, name));
    if !file(layout::STORY_JSON).exists() {
        return Ok(None);
    }
    let consent: ConsentSummary = read_json(&file(layout::CONSENT_JSON))
        .map_err(|e| format!("its consent cannot be read ({e}); left out of every export"))?;
    let mut doc: StoryDocument =
        read_json(&file(layout::STORY_JSON)).map_err(|e| format!("{}: {e}", layout::STORY_JSON))?;
    doc.notes = read_json::<Vec<NoteDoc>>(&file(layout::NOTES_JSON))
        .map_err(|e| format!("{}: {e}", layout::NOTES_JSON))?;
    doc.identity = None;
    doc.consent = None;
    let identity_path = file(layout::IDENTITY_JSON);
    let identity = if identity_path.exists() {
        Some(
            read_json::<IdentityDoc>(&identity_path)
                .map_err(|e| format!("{}: {e}", layout::IDENTITY_JSON))?,
        )
    } else {
        None
    };
    let audio = audio_held(layout, manifest, id, &doc)?;
    let mut recording_ids: Vec<&str> = Vec::new();
    for held in &audio {
        if !recording_ids.contains(&held.recording_id.as_str()) {
            recording_ids.push(&held.recording_id);
        }
    }
    let transcripts = crate::transcripts::held(layout, id, &recording_ids);
    Ok(Some(PulledStory {
        doc,
        consent,
        identity,
        audio,
        transcripts,
    }))
}

/// The audio files in the story's `audio/` folder, in the document's order (any the
/// document does not list yet come last), each recording's lossless copy first.
fn audio_held(
    layout: &Layout,
    manifest: &Manifest,
    id: &str,
    doc: &StoryDocument,
) -> std::result::Result<Vec<HeldAudio>, String> {
    let dir = layout.story_dir(id).join(layout::AUDIO_DIR);
    let mut held: Vec<HeldAudio> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let (recording_id, format, representation) = parse_audio_name(&name)?;
                let file = story_file(id, &format!("{}/{name}", layout::AUDIO_DIR));
                let listed = manifest.files.get(&file);
                Some(HeldAudio {
                    recording_id,
                    representation,
                    format,
                    sha256: listed.map(|f| f.sha256.clone()),
                    bytes: listed.map(|f| f.bytes),
                    file,
                })
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let position = |recording: &str| {
        doc.recordings
            .iter()
            .position(|r| r.id == recording)
            .unwrap_or(usize::MAX)
    };
    held.sort_by(|a, b| {
        (position(&a.recording_id), &a.recording_id, a.representation).cmp(&(
            position(&b.recording_id),
            &b.recording_id,
            b.representation,
        ))
    });
    Ok(held)
}

fn read_json<T: DeserializeOwned>(path: &Path) -> std::result::Result<T, String> {
    let bytes = fs::read(path).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}
