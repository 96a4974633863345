//! Where verified audio lives: a local folder (the embedded default), an S3-compatible
//! bucket or an Azure Blob Storage container (`url`), behind one trait that every path goes through (the audio route, the
//! transcription worker, withdrawals, completion and the sweep after a crash). Both name
//! a recording's lossless copy by its id (as every server before issue 20 stored it)
//! and its listening copy `<id>.listening`.

pub mod bucket_spool;
mod local;
mod object;
mod transport;
pub mod url;

use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use tellus_protocol::Representation;

pub use bucket_spool::BucketSpool;
pub use local::LocalStorage;
pub use object::ObjectStorage;
pub use transport::RustlsConnector;
pub use url::StorageUrl;

const LISTENING_SUFFIX: &str = ".listening";

/// Where one representation of a recording is stored.
pub fn key(recording_id: &str, representation: Representation) -> String {
    match representation {
        Representation::Lossless => recording_id.to_string(),
        Representation::Listening => format!("{recording_id}{LISTENING_SUFFIX}"),
    }
}

/// The recording and representation a storage key names (any text: the sweep after a
/// crash reads whatever is in the folder).
pub fn parse_key(key: &str) -> (&str, Representation) {
    match key.strip_suffix(LISTENING_SUFFIX) {
        Some(id) => (id, Representation::Listening),
        None => (key, Representation::Lossless),
    }
}

/// Bytes of stored audio, as they are read.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

#[async_trait::async_trait]
pub trait AudioStorage: Send + Sync + 'static {
    /// Moves a verified, fsynced spool file into storage under `key`, durably: once this
    /// returns the spool file is gone and the audio is stored. NotFound when the spool
    /// file is not there (a withdrawal deleted it).
    async fn put(&self, key: &str, spooled: &Path) -> io::Result<()>;
    /// The size of a stored copy; None when it is not there.
    async fn size(&self, key: &str) -> io::Result<Option<u64>>;
    /// Reads `range` of a stored copy (within its size); None when it is not there.
    async fn read(&self, key: &str, range: Range<u64>) -> io::Result<Option<ByteStream>>;
    /// Deletes a stored copy; deleting what is not there is not an error.
    async fn delete(&self, key: &str) -> io::Result<()>;
    /// The keys of every stored copy (to sweep away orphans after a crash).
    async fn list(&self) -> io::Result<Vec<String>>;
    /// On an object store, where tus uploads in progress keep their bytes so that any
    /// replica can resume them; None keeps the local spool folder.
    fn spool_bucket(&self) -> Option<Arc<BucketSpool>> {
        None
    }
}

/// The storage `url` names (`storage` in the config), else the folder `default_dir`.
/// An object store is checked reachable here, so that a wrong URL, a missing bucket or a
/// refused key stops the server before it listens.
pub async fn open(url: Option<&str>, default_dir: &Path) -> crate::Result<Arc<dyn AudioStorage>> {
    let location = match url.map(str::trim).filter(|u| !u.is_empty()) {
        None => StorageUrl::Folder(default_dir.to_path_buf()),
        Some(text) => StorageUrl::parse(text)?,
    };
    match location {
        StorageUrl::Folder(dir) => {
            let storage = LocalStorage::new(dir.clone()).map_err(|e| {
                crate::Error::io(
                    format!("cannot create the audio folder {}", dir.display()),
                    e,
                )
            })?;
            Ok(Arc::new(storage))
        }
        StorageUrl::S3(s3) => Ok(Arc::new(ObjectStorage::open_s3(&s3).await?)),
        StorageUrl::Azure(az) => Ok(Arc::new(ObjectStorage::open_azure(&az).await?)),
    }
}

/// Makes a rename or an unlink in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_one_representation_and_read_back() {
        let id = "0190f0d2-8a6b-7c3d-9e4f-0123456789ab";
        assert_eq!(key(id, Representation::Lossless), id);
        for r in Representation::ALL {
            assert_eq!(parse_key(&key(id, r)), (id, r));
        }
    }
}
