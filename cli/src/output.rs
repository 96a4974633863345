//! Printing for people (tables) and for scripts (JSON).

use comfy_table::{ContentArrangement, LineStyle, Table, TableStyle};
use serde::Serialize;
use tellus_core::model::{
    ConsentEvent, ConsentMethod, ConsentState, ConsentStatus, Identity, Note, Story,
};

pub fn json<T: Serialize>(value: &T) -> crate::CmdResult {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

/// "1 story", "2 stories", "0 pauses".
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A header rule and nothing else: readable in any terminal, easy to copy from.
const STYLE: TableStyle =
    TableStyle::new().header_separator(LineStyle::none().fill('─').junction(' '));

pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(STYLE)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    table
}

pub fn consent_line(state: &ConsentState) -> String {
    match state.status {
        ConsentStatus::None => "not recorded".to_string(),
        ConsentStatus::Withdrawn => format!(
            "withdrawn{}",
            state.since.map(|t| format!(" on {t}")).unwrap_or_default()
        ),
        ConsentStatus::Active => format!(
            "given on form {} v{} ({}): {}",
            state.form_id.as_deref().unwrap_or("?"),
            state.form_version.unwrap_or_default(),
            state.language.as_deref().unwrap_or("?"),
            state.granted.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

pub fn method_text(method: &ConsentMethod) -> String {
    match method {
        ConsentMethod::AppCheckbox => "in the app".into(),
        ConsentMethod::Verbal { at } => format!(
            "verbally at {}",
            tellus_core::AudioPosition::from_millis(*at)
        ),
        ConsentMethod::Signed => "signed on paper".into(),
        ConsentMethod::Storyteller => "by the storyteller with their code".into(),
    }
}

/// `recordings` are the story's ids, oldest first: a note's recording shows as its number.
pub fn print_story(
    story: &Story,
    notes: &[Note],
    events: &[ConsentEvent],
    identity: &Identity,
    recordings: &[tellus_core::model::RecordingId],
) {
    println!("{}", story.title);
    println!("  id           {}", story.id);
    println!(
        "  status       {} (revision {})",
        story.status.as_str(),
        story.revision
    );
    println!("  storyteller  {}", story.participant.label);
    if let Some(name) = &identity.name {
        println!("  credited as  {name}");
    }
    if let Some(contact) = &identity.contact {
        println!("  contact      {contact}");
    }
    println!("  consent      {}", consent_line(&story.consent));
    if !story.tags.is_empty() {
        println!("  tags         {}", story.tags.join(", "));
    }
    for (key, value) in &story.demographics {
        println!("  {key:<12} {value}");
    }
    println!("  created      {}", story.created_at);
    if !story.summary.is_empty() {
        println!("\n{}", story.summary);
    }
    if !notes.is_empty() {
        let mut t = table(&["recording", "at", "kind", "question", "text"]);
        for note in notes {
            let number = note
                .recording_id
                .and_then(|id| recordings.iter().position(|r| *r == id))
                .map(|i| (i + 1).to_string());
            t.add_row(vec![
                number.unwrap_or_else(|| "-".into()),
                note.at.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                note.kind.as_str().to_string(),
                note.question_id.clone().unwrap_or_default(),
                note.text.clone(),
            ]);
        }
        println!("\nNotes and markers\n{t}");
    }
    if !events.is_empty() {
        let mut t = table(&["when", "event", "form", "granted", "how", "by"]);
        for e in events {
            t.add_row(vec![
                e.captured_at.to_string(),
                e.kind.as_str().to_string(),
                match (&e.form_id, e.form_version, &e.language) {
                    (Some(id), Some(v), Some(lang)) => format!("{id} v{v} ({lang})"),
                    _ => "-".into(),
                },
                e.granted.iter().cloned().collect::<Vec<_>>().join(", "),
                method_text(&e.method),
                e.captured_by.clone(),
            ]);
        }
        println!("\nConsent history\n{t}");
    }
}
