//! Encoding the listening copy: the WAV downmixed to mono, resampled to the encoder's
//! rate, cut in 20 ms frames, encoded by opus-rs and written as Ogg pages.

use std::fs::OpenOptions;
use std::io::BufWriter;
use std::path::Path;

use ogg::{PacketWriteEndInfo, PacketWriter};
use opus_rs::{Application, OpusEncoder};

use super::{OPUS_RATE, inspect_ogg_opus};
use crate::digest::sha256_file;
use crate::pcm::{CHUNK_FRAMES, PcmSource};
use crate::resample::Resampler;
use crate::wav::WavSource;
use crate::{EncodedOpus, MediaError, OpusSettings};

/// 20 ms at 48 kHz.
const PACKET_SAMPLES_48K: u64 = 960;
/// Packets per Ogg page: one second, as opusenc does.
const PACKETS_PER_PAGE: u64 = 50;
/// The largest Opus packet is 1275 bytes per frame.
const MAX_PACKET: usize = 1500;
/// Any fixed serial: a listening copy is one logical stream, and a fixed one keeps the
/// copy of the same WAV byte for byte the same.
const STREAM_SERIAL: u32 = 0x5445_4c4c;
const VENDOR: &str = concat!("tellus-media ", env!("CARGO_PKG_VERSION"), " (opus-rs 0.1)");

/// Encodes a 16-bit WAV to a mono Ogg Opus listening copy at `out` (a `.partial` path
/// the caller renames once [`verify_opus`](crate::verify_opus) has passed), and fsyncs it.
pub fn encode_opus(
    wav: &Path,
    out: &Path,
    settings: &OpusSettings,
) -> Result<EncodedOpus, MediaError> {
    let mut source = WavSource::open(wav)?;
    let spec = source.spec();
    let total_frames = source.remaining_frames();
    let encoder_rate = encoder_rate(spec.sample_rate);
    let frame_len = (encoder_rate / 50) as usize;
    let encoder_error = |detail: &str| MediaError::Encoder {
        path: out.to_path_buf(),
        detail: detail.to_string(),
    };
    let mut encoder =
        OpusEncoder::new(encoder_rate as i32, 1, Application::Voip).map_err(encoder_error)?;
    encoder.bitrate_bps = settings.bitrate_bps.clamp(6_000, 64_000) as i32;

    // libopus's OPUS_GET_LOOKAHEAD for the VOIP application: Fs/400 plus the 4 ms delay
    // compensation; the same 312 samples at 48 kHz for every rate. opus-rs does not
    // expose it; media/tests/opus.rs finds a tone burst where the WAV has it.
    let lookahead = u64::from(encoder_rate / 400 + encoder_rate / 250);
    let pre_skip = lookahead * OPUS_RATE / u64::from(encoder_rate);
    let samples_48k = (u128::from(total_frames) * u128::from(OPUS_RATE)
        + u128::from(spec.sample_rate) / 2)
        / u128::from(spec.sample_rate);
    let samples_48k =
        u64::try_from(samples_48k).map_err(|_| encoder_error("the recording is too long"))?;
    let final_granule = pre_skip + samples_48k;
    // The decoder drops pre-skip samples first, so the packets cover both.
    let packets_needed = final_granule.div_ceil(PACKET_SAMPLES_48K);

    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(out)
        .map_err(|e| MediaError::io(out, e))?;
    let mut pages = PacketWriter::new(BufWriter::new(file));
    let write_err = |e: std::io::Error| MediaError::io(out, e);
    pages
        .write_packet(
            opus_head(pre_skip as u16, spec.sample_rate),
            STREAM_SERIAL,
            PacketWriteEndInfo::EndPage,
            0,
        )
        .map_err(write_err)?;
    pages
        .write_packet(opus_tags(), STREAM_SERIAL, PacketWriteEndInfo::EndPage, 0)
        .map_err(write_err)?;

    let mut resampler = Resampler::new(spec.sample_rate, encoder_rate);
    let channels = usize::from(spec.channels);
    let scale = 1.0 / (32768.0 * channels as f32);
    let mut samples = Vec::with_capacity(CHUNK_FRAMES * channels);
    let mut mono = Vec::with_capacity(CHUNK_FRAMES);
    let mut pending: Vec<f32> = Vec::with_capacity(CHUNK_FRAMES + frame_len);
    let mut packet = vec![0u8; MAX_PACKET];
    let mut packets_written = 0u64;
    let mut input_done = false;

    while packets_written < packets_needed {
        if pending.len() < frame_len && !input_done {
            let n = source.read_frames(&mut samples, CHUNK_FRAMES)?;
            mono.clear();
            mono.extend(
                samples
                    .chunks_exact(channels)
                    .map(|f| f.iter().map(|&s| f32::from(s)).sum::<f32>() * scale),
            );
            if n == 0 {
                input_done = true;
                resampler.finish(total_frames, &mut pending);
            } else {
                resampler.push(&mono, &mut pending);
            }
            continue;
        }
        if pending.len() < frame_len {
            // After the recording: silence, to let the encoder's delay out.
            pending.resize(frame_len, 0.0);
        }
        let len = encoder
            .encode(&pending[..frame_len], frame_len, &mut packet)
            .map_err(encoder_error)?;
        pending.drain(..frame_len);
        packets_written += 1;
        let (end, granule) = if packets_written == packets_needed {
            (PacketWriteEndInfo::EndStream, final_granule)
        } else if packets_written.is_multiple_of(PACKETS_PER_PAGE) {
            (
                PacketWriteEndInfo::EndPage,
                packets_written * PACKET_SAMPLES_48K,
            )
        } else {
            (
                PacketWriteEndInfo::NormalPacket,
                packets_written * PACKET_SAMPLES_48K,
            )
        };
        pages
            .write_packet(packet[..len].to_vec(), STREAM_SERIAL, end, granule)
            .map_err(write_err)?;
    }

    let file = pages
        .into_inner()
        .into_inner()
        .map_err(|e| MediaError::io(out, e.into_error()))?;
    file.sync_all().map_err(|e| MediaError::io(out, e))?;
    drop(file);
    Ok(EncodedOpus {
        digest: sha256_file(out)?,
        info: inspect_ogg_opus(out)?,
    })
}

