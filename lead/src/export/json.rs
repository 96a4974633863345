//! JSON: the export as one document, for scripts and other tools.

use serde::Serialize;

use super::{ExportRecord, ProjectInfo};
use crate::fsutil::now_rfc3339;
use crate::scope::ExportScope;
use crate::{Error, Result};

#[derive(Serialize)]
struct Document<'a> {
    project_id: &'a str,
    project_name: &'a str,
    scope: ExportScope,
    exported_at: String,
    stories: &'a [ExportRecord],
}

pub fn render(
    records: &[ExportRecord],
    project: &ProjectInfo,
    scope: ExportScope,
) -> Result<Vec<u8>> {
    let doc = Document {
        project_id: &project.id,
        project_name: &project.name,
        scope,
        exported_at: now_rfc3339(),
        stories: records,
    };
    let mut bytes = serde_json::to_vec_pretty(&doc)
        .map_err(|e| Error::Folder(format!("cannot serialise the export: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}
