//! A story document as files in its folder: metadata, notes and markers, the consent
//! summary and (only while consent allows) the identity, each apart, so that the text a
//! lead reads never sits beside a name it no longer may hold.

use std::fs;

use serde::Serialize;
use tellus_protocol::{IdentityDoc, NoteDoc, StoryDocument};

use crate::fsutil::{Durability, write_atomic};
use crate::layout::{self, Layout, checked_id, story_file};
use crate::manifest::Manifest;
use crate::{Error, Result};

/// A story document as its folder: metadata, notes, consent and (only when the server
/// sent one, which it does only while consent allows) identity, each its own file.
pub fn write_story(
    layout: &Layout,
    manifest: &mut Manifest,
    story_id: &str,
    mut doc: StoryDocument,
) -> Result<()> {
    if checked_id(&doc.id, "story")? != story_id {
        return Err(Error::Protocol(format!(
            "asked for story {story_id}, got story {}",
            doc.id
        )));
    }
    let identity = doc.identity.take().filter(|i| !i.is_empty());
    // No consent from the server means none known: such a story is in no export.
    let consent = doc.consent.take().unwrap_or_default();
    let mut notes = std::mem::take(&mut doc.notes);
    notes.sort_by_key(note_order);
    let mut metadata = serde_json::to_value(&doc).map_err(serialise)?;
    if let Some(object) = metadata.as_object_mut() {
        object.remove("notes");
    }
    let files: [(&str, Vec<u8>); 3] = [
        (layout::STORY_JSON, pretty(&metadata)?),
        (layout::NOTES_JSON, pretty(&notes)?),
        (layout::CONSENT_JSON, pretty(&consent)?),
    ];
    for (name, bytes) in files {
        let rel = story_file(story_id, name);
        let entry = write_atomic(layout, &rel, &bytes, Durability::WithPage)?;
        manifest.insert(rel, entry);
    }
    let rel = story_file(story_id, layout::IDENTITY_JSON);
    match identity {
        Some(identity) => {
            let entry = write_atomic(
                layout,
                &rel,
                &pretty::<IdentityDoc>(&identity)?,
                Durability::WithPage,
            )?;
            manifest.insert(rel, entry);
        }
        None => {
            // Consent no longer allows it (or never did): it must not stay here.
            let path = layout.path(&rel);
            if path.exists() {
                fs::remove_file(&path).map_err(|e| Error::io_at("remove", &path, e))?;
            }
            manifest.remove(&rel);
        }
    }
    Ok(())
}

/// Timed notes and markers in audio order, then untimed ones as they were written.
fn note_order(note: &NoteDoc) -> (bool, u64, String) {
    (
        note.at_ms.is_none(),
        note.at_ms.unwrap_or(0),
        note.created_at.clone(),
    )
}

pub fn pretty<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(serialise)?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn serialise(e: serde_json::Error) -> Error {
    Error::Folder(format!("cannot serialise a story file: {e}"))
}