/// The rate the encoder runs at. Speech at 16–24 kbit/s is coded as wideband SILK (8 kHz
/// of audio bandwidth, what speech needs and what speech recognisers use), so every
/// recording is brought to 16 kHz unless it is already at an Opus rate below that. (At
/// 48 kHz opus-rs switches to hybrid coding, which overshoots the bitrate by about 75%
/// at 20 kbit/s.)
fn encoder_rate(input_rate: u32) -> u32 {
    match input_rate {
        8_000 | 12_000 => input_rate,
        _ => 16_000,
    }
}

/// RFC 7845 §5.1, channel mapping family 0, mono.
fn opus_head(pre_skip: u16, input_sample_rate: u32) -> Vec<u8> {
    let mut head = Vec::with_capacity(19);
    head.extend_from_slice(b"OpusHead");
    head.push(1); // version
    head.push(1); // channels
    head.extend_from_slice(&pre_skip.to_le_bytes());
    head.extend_from_slice(&input_sample_rate.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes()); // output gain
    head.push(0); // mapping family
    head
}

/// RFC 7845 §5.2: the vendor string and no comments.
fn opus_tags() -> Vec<u8> {
    let mut tags = Vec::with_capacity(16 + VENDOR.len());
    tags.extend_from_slice(b"OpusTags");
    tags.extend_from_slice(&(VENDOR.len() as u32).to_le_bytes());
    tags.extend_from_slice(VENDOR.as_bytes());
    tags.extend_from_slice(&0u32.to_le_bytes());
    tags
}
