//! OHMS 5.4 XML (the Oral History Metadata Synchronizer of the Louie B. Nunn Center), one
//! `record` per file as OHMS imports them. Markers and timed notes become index points
//! (time in whole seconds, title, synopsis, keywords from the story's tags separated by
//! `;`); tags are also the record's keywords. The elements follow the schema's sequence
//! order (`tests/support/fixtures/ohms.xsd`); every export in the tests is validated
//! against it with xmllint. Contact details have no place here.

use std::fmt::Write;

use super::{ExportRecord, ProjectInfo, clock};
use crate::scope::ExportScope;

const NAMESPACE: &str = "https://www.weareavp.com/nunncenter/ohms";

/// `number` is the record's `id` attribute, which the schema wants as an integer (the
/// story's UUID goes in `cms_record_id` and `accession`).
pub fn render(
    r: &ExportRecord,
    number: usize,
    project: &ProjectInfo,
    scope: ExportScope,
) -> Vec<u8> {
    let date = date_of(&r.created_at);
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(x, "<ROOT xmlns=\"{NAMESPACE}\">");
    let _ = writeln!(
        x,
        "  <record id=\"{}\" dt=\"{date}\">",
        number.min(i32::MAX as usize)
    );
    element(&mut x, 4, "version", "5.4");
    let _ = writeln!(x, "    <date value=\"{date}\" format=\"yyyy-mm-dd\"/>");
    element(&mut x, 4, "cms_record_id", &r.story_id);
    element(&mut x, 4, "title", &r.title);
    element(&mut x, 4, "accession", &r.story_id);
    if r.duration_ms > 0 {
        element(&mut x, 4, "duration", &hms(r.duration_ms));
    }
    if !project.id.is_empty() {
        element(&mut x, 4, "collection_id", &project.id);
    }
    if !project.name.is_empty() {
        element(&mut x, 4, "collection_name", &project.name);
    }
    for tag in &r.tags {
        element(&mut x, 4, "keyword", tag);
    }
    // The credited name only with credit_by_name (decided in `select`); otherwise the
    // story's own label, which is not a name.
    element(
        &mut x,
        4,
        "interviewee",
        r.credited_name.as_deref().unwrap_or(&r.storyteller),
    );
    // The file the record points to, and its own type (FLAC, WAV, or the Opus listening
    // copy when that is all that is held).
    if let Some(first) = r.recordings.first() {
        element(&mut x, 4, "format", &first.content_type);
        element(&mut x, 4, "file_name", &first.file);
    }
    if !r.transcript.is_empty() {
        element(&mut x, 4, "sync", &sync(&r.transcript));
    }
    let untimed: Vec<&str> = r
        .notes
        .iter()
        .filter(|n| n.at_ms.is_none() && !n.text.is_empty())
        .map(|n| n.text.as_str())
        .collect();
    if !untimed.is_empty() {
        element(&mut x, 4, "user_notes", &untimed.join("\n"));
    }
    let keywords = r.tags.join(";");
    x.push_str("    <index>\n");
    for note in r.notes.iter().filter(|n| n.at_ms.is_some()) {
        let at = note.at_ms.unwrap_or(0);
        let (title, synopsis) = match (note.kind.as_str(), &note.question) {
            ("marker", Some(q)) if note.text.is_empty() => (q.clone(), String::new()),
            ("marker", Some(q)) => (note.text.clone(), q.clone()),
            ("marker", None) => (note.text.clone(), String::new()),
            _ => (format!("Note at {}", clock(at)), note.text.clone()),
        };
        x.push_str("      <point>\n");
        element(
            &mut x,
            8,
            "time",
            &(at / 1000).min(i32::MAX as u64).to_string(),
        );
        element(&mut x, 8, "title", &title);
        if !synopsis.is_empty() {
            element(&mut x, 8, "synopsis", &synopsis);
        }
        if !keywords.is_empty() {
            element(&mut x, 8, "keywords", &keywords);
        }
        x.push_str("      </point>\n");
    }
    x.push_str("    </index>\n");
    if !r.summary.is_empty() {
        element(&mut x, 4, "description", &r.summary);
    }
    if !r.transcript.is_empty() {
        element(&mut x, 4, "transcript", &transcript_text(&r.transcript));
    }
    element(
        &mut x,
        4,
        "rights",
        &format!(
            "Exported for {} use with the storyteller's consent (granted: {})",
            scope.as_str(),
            r.consent_granted.join(", ")
        ),
    );
    element(&mut x, 4, "fmt", "audio");
    x.push_str("  </record>\n</ROOT>\n");
    x.into_bytes()
}

fn element(x: &mut String, indent: usize, name: &str, text: &str) {
    let _ = writeln!(x, "{:indent$}<{name}>{}</{name}>", "", escape(text));
}

/// Text as XML 1.0 character data: markup escaped, and characters XML 1.0 cannot hold
/// at all (most control characters) dropped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// `HH:MM:SS`, as OHMS shows durations.
fn hms(ms: u64) -> String {
    let secs = ms / 1000;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// The `YYYY-MM-DD` of an RFC 3339 time (xs:date), or today's when it cannot be read.
fn date_of(rfc3339: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    let parsed = time::OffsetDateTime::parse(rfc3339, &Rfc3339)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let d = parsed.date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The transcript as OHMS shows it: one line per passage, "Name: " before it when a
/// speaker may be named.
fn transcript_text(cues: &[crate::transcripts::Cue]) -> String {
    cues.iter()
        .map(|c| match &c.speaker {
            Some(name) => format!("{name}: {}", c.text),
            None => c.text.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// OHMS sync points, one a minute: `1:|LINE(WORD)|...`, where each entry is the line
/// (1-based, in `transcript_text`) and the word within it (0: its start) at which that
/// minute of the audio begins; the passage that starts first at or after the minute.
fn sync(cues: &[crate::transcripts::Cue]) -> String {
    let end = cues.last().map_or(0, |c| c.end_ms.max(c.start_ms));
    let mut out = String::from("1:");
    let mut minute = 1;
    while minute * 60_000 <= end {
        let at = minute * 60_000;
        if let Some(line) = cues.iter().position(|c| c.start_ms >= at) {
            let _ = write!(out, "|{}(0)", line + 1);
        }
        minute += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_impossible_characters_dropped() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("bell\u{7}\u{0}tab\tok"), "belltab\tok");
    }

    #[test]
    fn dates_and_durations() {
        assert_eq!(date_of("2026-11-22T10:00:00Z"), "2026-11-22");
        assert_eq!(hms(3_723_000), "01:02:03");
    }
}
