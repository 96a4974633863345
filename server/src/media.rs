//! What the server says about the bytes it serves: the media type of a recording (from
//! an allow-list, never the client's own words) and the `Content-Disposition` of every
//! download (a filename made only of safe characters, whatever an id holds).

use axum::http::HeaderValue;

/// The recordings the server takes: what the phone records (WAV) and the compressed
/// copies DESIGN.md §8 plans (FLAC, Ogg Opus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioType {
    Wav,
    Flac,
    Ogg,
}

/// What a refusal tells the client it may declare.
pub const ACCEPTED: &str = "audio/wav, audio/flac or audio/ogg";

impl AudioType {
    /// The type a client declared, in any of its usual spellings (case, `x-` forms,
    /// parameters such as `codecs=opus`); None for anything that is not one of ours.
    pub fn from_declared(text: &str) -> Option<AudioType> {
        let essence = text.split(';').next().unwrap_or_default().trim();
        if !essence.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        match essence.to_ascii_lowercase().as_str() {
            "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => Some(AudioType::Wav),
            "audio/flac" | "audio/x-flac" => Some(AudioType::Flac),
            "audio/ogg" | "audio/opus" => Some(AudioType::Ogg),
            _ => None,
        }
    }

    /// The one spelling the server stores and serves.
    pub fn canonical(self) -> &'static str {
        match self {
            AudioType::Wav => "audio/wav",
            AudioType::Flac => "audio/flac",
            AudioType::Ogg => "audio/ogg",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            AudioType::Wav => "wav",
            AudioType::Flac => "flac",
            AudioType::Ogg => "ogg",
        }
    }
}

/// The `Content-Type` and file extension a stored recording is served with: its
/// canonical type, or opaque bytes for a row an older server kept with whatever the
/// client had declared.
pub fn served_audio_type(stored: &str) -> (&'static str, &'static str) {
    match AudioType::from_declared(stored) {
        Some(t) => (t.canonical(), t.extension()),
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
    fn declared_types_map_to_the_canonical_ones_or_nothing() {
        assert_eq!(
            AudioType::from_declared("audio/x-wav"),
            Some(AudioType::Wav)
        );
        assert_eq!(
            AudioType::from_declared(" Audio/Ogg ; codecs=opus"),
            Some(AudioType::Ogg)
        );
        for refused in ["text/html", "audio/", "", "audio/wav\u{0}", "audio/wav x"] {
            assert_eq!(AudioType::from_declared(refused), None, "{refused:?}");
        }
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
