//! Exports from a pulled folder, with consent enforced: `select` is the one place that
//! decides which stories go in (by scope) and which personal details they carry; the
//! formats (`csv`, `json`, `ohms`) only lay out what `select` gave them.

mod csv;
mod json;
mod ohms;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tellus_protocol::Representation;

use crate::folder::{PulledFolder, PulledStory};
use crate::fsutil::{Access, Durability, replace_file};
use crate::scope::{self, ExportScope};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    /// OHMS 5.4 XML (Oral History Metadata Synchronizer), one file per story.
    Ohms,
}

impl Format {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "ohms" => Some(Format::Ohms),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ExportOptions {
    pub scope: ExportScope,
    pub format: Format,
    /// Contact details of storytellers who granted `recontact`; never anyone else's.
    pub include_contacts: bool,
}

/// One story as an export may show it: only what its consent allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportRecord {
    pub story_id: String,
    pub revision: u32,
    pub status: String,
    pub title: String,
    pub summary: String,
    /// The label the story uses ("Participant 1"), never a real name.
    pub storyteller: String,
    /// Only with `credit_by_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credited_name: Option<String>,
    /// Only with `--include-contacts` and `recontact`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    pub tags: Vec<String>,
    pub demographics: BTreeMap<String, String>,
    pub consent_granted: Vec<String>,
    pub notes: Vec<ExportNote>,
    pub recordings: Vec<ExportRecording>,
    /// The recordings' transcripts on one timeline (each recording's cues shifted by
    /// the recordings before it); a speaker's name only with `credit_by_name`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transcript: Vec<crate::transcripts::Cue>,
    pub duration_ms: u64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportNote {
    /// "note" or "marker".
    pub kind: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question_id: Option<String>,
    /// The interview guide's question, when the note names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportRecording {
    pub id: String,
    /// The file this entry points to, relative to the pulled folder: the lossless copy
    /// when it is held, else the listening copy.
    pub file: String,
    /// "lossless" or "listening": which copy `file` is.
    pub representation: Representation,
    /// "wav", "flac" or "opus".
    pub format: String,
    /// The content type of `file` (audio/flac, audio/wav, audio/ogg).
    pub content_type: String,
    /// Of `file`, as the manifest verified it.
    pub sha256: String,
    pub bytes: u64,
    pub duration_ms: u64,
    /// The listening copy too, when it is held beside the lossless one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listening_file: Option<String>,
}

/// What an export produced: files to write (name → contents) and what went in.
#[derive(Debug, Clone)]
pub struct ExportOutput {
    /// One file for CSV and JSON; one per story for OHMS (`<story id>.xml`).
    pub files: Vec<(String, Vec<u8>)>,
    pub stories: usize,
    /// Stories in the folder that the scope does not cover.
    pub left_out: usize,
    /// Stories that could not be read (and so are in no export).
    pub skipped: Vec<String>,
}

/// The project's name and id, for the formats that carry them.
#[derive(Debug, Clone, Default)]
pub struct ProjectInfo {
    pub id: String,
    pub name: String,
    /// Interview guide: question id → text.
    pub questions: BTreeMap<String, String>,
}

impl ProjectInfo {
    fn from_folder(folder: &PulledFolder) -> Self {
        let Some(project) = &folder.project else {
            return ProjectInfo::default();
        };
        let text = |v: &serde_json::Value, key: &str| {
            v.get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let questions = project
            .get("guide")
            .and_then(|g| g.as_array())
            .map(|guide| {
                guide
                    .iter()
                    .map(|q| (text(q, "id"), text(q, "text")))
                    .filter(|(id, _)| !id.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        ProjectInfo {
            id: text(project, "id"),
            name: text(project, "name"),
            questions,
        }
    }
}

/// The stories of `folder` that `options.scope` covers, with only the details their
/// consent allows.
pub fn select(folder: &PulledFolder, options: &ExportOptions) -> Vec<ExportRecord> {
    let project = ProjectInfo::from_folder(folder);
    folder
        .stories
        .iter()
        .filter(|story| scope::admits(options.scope, story))
        .map(|story| record(story, &project, options.include_contacts))
        .collect()
}

fn record(story: &PulledStory, project: &ProjectInfo, include_contacts: bool) -> ExportRecord {
    let doc = &story.doc;
    let disclosure = scope::disclose(story, include_contacts);
    let mut recordings: Vec<ExportRecording> = Vec::new();
    // `story.audio` holds each recording's lossless copy before its listening copy.
    for held in &story.audio {
        if let Some(known) = recordings.iter_mut().find(|r| r.id == held.recording_id) {
            if held.representation == Representation::Listening {
                known.listening_file = Some(held.file.clone());
            }
            continue;
        }
        let meta = doc.recordings.iter().find(|r| r.id == held.recording_id);
        recordings.push(ExportRecording {
            id: held.recording_id.clone(),
            file: held.file.clone(),
            representation: held.representation,
            format: held.format.as_str().to_string(),
            content_type: held.format.content_type().to_string(),
            sha256: held.sha256.clone().unwrap_or_default(),
            bytes: held.bytes.unwrap_or_default(),
            duration_ms: meta.map_or(0, |m| m.duration_ms),
            listening_file: None,
        });
    }
    let mut transcript = Vec::new();
    let mut offset = 0;
    for (i, recording) in recordings.iter().enumerate() {
        for cue in story.transcripts.get(i).into_iter().flatten() {
            transcript.push(crate::transcripts::Cue {
                start_ms: cue.start_ms + offset,
                end_ms: cue.end_ms + offset,
                text: cue.text.clone(),
                // A quote under quote_anonymously (or no credit) carries no name.
                speaker: cue.speaker.clone().filter(|_| disclosure.name.is_some()),
            });
        }
        offset += recording.duration_ms;
    }
    ExportRecord {
        transcript,
        story_id: doc.id.clone(),
        revision: doc.revision,
        status: doc.status.clone(),
        title: doc.title.clone(),
        summary: doc.summary.clone(),
        storyteller: doc.storyteller.label.clone(),
        credited_name: disclosure.name,
        contact: disclosure.contact,
        tags: doc.tags.clone(),
        demographics: doc.demographics.clone(),
        consent_granted: story.consent.granted.iter().cloned().collect(),
        notes: doc
            .notes
            .iter()
            .map(|n| ExportNote {
                kind: n.kind.clone(),
                text: n.text.clone(),
                at_ms: n.at_ms,
                question: n
                    .question_id
                    .as_ref()
                    .and_then(|q| project.questions.get(q).cloned()),
                question_id: n.question_id.clone(),
            })
            .collect(),
        duration_ms: recordings.iter().map(|r| r.duration_ms).sum(),
        recordings,
        created_at: doc.created_at.clone(),
        updated_at: doc.updated_at.clone(),
    }
}

/// Exports `folder` as `options` say.
pub fn export(folder: &PulledFolder, options: &ExportOptions) -> Result<ExportOutput> {
    if options.include_contacts && options.format == Format::Ohms {
        return Err(Error::InvalidInput(
            "OHMS files are for publishing and have no place for contact details; export contacts as csv or json"
                .into(),
        ));
    }
    let records = select(folder, options);
    let project = ProjectInfo::from_folder(folder);
    let scope = options.scope.as_str();
    let files = match options.format {
        Format::Csv => vec![(
            format!("stories-{scope}.csv"),
            csv::render(&records, options.include_contacts),
        )],
        Format::Json => vec![(
            format!("stories-{scope}.json"),
            json::render(&records, &project, options.scope)?,
        )],
        Format::Ohms => records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    format!("{}.xml", r.story_id),
                    ohms::render(r, i + 1, &project, options.scope),
                )
            })
            .collect(),
    };
    Ok(ExportOutput {
        files,
        stories: records.len(),
        left_out: folder.stories.len() - records.len(),
        skipped: folder.skipped.clone(),
    })
}

/// `1:02:03` or `4:05` for a position in milliseconds.
pub(crate) fn clock(ms: u64) -> String {
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

impl ExportOutput {
    /// Writes the one file of a CSV or JSON export to `path`, whole or not at all.
    pub fn write_file(&self, path: &Path) -> Result<()> {
        match self.files.as_slice() {
            [(_, bytes)] => write_whole(path, bytes),
            _ => Err(Error::InvalidInput(
                "this export is several files; give a folder to write them into".into(),
            )),
        }
    }

    /// Writes every file into `dir` (created when missing); returns their paths.
    pub fn write_into(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        fs::create_dir_all(dir).map_err(|e| Error::io_at("create", dir, e))?;
        self.files
            .iter()
            .map(|(name, bytes)| {
                let path = dir.join(name);
                write_whole(&path, bytes).map(|()| path)
            })
            .collect()
    }
}

/// A temporary file beside `path`, fsynced, then renamed over it.
fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::InvalidInput(format!("{} is not a file name", path.display())))?;
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    replace_file(path, &tmp, bytes, Access::Default, Durability::Now)
}
