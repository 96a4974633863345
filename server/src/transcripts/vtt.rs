//! WebVTT in (what an engine prints) and WebVTT and SRT out (what a lead exports).
//! Only what transcripts need: cues with a start, an end and text; an optional
//! speaker as a `<v Name>` voice span. Anything else in a cue header is ignored.

use super::model::Segment;

/// Why an engine's output is not usable WebVTT.
#[derive(Debug, PartialEq, Eq)]
pub struct NotVtt(pub String);

/// Parses WebVTT into segments, in the order given. Cue identifiers, NOTE and STYLE
/// blocks and cue settings are skipped; cues with no text are dropped.
pub fn parse(text: &str) -> Result<Vec<Segment>, NotVtt> {
    let text = text.trim_start_matches('\u{feff}');
    let mut blocks = text.split("\n\n").flat_map(|b| b.split("\r\n\r\n"));
    let header = blocks.next().unwrap_or_default();
    if !header.trim_start().starts_with("WEBVTT") {
        return Err(NotVtt("the output does not start with WEBVTT".into()));
    }
    let mut out = Vec::new();
    for block in blocks {
        let lines: Vec<&str> = block.lines().map(|l| l.trim_end_matches('\r')).collect();
        let Some(timing_at) = lines.iter().position(|l| l.contains("-->")) else {
            continue;
        };
        let timing = lines[timing_at];
        let (start, rest) = timing
            .split_once("-->")
            .ok_or_else(|| NotVtt(format!("a cue timing is malformed: {timing}")))?;
        let end = rest.split_whitespace().next().unwrap_or_default();
        let start_ms = parse_stamp(start.trim())
            .ok_or_else(|| NotVtt(format!("a cue start is malformed: {timing}")))?;
        let end_ms =
            parse_stamp(end).ok_or_else(|| NotVtt(format!("a cue end is malformed: {timing}")))?;
        let body = lines[timing_at + 1..].join(" ");
        let (speaker, body) = voice(body.trim());
        let text = body.trim().to_string();
        if text.is_empty() {
            continue;
        }
        out.push(Segment {
            start_ms,
            end_ms: end_ms.max(start_ms),
            text,
            speaker,
        });
    }
    Ok(out)
}

/// `<v Name>text</v>` → (Some(Name), text); other tags are dropped.
fn voice(body: &str) -> (Option<String>, String) {
    let mut speaker = None;
    if let Some(rest) = body.strip_prefix("<v")
        && let Some(close) = rest.find('>')
    {
        let name = rest[..close].trim().trim_start_matches('.');
        let name = name.split_once(' ').map_or(name, |(_, n)| n).trim();
        if !name.is_empty() {
            speaker = Some(name.to_string());
        }
    }
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    (speaker, text)
}

/// `hh:mm:ss.ttt` or `mm:ss.ttt` (a comma also accepted, as SRT writes it).
fn parse_stamp(text: &str) -> Option<u64> {
    let text = text.replace(',', ".");
    let (clock, millis) = text.split_once('.')?;
    if millis.len() != 3 {
        return None;
    }
    let millis: u64 = millis.parse().ok()?;
    let parts: Vec<u64> = clock
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let (h, m, s) = match parts.as_slice() {
        [m, s] => (0, *m, *s),
        [h, m, s] => (*h, *m, *s),
        _ => return None,
    };
    if m > 59 || s > 59 {
        return None;
    }
    Some(((h * 60 + m) * 60 + s) * 1000 + millis)
}

fn stamp(ms: u64, separator: char) -> String {
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, t) = (rest / 1000, rest % 1000);
    format!("{h:02}:{m:02}:{s:02}{separator}{t:03}")
}

/// Cue text: no blank lines (they would end the cue), no `-->`, markup escaped.
fn cue_text(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The segments as WebVTT, a speaker as a voice span.
pub fn write_vtt(segments: &[Segment]) -> String {
    let mut out = String::from("WEBVTT\n");
    for s in segments {
        out.push('\n');
        out.push_str(&format!(
            "{} --> {}\n",
            stamp(s.start_ms, '.'),
            stamp(s.end_ms, '.')
        ));
        match &s.speaker {
            Some(name) => out.push_str(&format!("<v {}>{}\n", cue_text(name), cue_text(&s.text))),
            None => out.push_str(&format!("{}\n", cue_text(&s.text))),
        }
    }
    out
}

/// The segments as SubRip, numbered from 1, a speaker as "Name: ".
pub fn write_srt(segments: &[Segment]) -> String {
    let mut out = String::new();
    for (n, s) in segments.iter().enumerate() {
        let text = s.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = match &s.speaker {
            Some(name) => format!("{name}: {text}"),
            None => text,
        };
        out.push_str(&format!(
            "{}\n{} --> {}\n{}\n\n",
            n + 1,
            stamp(s.start_ms, ','),
            stamp(s.end_ms, ','),
            text.replace("-->", "->")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start_ms: u64, end_ms: u64, text: &str, speaker: Option<&str>) -> Segment {
        Segment {
            start_ms,
            end_ms,
            text: text.into(),
            speaker: speaker.map(Into::into),
        }
    }

    #[test]
    fn an_engines_webvtt_becomes_segments_and_back() {
        let text = "WEBVTT\n\nNOTE made by an engine\n\n1\n00:00:00.000 --> 00:00:04.500 align:start\nThe kettle in\nthe stairwell\n\n01:02.250 --> 01:05.000\n<v Amina>It was &lt;damp&gt;</v>\n\n00:01:06.000 --> 00:01:07.000\n   \n";
        let segments = parse(text).unwrap();
        assert_eq!(
            segments,
            [
                seg(0, 4500, "The kettle in the stairwell", None),
                seg(62_250, 65_000, "It was <damp>", Some("Amina")),
            ]
        );
        assert_eq!(parse(&write_vtt(&segments)).unwrap(), segments);
        assert_eq!(
            write_srt(&segments),
            "1\n00:00:00,000 --> 00:00:04,500\nThe kettle in the stairwell\n\n2\n00:01:02,250 --> 00:01:05,000\nAmina: It was <damp>\n\n"
        );
    }

    #[test]
    fn what_is_not_webvtt_is_refused() {
        assert!(parse("Traceback (most recent call last):").is_err());
        assert!(parse("WEBVTT\n\n00:00:xx.000 --> 00:00:01.000\nhi\n").is_err());
        assert!(parse("WEBVTT\n\n00:00:00.000 --> 00:00:01.0\nhi\n").is_err());
        assert_eq!(parse("WEBVTT\n").unwrap(), []);
    }
}
