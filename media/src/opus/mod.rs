//! The Ogg Opus listening copy (RFC 7845): encode, inspect, verify.

mod encode;
mod inspect;
mod toc;

use std::path::Path;

pub use encode::encode_opus;
pub use inspect::inspect_ogg_opus;

use crate::{MediaError, OggOpusInfo, PcmIdentity};

/// Opus's granule positions and pre-skip count 48 kHz samples, whatever the input rate.
pub(crate) const OPUS_RATE: u64 = 48_000;

/// How far the listening copy's length may be from the recording's: one 20 ms frame.
const DURATION_TOLERANCE_MS: u64 = 20;

/// Checks an Ogg Opus file (see [`inspect_ogg_opus`]) and that it lasts as long as the
/// recording it was made from, within 20 ms.
pub fn verify_opus(opus: &Path, source: &PcmIdentity) -> Result<OggOpusInfo, MediaError> {
    let info = inspect_ogg_opus(opus)?;
    let rate = u64::from(source.spec.sample_rate.max(1));
    // Both lengths in 48 kHz × source-rate units, so nothing is rounded.
    let expected = u128::from(source.frames) * u128::from(OPUS_RATE);
    let found = u128::from(info.samples_48k) * u128::from(rate);
    let tolerance = u128::from(DURATION_TOLERANCE_MS * OPUS_RATE / 1000) * u128::from(rate);
    if expected.abs_diff(found) > tolerance {
        return Err(MediaError::DurationMismatch {
            expected_ms: source.duration_ms(),
            found_ms: info.duration_ms,
        });
    }
    Ok(info)
}
