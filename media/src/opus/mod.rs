//! The Ogg Opus listening copy (RFC 7845): encode, inspect, verify.

use std::path::Path;

use crate::{EncodedOpus, MediaError, OggOpusInfo, OpusSettings, PcmIdentity};

#[allow(unused_variables)]
pub fn encode_opus(
    _wav: &Path,
    out: &Path,
    _settings: &OpusSettings,
) -> Result<EncodedOpus, MediaError> {
    Err(MediaError::Encoder {
        path: out.to_path_buf(),
        detail: "not yet".into(),
    })
}

pub fn inspect_ogg_opus(path: &Path) -> Result<OggOpusInfo, MediaError> {
    Err(MediaError::malformed(path, "Ogg Opus", "not yet"))
}

pub fn verify_opus(opus: &Path, _source: &PcmIdentity) -> Result<OggOpusInfo, MediaError> {
    inspect_ogg_opus(opus)
}
