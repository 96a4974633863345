//! The manifest: every file the pull put in the folder, with its SHA-256 and size, and
//! `verify`, which re-hashes the folder against it.
//!
//! It is rewritten (atomically) after each page of the feed, before the cursor moves
//! past that page: whatever the cursor says was pulled is in the manifest. A file moved
//! into place by a run killed before that point is hashed again by the next run, which
//! goes over the same page again.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tellus_protocol::Representation;

use crate::fsutil::{Durability, hash_file, write_atomic};
use crate::layout::{self, Layout};
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Lowercase hex.
    pub sha256: String,
    pub bytes: u64,
}

/// What an audio file of the folder is (issue 20): which copy of which recording, in
/// which format, and the PCM identity it was verified against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioEntry {
    pub recording_id: String,
    pub representation: Representation,
    /// "wav", "flac" or "opus".
    pub format: String,
    /// The lossless copy's PCM identity, checked by decoding it after download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcm_sha256: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Folder-relative path (with `/`) → what it must hash to.
    pub files: BTreeMap<String, FileEntry>,
    /// The audio files among them → what they are (absent from folders pulled before
    /// issue 20, whose audio is `<recording id>.wav`, the lossless copy).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub audio: BTreeMap<String, AudioEntry>,
}

impl Manifest {
    /// The folder's manifest; empty when there is none yet.
    pub fn load(layout: &Layout) -> Result<Manifest> {
        let path = layout.root().join(layout::MANIFEST);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::Folder(format!(
                    "the manifest {} cannot be read ({e}); move it aside and pull again to rebuild it",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(Error::io_at("read", &path, e)),
        }
    }

    /// Writes `manifest.json` and `SHA256SUMS`, each atomically.
    pub fn save(&self, layout: &Layout) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Folder(format!("cannot serialise the manifest: {e}")))?;
        write_atomic(layout, layout::MANIFEST, &json, Durability::Now)?;
        let sums: String = self
            .files
            .iter()
            .map(|(path, entry)| format!("{}  {path}\n", entry.sha256))
            .collect();
        write_atomic(layout, layout::SHA256SUMS, sums.as_bytes(), Durability::Now)?;
        Ok(())
    }

    pub fn insert(&mut self, rel: String, entry: FileEntry) {
        self.files.insert(rel, entry);
    }

    /// An audio file, with what it is.
    pub fn insert_audio(&mut self, rel: String, entry: FileEntry, audio: AudioEntry) {
        self.files.insert(rel.clone(), entry);
        self.audio.insert(rel, audio);
    }

    pub fn remove(&mut self, rel: &str) -> Option<FileEntry> {
        self.audio.remove(rel);
        self.files.remove(rel)
    }

    /// Forgets every file under `prefix`; returns their paths.
    pub fn remove_under(&mut self, prefix: &str) -> Vec<String> {
        let gone: Vec<String> = self
            .files
            .range(prefix.to_string()..)
            .take_while(|(path, _)| path.starts_with(prefix))
            .map(|(path, _)| path.clone())
            .collect();
        for path in &gone {
            self.files.remove(path);
            self.audio.remove(path);
        }
        gone
    }
}

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Files hashed and found as the manifest says.
    pub verified: usize,
    pub bytes: u64,
    /// In the manifest, but with other contents now.
    pub altered: Vec<String>,
    /// In the manifest, but not in the folder.
    pub missing: Vec<String>,
    /// In the folder under `stories/` or at the top, but not in the manifest (a file
    /// someone put there; reported, not counted as damage).
    pub unexpected: Vec<String>,
}

impl VerifyReport {
    /// Every file the manifest names is there, whole.
    pub fn is_intact(&self) -> bool {
        self.altered.is_empty() && self.missing.is_empty()
    }
}

/// Re-hashes every file of the manifest in the folder `dir`. `on_file` is told the size
/// of each file as it is done (for a progress bar).
pub fn verify(dir: &Path, on_file: &dyn Fn(u64)) -> Result<VerifyReport> {
    let layout = Layout::new(dir);
    if !layout.root().join(layout::MANIFEST).exists() {
        return Err(Error::Folder(format!(
            "{} has no {}: it is not a folder made by `tellus pull`",
            dir.display(),
            layout::MANIFEST
        )));
    }
    let manifest = Manifest::load(&layout)?;
    let mut report = VerifyReport::default();
    for (rel, expected) in &manifest.files {
        let path = layout.path(rel);
        match hash_file(&path) {
            Ok(found) if &found == expected => {
                report.verified += 1;
                report.bytes += found.bytes;
            }
            Ok(_) => report.altered.push(rel.clone()),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                report.missing.push(rel.clone())
            }
            Err(e) => return Err(e),
        }
        on_file(expected.bytes);
    }
    for rel in files_under(&layout)? {
        if !manifest.files.contains_key(&rel) {
            report.unexpected.push(rel);
        }
    }
    Ok(report)
}

/// Every file in the folder that the manifest should know: all but the manifest itself,
/// the log and the pull's own state.
fn files_under(layout: &Layout) -> Result<Vec<String>> {
    let own = [
        layout::MANIFEST,
        layout::SHA256SUMS,
        layout::WITHDRAWALS_LOG,
        layout::STATE_DIR,
    ];
    let mut found = Vec::new();
    let mut pending = vec![(layout.root().to_path_buf(), String::new())];
    while let Some((dir, rel)) = pending.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| Error::io_at("read", &dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io_at("read", &dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if rel.is_empty() && own.contains(&name.as_str()) {
                continue;
            }
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let kind = entry
                .file_type()
                .map_err(|e| Error::io_at("read", &entry.path(), e))?;
            if kind.is_dir() {
                pending.push((entry.path(), child));
            } else {
                found.push(child);
            }
        }
    }
    found.sort();
    Ok(found)
}
