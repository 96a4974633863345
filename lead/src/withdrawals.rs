//! A storyteller's withdrawal reaching the lead's copy (DESIGN.md §1.6): the story's
//! folder (audio, metadata, notes, consent, identity) and any partial download of it
//! are removed, and `withdrawals.log` gets one JSON line saying what was removed and
//! when. The line is written (and fsynced) before anything is removed and carries the
//! feed cursor, so a run killed half-way logs each withdrawal once and still removes
//! everything next time.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::fsutil::{now_rfc3339, sync_dir};
use crate::layout::{self, Layout, story_prefix};
use crate::manifest::Manifest;
use crate::{Error, Result};

/// One line of `withdrawals.log`. Ids and paths only: no story text, no names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawalRecord {
    pub story_id: String,
    /// When the server recorded the withdrawal (RFC 3339).
    pub withdrawn_at: String,
    /// When this folder's copy was removed (RFC 3339).
    pub removed_at: String,
    /// The feed position of the withdrawal.
    pub cursor: String,
    /// Folder-relative paths removed; empty when this folder held nothing of the story.
    pub removed: Vec<String>,
}

/// The log as read at the start of a pull.
#[derive(Debug, Default)]
pub struct WithdrawalLog {
    cursors: BTreeSet<String>,
}

impl WithdrawalLog {
    pub fn load(layout: &Layout) -> Result<WithdrawalLog> {
        Ok(WithdrawalLog {
            cursors: read_log(layout)?.into_iter().map(|r| r.cursor).collect(),
        })
    }

    /// Removes the story's copy from the folder and the manifest, logging it first.
    pub fn apply(
        &mut self,
        layout: &Layout,
        manifest: &mut Manifest,
        story_id: &str,
        withdrawn_at: &str,
        cursor: &str,
    ) -> Result<WithdrawalRecord> {
        let story_dir = layout.story_dir(story_id);
        let mut removed: BTreeSet<String> = manifest
            .files
            .keys()
            .filter(|path| path.starts_with(&story_prefix(story_id)))
            .cloned()
            .collect();
        removed.extend(files_in(&story_dir, &story_prefix(story_id))?);
        let partials = partials_of(layout, story_id)?;
        let record = WithdrawalRecord {
            story_id: story_id.to_string(),
            withdrawn_at: withdrawn_at.to_string(),
            removed_at: now_rfc3339(),
            cursor: cursor.to_string(),
            removed: removed.into_iter().collect(),
        };
        if !self.cursors.contains(cursor) {
            append(layout, &record)?;
            self.cursors.insert(cursor.to_string());
        }
        if story_dir.exists() {
            fs::remove_dir_all(&story_dir).map_err(|e| Error::io_at("remove", &story_dir, e))?;
            if let Some(parent) = story_dir.parent() {
                sync_dir(parent)?;
            }
        }
        for partial in partials {
            fs::remove_file(&partial).map_err(|e| Error::io_at("remove", &partial, e))?;
        }
        manifest.remove_under(&story_prefix(story_id));
        Ok(record)
    }
}

/// Every line of the folder's withdrawal log.
pub fn read_log(layout: &Layout) -> Result<Vec<WithdrawalRecord>> {
    let path = layout.root().join(layout::WITHDRAWALS_LOG);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io_at("read", &path, e)),
    };
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).map_err(|e| {
                Error::Folder(format!(
                    "{} has a line that cannot be read ({e}); it is append-only, fix or move it aside",
                    path.display()
                ))
            })
        })
        .collect()
}

fn append(layout: &Layout, record: &WithdrawalRecord) -> Result<()> {
    let path = layout.root().join(layout::WITHDRAWALS_LOG);
    let mut line = serde_json::to_string(record)
        .map_err(|e| Error::Folder(format!("cannot serialise a withdrawal: {e}")))?;
    line.push('\n');
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io_at("open", &path, e))?;
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io_at("append to", &path, e))
}

/// Files under `dir`, as folder-relative paths starting with `prefix`.
fn files_in(dir: &std::path::Path, prefix: &str) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), prefix.to_string())];
    while let Some((dir, rel)) = pending.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io_at("read", &dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io_at("read", &dir, e))?;
            let name = format!("{rel}{}", entry.file_name().to_string_lossy());
            if entry.path().is_dir() {
                pending.push((entry.path(), format!("{name}/")));
            } else {
                found.push(name);
            }
        }
    }
    Ok(found)
}

fn partials_of(layout: &Layout, story_id: &str) -> Result<Vec<std::path::PathBuf>> {
    let dir = layout.partial_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io_at("read", &dir, e)),
    };
    let prefix = format!("{story_id}.");
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io_at("read", &dir, e))?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            found.push(entry.path());
        }
    }
    Ok(found)
}
