//! The data saver benchmark's encoder (scripts/bench-data-saver.sh): one codec operation
//! per run, so that /usr/bin/time measures its CPU time and peak memory alone.
//!
//!     data_saver flac IN.wav OUT.flac
//!     data_saver opus IN.wav OUT.opus [BITRATE_BPS]
//!     data_saver verify-flac IN.flac IN.wav
//!     data_saver verify-opus IN.opus IN.wav

use std::path::Path;
use std::process::ExitCode;

use tellus_media::{
    MediaError, OpusSettings, encode_flac, encode_opus, verify_flac, verify_opus, wav_identity,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let known = ["flac", "opus", "verify-flac", "verify-opus"];
    if args.len() < 3 || !known.contains(&args[0].as_str()) {
        eprintln!("usage: data_saver flac|opus|verify-flac|verify-opus IN OUT [BITRATE_BPS]");
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("data_saver: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<String, MediaError> {
    let arg = |i: usize| Path::new(args.get(i).map(String::as_str).unwrap_or(""));
    match args.first().map(String::as_str) {
        Some("flac") => {
            let e = encode_flac(arg(1), arg(2))?;
            Ok(format!("{} {}", e.digest.bytes, e.identity.pcm_sha256))
        }
        Some("opus") => {
            let bitrate_bps = args
                .get(3)
                .and_then(|b| b.parse().ok())
                .unwrap_or(OpusSettings::default().bitrate_bps);
            let e = encode_opus(arg(1), arg(2), &OpusSettings { bitrate_bps })?;
            Ok(format!("{} {}", e.digest.bytes, e.info.duration_ms))
        }
        Some("verify-flac") => Ok(verify_flac(arg(1), arg(2))?.pcm_sha256),
        Some("verify-opus") => {
            let source = wav_identity(arg(2))?;
            Ok(verify_opus(arg(1), &source)?.duration_ms.to_string())
        }
        _ => Ok(String::new()),
    }
}
