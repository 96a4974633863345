//! Time as the server stores it (Unix milliseconds) and shows it (RFC 3339).

use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};

pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn datetime(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub fn rfc3339(ms: i64) -> String {
    datetime(ms)
        .format(&Rfc3339)
        .unwrap_or_else(|_| format!("{ms}ms"))
}

pub fn now_rfc3339() -> String {
    rfc3339(now_ms())
}

/// The HTTP date form tus uses for `Upload-Expires`.
pub fn http_date(ms: i64) -> String {
    let text = datetime(ms)
        .format(&Rfc2822)
        .unwrap_or_else(|_| rfc3339(ms));
    // RFC 7231 wants "GMT" where RFC 2822 writes "+0000".
    text.replace("+0000", "GMT")
}
