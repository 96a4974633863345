//! How many 48 kHz samples an Opus packet decodes to (RFC 6716 §3.1).

/// The packet's duration in 48 kHz samples, or None if its header is invalid.
pub(crate) fn packet_samples(packet: &[u8]) -> Option<u64> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    let frame = match config {
        // SILK-only: 10, 20, 40, 60 ms
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        // Hybrid: 10, 20 ms
        12..=15 => [480, 960][usize::from(config % 2)],
        // CELT-only: 2.5, 5, 10, 20 ms
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0x3 {
        0 => 1,
        1 | 2 => 2,
        _ => {
            let count = u64::from(*packet.get(1)? & 0x3f);
            if count == 0 {
                return None;
            }
            count
        }
    };
    let total = frames * frame;
    // A packet holds at most 120 ms.
    (total <= 5760).then_some(total)
}
