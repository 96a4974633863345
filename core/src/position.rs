//! Positions in a recording, as people type them ("12:34", "1:02:03", "75", "3:05.5").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A position in a recording's audio, in milliseconds from its first sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AudioPosition(pub u64);

impl AudioPosition {
    pub fn from_millis(ms: u64) -> Self {
        AudioPosition(ms)
    }

    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// As a clock shows it, in whole seconds ("0:07", "12:34", "1:02:03"): what the
    /// shells print for elapsed time, durations and the positions of notes and markers.
    pub fn clock(self) -> String {
        AudioPosition(self.0 - self.0 % 1000).to_string()
    }
}

impl fmt::Display for AudioPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total_secs = self.0 / 1000;
        let millis = self.0 % 1000;
        let (h, m, s) = (total_secs / 3600, (total_secs / 60) % 60, total_secs % 60);
        if h > 0 {
            write!(f, "{h}:{m:02}:{s:02}")?;
        } else {
            write!(f, "{m}:{s:02}")?;
        }
        if millis > 0 {
            write!(f, ".{millis:03}")?;
        }
        Ok(())
    }
}

impl FromStr for AudioPosition {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        parse(text.trim()).ok_or_else(|| {
            Error::invalid(format!(
                "'{text}' is not an audio position: use minutes:seconds like 12:34, \
                 hours:minutes:seconds like 1:02:03, or seconds like 75"
            ))
        })
    }
}

fn parse(text: &str) -> Option<AudioPosition> {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    let parts: Vec<&str> = whole.split(':').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let numbers: Vec<u64> = parts.iter().map(|p| digits(p)).collect::<Option<_>>()?;
    // The leading field may be any size ("75", "90:00"); the ones after it are clock
    // fields and must stay below 60, so "1:75" is a typo rather than 2:15.
    if numbers[1..].iter().any(|&n| n >= 60) || parts[1..].iter().any(|p| p.len() != 2) {
        return None;
    }
    let seconds = numbers
        .iter()
        .try_fold(0u64, |acc, &n| acc.checked_mul(60)?.checked_add(n))?;
    let millis = match fraction {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 3 => {
            let n = digits(f)?;
            n * 10u64.pow(3 - f.len() as u32)
        }
        Some(_) => return None,
    };
    seconds
        .checked_mul(1000)?
        .checked_add(millis)
        .map(AudioPosition)
}

fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> Option<u64> {
        text.parse::<AudioPosition>()
            .ok()
            .map(AudioPosition::as_millis)
    }

    #[test]
    fn accepts_the_forms_people_type() {
        assert_eq!(ms("12:34"), Some(754_000));
        assert_eq!(ms("0:05"), Some(5_000));
        assert_eq!(ms("1:02:03"), Some(3_723_000));
        assert_eq!(ms("75"), Some(75_000));
        assert_eq!(ms("90:00"), Some(5_400_000));
        assert_eq!(ms("3:05.5"), Some(185_500));
        assert_eq!(ms("3:05.25"), Some(185_250));
        assert_eq!(ms(" 2:00 "), Some(120_000));
    }

    #[test]
    fn refuses_malformed_positions() {
        for bad in [
            "12:7x",
            "",
            ":",
            "12:",
            ":30",
            "1:75",
            "1:5",
            "a",
            "-1",
            "1:02:03:04",
            "1.",
            "1.2345",
            "1:00.x",
            "99999999999999:00",
            "+5",
            "1 2",
        ] {
            assert_eq!(ms(bad), None, "{bad:?} should be refused");
        }
    }

    #[test]
    fn a_clock_shows_whole_seconds_rounded_down() {
        for (ms, text) in [
            (0, "0:00"),
            (7_999, "0:07"),
            (754_000, "12:34"),
            (3_599_999, "59:59"),
            (3_723_500, "1:02:03"),
            (36_000_000, "10:00:00"),
        ] {
            assert_eq!(AudioPosition::from_millis(ms).clock(), text);
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["0:00", "12:34", "1:02:03", "3:05.500", "59:59.001"] {
            let pos: AudioPosition = text.parse().unwrap();
            assert_eq!(pos.to_string(), text);
        }
    }
}
