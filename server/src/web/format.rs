//! How times, dates, sizes and consent items are written on the page.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// An audio position: "4:30", "1:02:03".
pub fn position(ms: u64) -> String {
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// The same position for a screen reader: "4 minutes 30 seconds".
pub fn position_words(ms: u64) -> String {
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let unit = |n: u64, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(unit(h, "hour"));
    }
    if m > 0 {
        parts.push(unit(m, "minute"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(unit(s, "second"));
    }
    parts.join(" ")
}

fn day(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[day padding:none] [month repr:short] [year]"
    ))
    .unwrap_or_default()
}

/// A date filter as the page writes dates ("1 Apr 2026"), whether it was typed that way
/// or as YYYY-MM-DD; as typed when it is not a day.
pub fn typed_date(text: &str) -> String {
    super::query::typed_day(text)
        .and_then(|d| {
            d.format(format_description!(
                "[day padding:none] [month repr:short] [year]"
            ))
            .ok()
        })
        .unwrap_or_else(|| text.to_string())
}

/// An RFC 3339 time from a phone as "22 Nov 2026" (as written when it is not one).
pub fn date(rfc3339: &str) -> String {
    OffsetDateTime::parse(rfc3339, &Rfc3339).map_or_else(|_| rfc3339.to_string(), day)
}

/// A server time (Unix milliseconds) as "22 Nov 2026".
pub fn date_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_or_else(|_| String::new(), day)
}

pub fn size(bytes: u64) -> String {
    const MB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= MB {
        format!("{:.1} MB", bytes as f64 / MB)
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// A consent item in a few words, for lists and filters (the story page shows the
/// form's own wording).
pub fn item_short(key: &str) -> String {
    match key {
        "record" => "Recorded and kept".into(),
        "share_publicly" => "Shared publicly".into(),
        "research_use" => "Research use".into(),
        "quote_anonymously" => "Quoted anonymously".into(),
        "credit_by_name" => "Credited by name".into(),
        "recontact" => "May be recontacted".into(),
        other => other.replace('_', " "),
    }
}

/// Granted items in the order the sample form asks them (unknown keys last).
pub fn in_form_order(granted: &std::collections::BTreeSet<String>) -> Vec<&str> {
    const ORDER: [&str; 6] = [
        "record",
        "share_publicly",
        "research_use",
        "quote_anonymously",
        "credit_by_name",
        "recontact",
    ];
    let mut items: Vec<&str> = granted.iter().map(String::as_str).collect();
    items.sort_by_key(|k| ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len()));
    items
}

pub fn language_name(code: &str) -> String {
    match code {
        "en" => "English".into(),
        "es" => "Spanish".into(),
        "fr" => "French".into(),
        "de" => "German".into(),
        "pt" => "Portuguese".into(),
        "ar" => "Arabic".into(),
        "pl" => "Polish".into(),
        "ur" => "Urdu".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_dates_read_naturally() {
        assert_eq!(position(270_000), "4:30");
        assert_eq!(position(3_723_000), "1:02:03");
        assert_eq!(position_words(270_000), "4 minutes 30 seconds");
        assert_eq!(position_words(61_000), "1 minute 1 second");
        assert_eq!(position_words(0), "0 seconds");
        assert_eq!(date("2026-11-22T10:00:00Z"), "22 Nov 2026");
        assert_eq!(date("yesterday"), "yesterday");
        assert_eq!(size(1536), "2 KB");
        assert_eq!(size(3 * 1024 * 1024), "3.0 MB");
    }
}
