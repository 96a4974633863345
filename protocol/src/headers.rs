//! Header names of tus 1.0 and of Tellus, spelled once for both sides.

pub const TUS_RESUMABLE: &str = "tus-resumable";
pub const TUS_VERSION: &str = "tus-version";
pub const TUS_EXTENSION: &str = "tus-extension";
pub const TUS_MAX_SIZE: &str = "tus-max-size";
pub const TUS_CHECKSUM_ALGORITHM: &str = "tus-checksum-algorithm";
pub const UPLOAD_OFFSET: &str = "upload-offset";
pub const UPLOAD_LENGTH: &str = "upload-length";
pub const UPLOAD_DEFER_LENGTH: &str = "upload-defer-length";
pub const UPLOAD_METADATA: &str = "upload-metadata";
pub const UPLOAD_CHECKSUM: &str = "upload-checksum";
pub const UPLOAD_EXPIRES: &str = "upload-expires";
/// The only tus version spoken.
pub const TUS_VERSION_1: &str = "1.0.0";
/// Content type of every PATCH body.
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// On the response that completes an upload: the verified SHA-256 of the whole file.
pub const TELLUS_RECEIPT_SHA256: &str = "tellus-receipt-sha256";
/// Status of a checksum mismatch (tus checksum extension).
pub const STATUS_CHECKSUM_MISMATCH: u16 = 460;
