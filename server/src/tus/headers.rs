//! Parsing of the tus request headers. Every malformed value is an `Err` with a message
//! for a 400; nothing here panics on any input (property-tested in
//! `server/tests/headers_prop.rs`).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// `Upload-Offset` and `Upload-Length`: a non-negative decimal integer, digits only.
pub fn parse_u64(name: &str, value: &str) -> Result<u64, String> {
    let valid = !value.is_empty() && value.len() <= 20 && value.bytes().all(|b| b.is_ascii_digit());
    valid
        .then(|| value.parse::<u64>().ok())
        .flatten()
        .ok_or_else(|| format!("{name} must be a non-negative whole number of bytes"))
}

/// `Upload-Metadata`: comma-separated "key base64value" pairs (the value may be absent).
/// Keys are unique, non-empty, and hold no spaces or commas.
pub fn parse_metadata(value: &str) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut pairs = BTreeMap::new();
    if value.trim().is_empty() {
        return Ok(pairs);
    }
    for pair in value.split(',') {
        let pair = pair.trim();
        let mut parts = pair.split(' ');
        let key = parts.next().unwrap_or_default();
        if key.is_empty() || !key.is_ascii() || key.chars().any(|c| c.is_ascii_control()) {
            return Err("Upload-Metadata has an empty or non-ASCII key".into());
        }
        let decoded = match parts.next() {
            None => Vec::new(),
            Some(encoded) => STANDARD
                .decode(encoded)
                .map_err(|_| format!("Upload-Metadata value of '{key}' is not base64"))?,
        };
        if parts.next().is_some() {
            return Err(format!(
                "Upload-Metadata pair '{key}' has more than a key and a value"
            ));
        }
        if pairs.insert(key.to_string(), decoded).is_some() {
            return Err(format!("Upload-Metadata repeats the key '{key}'"));
        }
    }
    Ok(pairs)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
}

/// `Upload-Checksum`: "<algorithm> <base64 digest>" with sha1 or sha256.
pub fn parse_checksum(value: &str) -> Result<(Algorithm, Vec<u8>), String> {
    let (name, encoded) = value
        .trim()
        .split_once(' ')
        .ok_or("Upload-Checksum must be '<algorithm> <base64 digest>'")?;
    let (algorithm, size) = match name {
        "sha1" => (Algorithm::Sha1, 20),
        "sha256" => (Algorithm::Sha256, 32),
        other => {
            return Err(format!(
                "Upload-Checksum algorithm '{}' is not supported (use sha1 or sha256)",
                other.escape_default()
            ));
        }
    };
    let digest = STANDARD
        .decode(encoded.trim())
        .map_err(|_| "Upload-Checksum digest is not base64".to_string())?;
    if digest.len() != size {
        return Err(format!(
            "Upload-Checksum {name} digest must be {size} bytes"
        ));
    }
    Ok((algorithm, digest))
}

/// A SHA-256 in lowercase hex, as `Upload-Metadata` `sha256` carries it.
pub fn parse_sha256_hex(value: &[u8]) -> Result<String, String> {
    let text =
        std::str::from_utf8(value).map_err(|_| "the sha256 metadata is not text".to_string())?;
    let text = text.trim().to_ascii_lowercase();
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the sha256 metadata must be 64 hexadecimal digits".into());
    }
    Ok(text)
}
