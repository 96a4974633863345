//! The bucket side of a tus upload in progress on an object store (`tus::bucket` holds the
//! logic): every object of upload `<id>` lives under `tus/<id>/` beside the audio (never
//! a recording's key, so the sweep of orphaned audio leaves them alone): a multipart
//! upload to `tus/<id>/data`, the bytes past its last whole part as `tus/<id>/tail-<offset>`,
//! and the upload's state as `tus/<id>/info.json`.

use std::io;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::io::AsyncWriteExt;

use super::object::{absent_is_none, to_io};

const FOLDER: &str = "tus";
/// The object the parts assemble into.
pub const DATA: &str = "data";
pub const INFO: &str = "info.json";

/// A store with multipart uploads whose parts are sent one by one (S3's parts, Azure's
/// blocks), whatever the service.
pub trait SpoolStore: ObjectStore + MultipartStore {}

impl<T: ObjectStore + MultipartStore> SpoolStore for T {}

pub struct BucketSpool {
    bucket: Arc<dyn SpoolStore>,
    /// The storage URL's prefix, without slashes at its ends ("" for none).
    prefix: String,
}

impl BucketSpool {
    pub fn new(bucket: Arc<dyn SpoolStore>, prefix: &str) -> BucketSpool {
        BucketSpool {
            bucket,
            prefix: prefix.trim_matches('/').to_string(),
        }
    }

    /// The full path of object `name` of upload `id` (or of a recording's `audio_key`).
    fn path(&self, key: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        }
    }

    fn of(&self, id: &str, name: &str) -> ObjectPath {
        self.path(&format!("{FOLDER}/{id}/{name}"))
    }

    /// The ids of the uploads that have objects in the bucket (to sweep away those whose
    /// upload the database no longer holds).
    pub async fn uploads(&self) -> io::Result<Vec<String>> {
        let listed = self
            .bucket
            .list_with_delimiter(Some(&self.path(FOLDER)))
            .await
            .map_err(to_io)?;
        Ok(listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect())
    }

    pub async fn create_multipart(&self, id: &str) -> io::Result<String> {
        self.bucket
            .create_multipart(&self.of(id, DATA))
            .await
            .map_err(to_io)
    }

    /// Sends part `index` (from 0); its ETag (on Azure, the id of the block it became).
    pub async fn put_part(
        &self,
        id: &str,
        multipart: &str,
        index: usize,
        bytes: Bytes,
    ) -> io::Result<String> {
        let part = self
            .bucket
            .put_part(
                &self.of(id, DATA),
                &multipart.to_string(),
                index,
                PutPayload::from(bytes),
            )
            .await
            .map_err(to_io)?;
        Ok(part.content_id)
    }

    /// Assembles the parts (ETags in order) into the `data` object.
    pub async fn complete_multipart(
        &self,
        id: &str,
        multipart: &str,
        etags: Vec<String>,
    ) -> io::Result<()> {
        let parts = etags
            .into_iter()
            .map(|content_id| PartId { content_id })
            .collect();
        self.bucket
            .complete_multipart(&self.of(id, DATA), &multipart.to_string(), parts)
            .await
            .map_err(to_io)?;
        Ok(())
    }

    /// Drops a multipart upload and every part sent to it; one already gone is fine.
    /// Drops the upload's multipart upload and the parts sent to it. On Azure Blob there
    /// is no abort (object_store's does nothing there) and the parts are uncommitted
    /// blocks of the upload's blob, which Azure keeps for a week unless the blob is
    /// written whole: so an empty object is written over the key, and deleted with the
    /// rest of the upload (`delete_all`). A withdrawn story's audio must not wait there.
    pub async fn abort_multipart(&self, id: &str, multipart: &str) -> io::Result<()> {
        match self
            .bucket
            .abort_multipart(&self.of(id, DATA), &multipart.to_string())
            .await
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(to_io(e)),
        }
        self.put(id, DATA, Bytes::new()).await
    }

    pub async fn put(&self, id: &str, name: &str, bytes: Bytes) -> io::Result<()> {
        self.bucket
            .put(&self.of(id, name), PutPayload::from(bytes))
            .await
            .map_err(to_io)?;
        Ok(())
    }

    /// An object of the upload whole (the info, a tail); None when it is not there.
    pub async fn get(&self, id: &str, name: &str) -> io::Result<Option<Bytes>> {
        match absent_is_none(self.bucket.get(&self.of(id, name)).await)? {
            Some(got) => Ok(Some(got.bytes().await.map_err(to_io)?)),
            None => Ok(None),
        }
    }

    pub async fn size(&self, id: &str, name: &str) -> io::Result<Option<u64>> {
        Ok(absent_is_none(self.bucket.head(&self.of(id, name)).await)?.map(|m| m.size))
    }

    /// Deletes an object of the upload; one not there is fine.
    pub async fn delete(&self, id: &str, name: &str) -> io::Result<()> {
        match self.bucket.delete(&self.of(id, name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(to_io(e)),
        }
    }

    /// Deletes every object of the upload (whatever the state names or not); one not
    /// there is fine.
    pub async fn delete_all(&self, id: &str) -> io::Result<()> {
        let folder = self.path(&format!("{FOLDER}/{id}"));
        let listed: Vec<ObjectPath> = self
            .bucket
            .list(Some(&folder))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(to_io)?;
        for path in listed {
            match self.bucket.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(to_io(e)),
            }
        }
        Ok(())
    }

    /// Streams an object of the upload into the file `to` (fsynced); its size.
    pub async fn download(&self, id: &str, name: &str, to: &FsPath) -> io::Result<u64> {
        let got = self.bucket.get(&self.of(id, name)).await.map_err(to_io)?;
        let mut stream = got.into_stream();
        let mut file = tokio::fs::File::create(to).await?;
        let mut total = 0u64;
        while let Some(bytes) = stream.next().await {
            let bytes = bytes.map_err(to_io)?;
            file.write_all(&bytes).await?;
            total += bytes.len() as u64;
        }
        file.flush().await?;
        file.sync_data().await?;
        Ok(total)
    }

    /// Moves an object of the upload to a recording's key inside the bucket (a copy on
    /// the server side, then the original goes).
    pub async fn adopt(&self, id: &str, name: &str, audio_key: &str) -> io::Result<()> {
        self.bucket
            .copy(&self.of(id, name), &self.path(audio_key))
            .await
            .map_err(to_io)?;
        self.delete(id, name).await
    }
}
