//! The limits phone and server agree on, defined once (issue 24). The server enforces its
//! configured `Limits` on every story document and upload and sends them with the
//! project configuration (`"limits"` beside the project's own keys), and the phone
//! refuses input beyond them at the moment it is typed, so a phone never builds a story
//! its server will refuse. Without a word from a server (before enrolment, an older
//! server) both sides use `Limits::default()`.
//!
//! Text is counted in characters (Unicode scalar values, what `str::chars` yields), the
//! same on both sides; sizes are bytes of the document as it is sent (compact JSON).

use serde::{Deserialize, Serialize};

use crate::{RecordingMeta, StoryDocument};

/// How much a story may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// A story's title, in characters.
    pub title_chars: u32,
    /// A story's summary, in characters.
    pub summary_chars: u32,
    /// A storyteller's label, a demographic field's name, a device's label.
    pub label_chars: u32,
    /// One note or marker, in characters.
    pub note_chars: u32,
    /// Notes and markers of one story.
    pub notes_per_story: u32,
    /// Demographic fields of one story.
    pub fields_per_story: u32,
    /// A demographic field's value, in characters.
    pub field_chars: u32,
    /// Recordings of one story.
    pub recordings_per_story: u32,
    /// The story document as sent (compact JSON), in bytes.
    pub document_bytes: u64,
    /// One recording's file, in bytes.
    pub recording_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            title_chars: 200,
            summary_chars: 10_000,
            label_chars: 100,
            note_chars: 10_000,
            notes_per_story: 500,
            fields_per_story: 50,
            field_chars: 200,
            recordings_per_story: 50,
            document_bytes: 1024 * 1024,
            recording_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}

/// A piece of a story that has a length limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    Title,
    Summary,
    StorytellerLabel,
    Note,
    FieldName,
    FieldValue,
    DeviceLabel,
}

impl TextField {
    /// What it is, in words for the person typing it.
    pub fn describe(self) -> &'static str {
        match self {
            TextField::Title => "a story's title",
            TextField::Summary => "a story's summary",
            TextField::StorytellerLabel => "a storyteller's label",
            TextField::Note => "a note",
            TextField::FieldName => "a demographic's name",
            TextField::FieldValue => "a demographic's value",
            TextField::DeviceLabel => "a device's label",
        }
    }

    /// Whether line breaks and tabs belong in it (other control characters never do).
    pub fn multiline(self) -> bool {
        matches!(self, TextField::Summary | TextField::Note)
    }
}

/// Why something is beyond the limits, as a sentence a person can act on. Never
/// carries the text itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverLimit(pub String);

impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OverLimit {}

/// The longest timestamp the phone writes (RFC 3339 with nanoseconds).
const LONGEST_TIMESTAMP: &str = "9999-12-31T23:59:59.999999999Z";

impl Limits {
    pub fn max_chars(&self, field: TextField) -> u32 {
        match field {
            TextField::Title => self.title_chars,
            TextField::Summary => self.summary_chars,
            TextField::StorytellerLabel | TextField::FieldName | TextField::DeviceLabel => {
                self.label_chars
            }
            TextField::Note => self.note_chars,
            TextField::FieldValue => self.field_chars,
        }
    }

    /// Checks one piece of text: not longer than its limit, no control characters (a
    /// NUL or a bell is never meant; notes and summaries may hold line breaks and tabs).
    pub fn check_text(&self, field: TextField, text: &str) -> Result<(), OverLimit> {
        if let Some(c) = text
            .chars()
            .find(|c| c.is_control() && !(field.multiline() && matches!(c, '\n' | '\r' | '\t')))
        {
            return Err(OverLimit(format!(
                "{} cannot contain the control character U+{:04X}",
                field.describe(),
                u32::from(c)
            )));
        }
        let max = self.max_chars(field);
        let chars = text.chars().count();
        if chars > max as usize {
            return Err(OverLimit(format!(
                "{} is too long: {chars} characters, at most {max}",
                field.describe()
            )));
        }
        Ok(())
    }

