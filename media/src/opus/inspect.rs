//! Reading an Ogg Opus file page by page, trusting nothing: every page's CRC, one
//! logical stream in sequence, OpusHead and OpusTags each on their own pages, every audio
//! packet's header, and granule positions that match the packets.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::toc::packet_samples;
use crate::{MediaError, OggOpusInfo};

const FORMAT: &str = "Ogg Opus";
/// Larger than any Opus packet (120 ms of 1275-byte frames) and any OpusTags we accept.
const MAX_PACKET: usize = 1 << 20;

const FLAG_CONTINUED: u8 = 0x01;
const FLAG_FIRST: u8 = 0x02;
const FLAG_LAST: u8 = 0x04;

/// Checks an Ogg Opus file and reads what it declares (see [`OggOpusInfo`]). Anything
/// else than one well-formed mono or stereo Opus stream is an error.
pub fn inspect_ogg_opus(path: &Path) -> Result<OggOpusInfo, MediaError> {
    let file = File::open(path).map_err(|e| MediaError::io(path, e))?;
    let mut pages = PageReader {
        reader: BufReader::new(file),
        path,
        body: Vec::new(),
    };
    let bad = |detail: &str| MediaError::malformed(path, FORMAT, detail);

    let mut serial = None;
    let mut sequence = 0u32;
    let mut packet: Vec<u8> = Vec::new();
    let mut packet_index = 0u64;
    let mut head: Option<(u16, u32, u8)> = None;
    let mut samples = 0u64;
    let mut last_granule = 0u64;
    let mut ended = false;

    while let Some(page) = pages.next_page()? {
        if ended {
            return Err(bad("data after the end-of-stream page"));
        }
        if *serial.get_or_insert(page.serial) != page.serial {
            return Err(bad("more than one logical stream"));
        }
        if page.sequence != sequence {
            return Err(bad("a page is missing or out of order"));
        }
        sequence = sequence.wrapping_add(1);
        if (page.flags & FLAG_FIRST != 0) != (page.sequence == 0) {
            return Err(bad(
                "the beginning-of-stream flag is not on the first page only",
            ));
        }
        if (page.flags & FLAG_CONTINUED != 0) == packet.is_empty() {
            return Err(bad("a packet's continuation does not match"));
        }
        ended = page.flags & FLAG_LAST != 0;

        let mut offset = 0usize;
        let mut completed_audio = false;
        for (i, &lace) in page.lacing.iter().enumerate() {
            let lace = usize::from(lace);
            packet.extend_from_slice(&pages.body[offset..offset + lace]);
            offset += lace;
            if packet.len() > MAX_PACKET {
                return Err(bad("a packet is larger than any Opus packet"));
            }
            if lace == 255 {
                continue;
            }
            match packet_index {
                0 => {
                    if page.sequence != 0 || i + 1 != page.lacing.len() || page.granule != 0 {
                        return Err(bad("OpusHead is not alone on the first page"));
                    }
                    head = Some(parse_head(&packet).ok_or_else(|| bad("invalid OpusHead"))?);
                }
                1 => {
                    if i + 1 != page.lacing.len() {
                        return Err(bad("OpusTags does not end its page"));
                    }
                    parse_tags(&packet).ok_or_else(|| bad("invalid OpusTags"))?;
                }
                _ => {
                    samples += packet_samples(&packet)
                        .ok_or_else(|| bad("an audio packet with an invalid header"))?;
                    completed_audio = true;
                }
            }
            packet_index += 1;
            packet.clear();
        }

        if completed_audio {
            if page.granule == u64::MAX || page.granule < last_granule {
                return Err(bad("granule positions go backwards"));
            }
            // Only the last page may end before its packets do (the end trimmed).
            if page.granule > samples || (!ended && page.granule != samples) {
                return Err(bad("a page's granule position does not match its packets"));
            }
            last_granule = page.granule;
        } else if packet_index > 2 && page.granule != u64::MAX && page.granule != last_granule {
            return Err(bad("a page with no packet end moves the granule position"));
        }
    }

    let (pre_skip, input_sample_rate, channels) = match head {
        Some(h) if packet_index >= 2 => h,
        _ if sequence == 0 => return Err(MediaError::truncated(path, "the file is empty")),
        _ => return Err(MediaError::truncated(path, "the headers are incomplete")),
    };
    if !ended || !packet.is_empty() {
        return Err(MediaError::truncated(path, "no end-of-stream page"));
    }
    if packet_index == 2 || last_granule < u64::from(pre_skip) {
        return Err(bad("no audio after the encoder's delay"));
    }
    let samples_48k = last_granule - u64::from(pre_skip);
    Ok(OggOpusInfo {
        pre_skip,
        input_sample_rate,
        channels,
        duration_ms: (samples_48k + 24) / 48,
        samples_48k,
    })
}

