//! A recording's transcript: timed segments, its language, who wrote the current text
//! (the machine draft or a person), its revisions, and whether a person went through
//! it. Saves are revisioned: a save names the revision it edits; a save over a newer
//! revision is merged segment by segment when the two edits touch different segments,
//! and refused (409, with the current text) when they touch the same one.

use serde::{Deserialize, Serialize};

pub use crate::data::sqlite::transcripts::{load, save_machine};
use crate::error::{Error, Result};

/// Longest text of one segment, and most segments in one transcript.
pub const MAX_SEGMENT_CHARS: usize = 4000;
pub const MAX_SEGMENTS: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The engine's draft, untouched by a person.
    Machine,
    /// A person saved this revision.
    Person,
}

impl Source {
    /// How the source is named where it is stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Machine => "machine",
            Source::Person => "person",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    pub recording_id: String,
    pub story_id: String,
    pub language: String,
    pub source: Source,
    pub revision: u32,
    /// A person went through the whole transcript (the page stops calling it a draft).
    pub reviewed: bool,
    pub segments: Vec<Segment>,
    pub updated_at: String,
}

/// A lead's save.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Save {
    /// The revision these segments were edited from.
    pub base_revision: u32,
    pub segments: Vec<Segment>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub reviewed: Option<bool>,
}

/// What a save came to.
#[derive(Debug)]
pub enum Saved {
    Saved(Transcript),
    /// Someone else's save touched the same segments: nothing was kept.
    Conflict(Transcript),
}

/// Refuses segments a transcript cannot hold.
pub fn check(segments: &[Segment], language: &str) -> Result<()> {
    let bad = |m: String| Error::bad_request("invalid_transcript", m);
    if segments.len() > MAX_SEGMENTS {
        return Err(bad(format!(
            "a transcript holds at most {MAX_SEGMENTS} segments"
        )));
    }
    if language.is_empty()
        || language.len() > 35
        || !language
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(bad(
            "language must be a language tag such as 'en' or 'pt-BR'".into(),
        ));
    }
    let mut last_start = 0;
    for (n, s) in segments.iter().enumerate() {
        if s.end_ms < s.start_ms {
            return Err(bad(format!("segment {} ends before it starts", n + 1)));
        }
        if s.start_ms < last_start {
            return Err(bad(format!(
                "segment {} starts before the one before it",
                n + 1
            )));
        }
        last_start = s.start_ms;
        if s.text.chars().count() > MAX_SEGMENT_CHARS
            || s.speaker.as_ref().is_some_and(|n| n.chars().count() > 200)
        {
            return Err(bad(format!("segment {} is too long", n + 1)));
        }
    }
    Ok(())
}

/// What a person's save comes to, decided from the current transcript and the
/// segments of the revision the save was edited from (`base`, read by the backend when
/// the save names an older revision than the current one).
#[derive(Debug)]
pub enum Plan {
    /// Store these as revision `revision`.
    Write {
        language: String,
        segments: Vec<Segment>,
        reviewed: bool,
        revision: u32,
    },
    /// Someone else's save touched the same segments: keep nothing.
    Conflict(Transcript),
}

/// Whether a save over `current` needs the segments of its base revision.
pub fn needs_base(current: Option<&Transcript>, save: &Save) -> bool {
    current.is_some_and(|c| c.revision != save.base_revision)
}

/// The one rule of saving over revisions (both backends call it): check the segments,
/// refuse a base revision that does not exist, merge over a newer one or conflict.
pub fn plan_save(
    current: Option<&Transcript>,
    save: &Save,
    base: Option<Vec<Segment>>,
) -> Result<Plan> {
    let current_revision = current.map_or(0, |t| t.revision);
    let language = save
        .language
        .clone()
        .or_else(|| current.map(|t| t.language.clone()))
        .unwrap_or_else(|| "en".into());
    check(&save.segments, &language)?;
    if save.base_revision > current_revision {
        return Err(Error::bad_request(
            "invalid_revision",
            format!("base_revision {} does not exist yet", save.base_revision),
        ));
    }
    let segments = match current {
        Some(current) if save.base_revision != current.revision => {
            match base.and_then(|base| merge(&base, &save.segments, &current.segments)) {
                Some(merged) => merged,
                None => return Ok(Plan::Conflict(current.clone())),
            }
        }
        _ => save.segments.clone(),
    };
    Ok(Plan::Write {
        language,
        segments,
        reviewed: save.reviewed.unwrap_or(false) || current.is_some_and(|t| t.reviewed),
        revision: current_revision + 1,
    })
}

