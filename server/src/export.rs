//! The shape of the leads' CSV export (the whole project's and one story's): which
//! stories it admits is `visibility` and the consent's scope; this is its columns.

use tellus_protocol::{ConsentSummary, IdentityDoc, StoryDocument, csv_field};

use crate::clock::rfc3339;

/// The header line of every CSV export.
pub const CSV_HEADER: &str = "story_id,revision,status,title,summary,storyteller,credited_name,tags,recordings,consent_granted,updated_at\n";

/// One story's CSV line (newline included): `identity` is the stored real name and
/// contact (JSON text), of which only what `consent` allows is written.
pub fn csv_line(
    id: &str,
    doc: StoryDocument,
    identity: Option<&str>,
    consent: &ConsentSummary,
    delivered: u32,
    updated_at: i64,
) -> String {
    let name = identity
        .and_then(|t| serde_json::from_str::<IdentityDoc>(t).ok())
        .and_then(|i| i.allowed_by(consent).name)
        .unwrap_or_default();
    let fields = [
        id.to_string(),
        doc.revision.to_string(),
        doc.status,
        doc.title,
        doc.summary,
        doc.storyteller.label,
        name,
        doc.tags.join(";"),
        delivered.to_string(),
        consent
            .granted
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(";"),
        rfc3339(updated_at),
    ];
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}
