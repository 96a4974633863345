use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{FileDigest, MediaError};

/// Size and SHA-256 of a whole file, read in 64 KiB pieces.
pub fn sha256_file(path: &Path) -> Result<FileDigest, MediaError> {
    let mut file = File::open(path).map_err(|e| MediaError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(MediaError::io(path, e)),
        };
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(FileDigest {
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}