    /// Checks counts: notes, demographic fields and recordings of one story.
    pub fn check_counts(
        &self,
        notes: usize,
        fields: usize,
        recordings: usize,
    ) -> Result<(), OverLimit> {
        let over = |what: &str, n: usize, max: u32| {
            (n > max as usize).then(|| {
                OverLimit(format!(
                    "a story can hold at most {max} {what} (this one would have {n})"
                ))
            })
        };
        match over("notes and markers", notes, self.notes_per_story)
            .or_else(|| over("demographic fields", fields, self.fields_per_story))
            .or_else(|| over("recordings", recordings, self.recordings_per_story))
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Checks a document's size in bytes against `document_bytes`.
    pub fn check_document_size(&self, bytes: u64) -> Result<(), OverLimit> {
        if bytes > self.document_bytes {
            return Err(OverLimit(format!(
                "the story is too large to deliver: {bytes} bytes, and the server accepts at most {}; shorten its notes or summary",
                self.document_bytes
            )));
        }
        Ok(())
    }

    /// Every text, count and the size of a document as it arrived (`body_bytes`): what
    /// the server checks on every story it is sent.
    pub fn check_document(&self, doc: &StoryDocument, body_bytes: u64) -> Result<(), OverLimit> {
        self.check_document_size(body_bytes)?;
        self.check_text(TextField::Title, &doc.title)?;
        self.check_text(TextField::Summary, &doc.summary)?;
        self.check_text(TextField::StorytellerLabel, &doc.storyteller.label)?;
        for note in &doc.notes {
            self.check_text(TextField::Note, &note.text)?;
        }
        for (name, value) in &doc.demographics {
            self.check_text(TextField::FieldName, name)?;
            self.check_text(TextField::FieldValue, value)?;
        }
        self.check_counts(
            doc.notes.len(),
            doc.demographics.len(),
            doc.recordings.len(),
        )
    }

    /// The size a phone counts a document at when checking input: as sent, but with
    /// the widest revision and timestamps it could go out with, and room for the
    /// recordings the story may still get. A document within `document_bytes` by this
    /// measure stays within it on the wire, whatever is recorded or bumped later, and the
    /// measure depends only on what was typed, not on when.
    pub fn document_bytes_for_input(&self, doc: &StoryDocument) -> u64 {
        let mut widest = doc.clone();
        widest.revision = u32::MAX;
        widest.created_at = LONGEST_TIMESTAMP.to_string();
        widest.updated_at = LONGEST_TIMESTAMP.to_string();
        for note in &mut widest.notes {
            note.created_at = LONGEST_TIMESTAMP.to_string();
        }
        for recording in &mut widest.recordings {
            recording.created_at = LONGEST_TIMESTAMP.to_string();
            // Its PCM identity and files are listed once they are made (issue 20), after
            // the input that is measured here.
            recording.pcm_sha256 = Some("0".repeat(64));
            recording.representations = widest_representations();
        }
        let more = (self.recordings_per_story as u64).saturating_sub(doc.recordings.len() as u64);
        // Each further recording adds its metadata and a comma.
        json_len(&widest).saturating_add(more.saturating_mul(longest_recording_meta() + 1))
    }

    /// Checks the limits against each other and against what the protocol can carry.
    pub fn validate(&self) -> Result<(), OverLimit> {
        let fields = [
            ("title_chars", self.title_chars),
            ("summary_chars", self.summary_chars),
            ("label_chars", self.label_chars),
            ("note_chars", self.note_chars),
            ("notes_per_story", self.notes_per_story),
            ("field_chars", self.field_chars),
            ("recordings_per_story", self.recordings_per_story),
        ];
        if let Some((name, _)) = fields.iter().find(|(_, v)| *v == 0) {
            return Err(OverLimit(format!("limits.{name} must be at least 1")));
        }
        // An empty story with every recording it may have must fit.
        let floor = 2048 + (self.recordings_per_story as u64) * (longest_recording_meta() + 1);
        if self.document_bytes < floor {
            return Err(OverLimit(format!(
                "limits.document_bytes must be at least {floor} for {} recordings per story",
                self.recordings_per_story
            )));
        }
        if self.recording_bytes < 1024 {
            return Err(OverLimit(
                "limits.recording_bytes must be at least 1024".into(),
            ));
        }
        Ok(())
    }
}

/// Bytes of `value` as compact JSON, what a phone sends.
pub fn json_len<T: Serialize>(value: &T) -> u64 {
    let mut counter = Counter(0);
    // Serialising plain data into a counter cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

struct Counter(u64);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The metadata of a recording at its widest.
fn longest_recording_meta() -> u64 {
    json_len(&RecordingMeta {
        id: "00000000-0000-0000-0000-000000000000".into(),
        format: "wav".into(),
        sample_rate: u32::MAX,
        channels: u16::MAX,
        frames: u64::MAX,
        bytes: u64::MAX,
        sha256: "0".repeat(64),
        duration_ms: u64::MAX,
        created_at: LONGEST_TIMESTAMP.into(),
        delivered: false,
        pcm_sha256: Some("0".repeat(64)),
        representations: widest_representations(),
    })
}

/// Every file a recording may list, at its widest.
fn widest_representations() -> Vec<crate::RepresentationMeta> {
    crate::Representation::ALL
        .iter()
        .map(|&representation| crate::RepresentationMeta {
            representation,
            format: "opus".into(),
            bytes: u64::MAX,
            sha256: "0".repeat(64),
            delivered: false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_consistent_and_travel_as_json_with_missing_keys_defaulted() {
        let limits = Limits::default();
        limits.validate().unwrap();
        let back: Limits = serde_json::from_str(r#"{"title_chars": 80}"#).unwrap();
        assert_eq!(
            back,
            Limits {
                title_chars: 80,
                ..limits
            }
        );
    }

    #[test]
    fn text_is_counted_in_characters_and_control_characters_are_refused() {
        let limits = Limits {
            title_chars: 3,
            ..Limits::default()
        };
        assert!(limits.check_text(TextField::Title, "äöü").is_ok());
        assert!(limits.check_text(TextField::Title, "äöüß").is_err());
        assert!(limits.check_text(TextField::Title, "\0").is_err());
        assert!(limits.check_text(TextField::Title, "a\nb").is_err());
        assert!(limits.check_text(TextField::Note, "a\nb\tc").is_ok());
        assert!(limits.check_text(TextField::Note, "a\u{7}").is_err());
    }

    #[test]
    fn counts_are_checked_at_and_past_the_limit() {
        let limits = Limits::default();
        assert!(limits.check_counts(500, 50, 50).is_ok());
        assert!(limits.check_counts(501, 0, 0).is_err());
        assert!(limits.check_counts(0, 51, 0).is_err());
        assert!(limits.check_counts(0, 0, 51).is_err());
    }
}
