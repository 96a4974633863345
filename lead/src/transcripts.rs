//! Transcripts in a pulled folder (issue 22): `stories/<story>/audio/<recording>.vtt`
//! beside the audio, the server's WebVTT as the lead may see it now, listed in the
//! manifest like every other file, and removed with the story on withdrawal (the
//! withdrawal removes everything under the story's folder).

use crate::client::LeadClient;
use crate::fsutil::{Durability, write_atomic};
use crate::layout::{self, Layout};
use crate::manifest::Manifest;
use crate::{Error, Result};

/// `stories/<story id>/audio/<recording id>.vtt`.
pub fn vtt_file(story_id: &str, recording_id: &str) -> String {
    format!(
        "{}/{story_id}/{}/{recording_id}.vtt",
        layout::STORIES,
        layout::AUDIO_DIR
    )
}

/// Fetches and writes one recording's transcript; false when the server shows none.
pub async fn pull_one(
    client: &LeadClient,
    layout: &Layout,
    manifest: &mut Manifest,
    story_id: &str,
    recording_id: &str,
) -> Result<bool> {
    let Some(vtt) = client.transcript_vtt(recording_id).await? else {
        return Ok(false);
    };
    if !vtt.starts_with(b"WEBVTT") {
        return Err(Error::Protocol(format!(
            "the transcript of recording {recording_id} is not WebVTT"
        )));
    }
    let rel = vtt_file(story_id, recording_id);
    let entry = write_atomic(layout, &rel, &vtt, Durability::WithPage)?;
    manifest.insert(rel, entry);
    Ok(true)
}

/// One passage of a pulled transcript.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cue {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
    /// The `<v Name>` of the cue, if any; exports keep it only with `credit_by_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
}

/// The cues of a WebVTT file as the server writes them (`transcripts::vtt` there);
/// cues that do not parse are skipped.
pub fn parse_vtt(text: &str) -> Vec<Cue> {
    let mut cues = Vec::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines();
        let Some(timing) = lines.find(|l| l.contains("-->")) else {
            continue;
        };
        let mut parts = timing.split("-->").map(str::trim);
        let (Some(start), Some(end)) = (parts.next().and_then(stamp), parts.next().and_then(stamp))
        else {
            continue;
        };
        let body = lines.collect::<Vec<_>>().join(" ");
        let (speaker, body) = match body.strip_prefix("<v ").and_then(|r| r.split_once('>')) {
            Some((name, rest)) => (Some(unescape(name.trim())), rest.to_string()),
            None => (None, body),
        };
        let text = unescape(body.trim_end_matches("</v>").trim());
        if !text.is_empty() {
            cues.push(Cue {
                start_ms: start,
                end_ms: end,
                text,
                speaker,
            });
        }
    }
    cues
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `hh:mm:ss.ttt` → milliseconds.
fn stamp(text: &str) -> Option<u64> {
    let text = text.split_whitespace().next()?;
    let (clock, millis) = text.split_once('.')?;
    let mut total = 0u64;
    for part in clock.split(':') {
        total = total * 60 + part.parse::<u64>().ok()?;
    }
    Some(total * 1000 + millis.parse::<u64>().ok()?)
}

/// The transcripts held for a story's recordings, in the order given: each recording's
/// cues, or none.
pub fn held(layout: &Layout, story_id: &str, recording_ids: &[&str]) -> Vec<Vec<Cue>> {
    recording_ids
        .iter()
        .map(|recording_id| {
            std::fs::read_to_string(layout.path(&vtt_file(story_id, recording_id)))
                .map(|t| parse_vtt(&t))
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_webvtt_is_read_back() {
        let cues = parse_vtt(
            "WEBVTT\n\n00:00:00.000 --> 00:00:04.500\nThe kettle &amp; the stairwell\n\n00:01:02.250 --> 00:01:05.000\n<v Amina K.>It was damp</v>\n",
        );
        assert_eq!(cues.len(), 2);
        assert_eq!(cues[0].text, "The kettle & the stairwell");
        assert_eq!((cues[1].start_ms, cues[1].end_ms), (62_250, 65_000));
        assert_eq!(cues[1].speaker.as_deref(), Some("Amina K."));
        assert_eq!(cues[1].text, "It was damp");
    }
}
