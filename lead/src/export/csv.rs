//! CSV: one row per story, for spreadsheets. The same quoting as the server's CSV
//! export: every field quoted, and a leading `= + - @` defused with `'` so that a
//! spreadsheet does not run it as a formula.

use tellus_protocol::csv_field;

use super::{ExportRecord, clock};

pub fn render(records: &[ExportRecord], include_contacts: bool) -> Vec<u8> {
    let mut header = vec![
        "story_id",
        "revision",
        "status",
        "title",
        "summary",
        "storyteller",
        "credited_name",
    ];
    if include_contacts {
        header.push("contact");
    }
    header.extend([
        "tags",
        "demographics",
        "consent_granted",
        "notes",
        "recordings",
        "duration",
        "created_at",
        "updated_at",
    ]);
    let mut out = header.join(",");
    out.push('\n');
    for r in records {
        let mut fields = vec![
            r.story_id.clone(),
            r.revision.to_string(),
            r.status.clone(),
            r.title.clone(),
            r.summary.clone(),
            r.storyteller.clone(),
            r.credited_name.clone().unwrap_or_default(),
        ];
        if include_contacts {
            fields.push(r.contact.clone().unwrap_or_default());
        }
        fields.extend([
            r.tags.join(";"),
            r.demographics
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(";"),
            r.consent_granted.join(";"),
            r.notes
                .iter()
                .map(|n| {
                    let text = if n.text.is_empty() {
                        n.question.clone().unwrap_or_default()
                    } else {
                        n.text.clone()
                    };
                    match n.at_ms {
                        Some(at) => format!("[{}] {text}", clock(at)),
                        None => text,
                    }
                })
                .collect::<Vec<_>>()
                .join(" | "),
            r.recordings
                .iter()
                .map(|rec| rec.file.clone())
                .collect::<Vec<_>>()
                .join(";"),
            clock(r.duration_ms),
            r.created_at.clone(),
            r.updated_at.clone(),
        ]);
        out.push_str(
            &fields
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out.into_bytes()
}