/// OpusHead (RFC 7845 §5.1), channel mapping family 0: (pre-skip, input rate, channels).
fn parse_head(p: &[u8]) -> Option<(u16, u32, u8)> {
    if p.len() != 19 || &p[..8] != b"OpusHead" || p[8] >> 4 != 0 {
        return None;
    }
    let channels = p[9];
    let pre_skip = u16::from_le_bytes([p[10], p[11]]);
    let rate = u32::from_le_bytes([p[12], p[13], p[14], p[15]]);
    let family = p[18];
    (family == 0 && (1..=2).contains(&channels)).then_some((pre_skip, rate, channels))
}

/// OpusTags (RFC 7845 §5.2): the vendor string and the comments lie within the packet.
fn parse_tags(p: &[u8]) -> Option<()> {
    let rest = p.strip_prefix(b"OpusTags")?;
    let mut at = 0usize;
    let take_len = |at: &mut usize| -> Option<usize> {
        let bytes: [u8; 4] = rest.get(*at..*at + 4)?.try_into().ok()?;
        *at += 4;
        Some(u32::from_le_bytes(bytes) as usize)
    };
    let vendor = take_len(&mut at)?;
    at = at.checked_add(vendor).filter(|&e| e <= rest.len())?;
    let count = take_len(&mut at)?;
    for _ in 0..count {
        let len = take_len(&mut at)?;
        at = at.checked_add(len).filter(|&e| e <= rest.len())?;
    }
    Some(())
}

struct Page {
    flags: u8,
    granule: u64,
    serial: u32,
    sequence: u32,
    lacing: Vec<u8>,
}

struct PageReader<'a> {
    reader: BufReader<File>,
    path: &'a Path,
    body: Vec<u8>,
}

impl PageReader<'_> {
    /// The next page with its CRC checked, or None at a clean end of file.
    fn next_page(&mut self) -> Result<Option<Page>, MediaError> {
        let mut header = [0u8; 27];
        let mut got = 0;
        while got < header.len() {
            match self.reader.read(&mut header[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err(MediaError::truncated(self.path, "a page is cut short")),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(MediaError::io(self.path, e)),
            }
        }
        if &header[..4] != b"OggS" || header[4] != 0 {
            return Err(MediaError::malformed(self.path, FORMAT, "not an Ogg page"));
        }
        let mut lacing = vec![0u8; usize::from(header[26])];
        self.read_exact_page(&mut lacing)?;
        let body_len = lacing.iter().map(|&l| usize::from(l)).sum();
        self.body.resize(body_len, 0);
        let mut body = std::mem::take(&mut self.body);
        let read = self.read_exact_page(&mut body);
        self.body = body;
        read?;

        let stored_crc = u32::from_le_bytes([header[22], header[23], header[24], header[25]]);
        header[22..26].fill(0);
        let crc = [&header[..], &lacing, &self.body]
            .iter()
            .fold(0u32, |crc, part| ogg_crc(crc, part));
        if crc != stored_crc {
            return Err(MediaError::malformed(
                self.path,
                FORMAT,
                "a page's checksum is wrong (the file is damaged)",
            ));
        }
        let u32_at =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        Ok(Some(Page {
            flags: header[5],
            granule: u64::from_le_bytes(header[6..14].try_into().unwrap_or([0xff; 8])),
            serial: u32_at(14),
            sequence: u32_at(18),
            lacing,
        }))
    }

    fn read_exact_page(&mut self, buf: &mut [u8]) -> Result<(), MediaError> {
        self.reader.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                MediaError::truncated(self.path, "a page is cut short")
            } else {
                MediaError::io(self.path, e)
            }
        })
    }
}

/// Ogg's CRC-32: polynomial 0x04c11db7, not reflected, starting at 0.
fn ogg_crc(mut crc: u32, data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, entry) in t.iter_mut().enumerate() {
            let mut r = (i as u32) << 24;
            for _ in 0..8 {
                r = if r & 0x8000_0000 != 0 {
                    (r << 1) ^ 0x04c1_1db7
                } else {
                    r << 1
                };
            }
            *entry = r;
        }
        t
    });
    for &b in data {
        crc = (crc << 8) ^ table[((crc >> 24) as u8 ^ b) as usize];
    }
    crc
}