/// A three-way merge of two edits of `base`, segment by segment: possible when neither
/// edit changed the segments' timing and no segment was changed differently by both.
pub fn merge(base: &[Segment], mine: &[Segment], theirs: &[Segment]) -> Option<Vec<Segment>> {
    let same_timing = |a: &[Segment], b: &[Segment]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.start_ms == y.start_ms && x.end_ms == y.end_ms)
    };
    if !same_timing(base, mine) || !same_timing(base, theirs) {
        return None;
    }
    base.iter()
        .zip(mine)
        .zip(theirs)
        .map(|((b, m), t)| {
            if m == b || m == t {
                Some(t.clone())
            } else if t == b {
                Some(m.clone())
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start_ms: u64, text: &str) -> Segment {
        Segment {
            start_ms,
            end_ms: start_ms + 1000,
            text: text.into(),
            speaker: None,
        }
    }

    #[test]
    fn edits_of_different_segments_merge_and_of_the_same_one_do_not() {
        let base = [seg(0, "a"), seg(1000, "b"), seg(2000, "c")];
        let mine = [seg(0, "A"), seg(1000, "b"), seg(2000, "c")];
        let theirs = [seg(0, "a"), seg(1000, "b"), seg(2000, "C")];
        assert_eq!(
            merge(&base, &mine, &theirs).unwrap(),
            [seg(0, "A"), seg(1000, "b"), seg(2000, "C")]
        );
        let clash = [seg(0, "x"), seg(1000, "b"), seg(2000, "c")];
        assert_eq!(merge(&base, &mine, &clash), None);
        let same = mine.clone();
        assert_eq!(merge(&base, &mine, &same).unwrap(), mine);
        let retimed = [seg(0, "a"), seg(1500, "b"), seg(2000, "c")];
        assert_eq!(merge(&base, &retimed, &theirs), None);
    }

    #[test]
    fn a_save_over_a_newer_revision_is_merged_or_conflicts_and_a_future_base_is_refused() {
        let current = Transcript {
            recording_id: "r".into(),
            story_id: "s".into(),
            language: "en".into(),
            source: Source::Person,
            revision: 2,
            reviewed: true,
            segments: vec![seg(0, "a"), seg(1000, "B")],
            updated_at: String::new(),
        };
        let save = |base_revision: u32, segments: Vec<Segment>| Save {
            base_revision,
            segments,
            language: None,
            reviewed: None,
        };
        let base = vec![seg(0, "a"), seg(1000, "b")];
        let mine = save(1, vec![seg(0, "A"), seg(1000, "b")]);
        assert!(needs_base(Some(&current), &mine));
        match plan_save(Some(&current), &mine, Some(base.clone())).unwrap() {
            Plan::Write {
                segments,
                revision,
                reviewed,
                language,
            } => {
                assert_eq!(segments, [seg(0, "A"), seg(1000, "B")]);
                assert_eq!((revision, reviewed, language.as_str()), (3, true, "en"));
            }
            Plan::Conflict(_) => panic!("different segments merge"),
        }
        let clash = save(1, vec![seg(0, "a"), seg(1000, "x")]);
        assert!(matches!(
            plan_save(Some(&current), &clash, Some(base)).unwrap(),
            Plan::Conflict(_)
        ));
        let future = save(3, vec![seg(0, "a")]);
        assert!(plan_save(Some(&current), &future, None).is_err());
        let first = save(0, vec![seg(0, "a")]);
        assert!(!needs_base(None, &first));
        assert!(matches!(
            plan_save(None, &first, None).unwrap(),
            Plan::Write { revision: 1, .. }
        ));
    }

    #[test]
    fn segments_out_of_order_or_backwards_are_refused() {
        assert!(check(&[seg(1000, "a"), seg(0, "b")], "en").is_err());
        let backwards = Segment {
            start_ms: 5,
            end_ms: 1,
            text: "x".into(),
            speaker: None,
        };
        assert!(check(&[backwards], "en").is_err());
        assert!(check(&[seg(0, "a")], "en; DROP").is_err());
        assert!(check(&[seg(0, "a")], "pt-BR").is_ok());
    }
}
