//! What the server says about the bytes it serves: the media type of a recording (from
//! an allow-list, never the client's own words) and the `Content-Disposition` of every
//! download (a filename made only of safe characters, whatever an id holds).

use axum::http::HeaderValue;
use tellus_protocol::AudioFormat;

/// What a refusal tells the client it may declare: exactly the formats of
/// `tellus_protocol::AudioFormat`, whose `from_content_type` is the one reading of a
/// declared type.
pub const ACCEPTED: &str = "audio/wav, audio/flac or audio/ogg";

/// The `Content-Type` and file extension a stored recording is served with: its
/// format's canonical type, or opaque bytes for a row an older server kept with
/// whatever the client had declared.
pub fn served_audio_type(stored: &str) -> (&'static str, &'static str) {
    match AudioFormat::from_content_type(stored) {
        Some(f) => (f.content_type(), f.extension()),
        None => ("application/octet-stream", "bin"),
    }
}

/// Whether a browser shows the response or saves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Inline,
    Attachment,
}

/// `Content-Disposition` for a file named `stem.extension`. Only ASCII letters, digits,
/// `-`, `_` and single dots reach the header, so no quote, newline, slash or `..` from an
/// id can break out of it or name a path.
pub fn content_disposition(kind: Disposition, stem: &str, extension: &str) -> HeaderValue {
    let name = format!("{}.{}", safe_stem(stem), safe_stem(extension));
    let kind = match kind {
        Disposition::Inline => "inline",
        Disposition::Attachment => "attachment",
    };
    HeaderValue::from_str(&format!("{kind}; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

fn safe_stem(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
            c
        } else {
            '_'
        };
        // No "..", and nothing that starts hidden or looks like an option.
        if c == '.' && (out.is_empty() || out.ends_with('.')) {
            continue;
        }
        out.push(c);
    }
    let out = out.trim_matches('.').to_string();
    if out.is_empty() {
        "download".into()
    } else {
        out.chars().take(100).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_types_are_served_as_their_format_or_as_opaque_bytes() {
        assert_eq!(served_audio_type("audio/flac"), ("audio/flac", "flac"));
        assert_eq!(served_audio_type("audio/ogg"), ("audio/ogg", "opus"));
        assert_eq!(
            served_audio_type("audio/wav x"),
            ("application/octet-stream", "bin")
        );
        assert_eq!(
            served_audio_type("text/html"),
            ("application/octet-stream", "bin")
        );
        assert_eq!(served_audio_type("audio/wave"), ("audio/wav", "wav"));
    }

    #[test]
    fn a_disposition_never_carries_a_quote_newline_slash_or_dot_dot() {
        let h = content_disposition(Disposition::Attachment, "bad\nid\"../../x", "csv");
        assert_eq!(h, "attachment; filename=\"bad_id_._._x.csv\"");
        let h = content_disposition(Disposition::Inline, "...", "wav");
        assert_eq!(h, "inline; filename=\"download.wav\"");
        let h = content_disposition(Disposition::Attachment, "story-0190", "json");
        assert_eq!(h, "attachment; filename=\"story-0190.json\"");
    }
}
