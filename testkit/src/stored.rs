//! What a test server holds, seen by the test itself wherever the server keeps it: the
//! audio folder, or its prefix of a bucket (audio beside `tus/<id>/`, the uploads in
//! progress), and the local spool folder. Read directly (folder and bucket listings), not
//! through the server's own storage code, so that a test checks the server rather than
//! repeating it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, RetryConfig};
use tellus_server::ServerConfig;
use tellus_server::storage::StorageUrl;
use tellus_server::storage::url::{AzureLocation, S3Location};

use crate::services::seaweed;

/// Where uploads in progress live in a bucket (`storage::bucket_spool`).
const BUCKET_SPOOL: &str = "tus/";
const BUCKET_SPOOL_INFO: &str = "info.json";

pub struct Stored {
    /// The local spool folder: every upload's bytes with folder storage; with a bucket,
    /// an assembled upload's copy while its audio is checked.
    spool: PathBuf,
    audio: Audio,
}

enum Audio {
    Folder(PathBuf),
    Bucket(Arc<dyn ObjectStore>),
}

impl Stored {
    pub fn of(config: &ServerConfig) -> Stored {
        let url = config.storage.as_deref().filter(|u| !u.trim().is_empty());
        let audio = match url.map(StorageUrl::parse) {
            None => Audio::Folder(config.audio_dir()),
            Some(Ok(StorageUrl::Folder(dir))) => Audio::Folder(dir),
            Some(Ok(StorageUrl::S3(s3))) => Audio::Bucket(bucket(&s3)),
            Some(Ok(StorageUrl::Azure(az))) => Audio::Bucket(container(&az)),
            Some(Err(e)) => panic!("the test server's storage URL: {e}"),
        };
        Stored {
            spool: config.spool_dir(),
            audio,
        }
    }

    /// Every stored audio copy's key (a recording's id, or `<id>.listening`), sorted.
    pub async fn audio_keys(&self) -> Vec<String> {
        match &self.audio {
            Audio::Folder(dir) => sorted_names(dir),
            Audio::Bucket(store) => seaweed::keys(store)
                .await
                .into_iter()
                .filter(|key| !key.starts_with(BUCKET_SPOOL))
                .collect(),
        }
    }

    /// The bytes stored under `key`; None when there is no such copy.
    pub async fn audio(&self, key: &str) -> Option<Vec<u8>> {
        match &self.audio {
            Audio::Folder(dir) => match std::fs::read(dir.join(key)) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => panic!("read the stored audio {key}: {e}"),
            },
            Audio::Bucket(store) => get(store, key).await,
        }
    }

    /// Stores `bytes` under `key` behind the server's back (as a crash or a hand would).
    pub async fn put_audio(&self, key: &str, bytes: &[u8]) {
        match &self.audio {
            Audio::Folder(dir) => std::fs::write(dir.join(key), bytes)
                .unwrap_or_else(|e| panic!("write the stored audio {key}: {e}")),
            Audio::Bucket(store) => {
                store
                    .put(&ObjectPath::from(key), bytes.to_vec().into())
                    .await
                    .unwrap_or_else(|e| panic!("put {key} into the bucket: {e}"));
            }
        }
    }

    /// The uploads whose bytes are spooled anywhere: a spool file, or objects under
    /// `tus/<id>/` in the bucket.
    pub async fn spooled_uploads(&self) -> Vec<String> {
        let mut uploads: BTreeSet<String> = sorted_names(&self.spool).into_iter().collect();
        if let Audio::Bucket(store) = &self.audio {
            uploads.extend(
                seaweed::keys(store)
                    .await
                    .iter()
                    .filter_map(|key| key.strip_prefix(BUCKET_SPOOL))
                    .filter_map(|rest| rest.split('/').next().map(str::to_string)),
            );
        }
        uploads.into_iter().collect()
    }

    /// How many bytes upload `id` holds: its spool file's length, or the offset its state
    /// in the bucket records (the parts and tail it kept).
    pub async fn spooled_bytes(&self, id: &str) -> u64 {
        match &self.audio {
            Audio::Folder(_) => std::fs::metadata(self.spool.join(id))
                .unwrap_or_else(|e| panic!("upload {id}'s spool file: {e}"))
                .len(),
            Audio::Bucket(store) => {
                let key = format!("{BUCKET_SPOOL}{id}/{BUCKET_SPOOL_INFO}");
                let info = get(store, &key)
                    .await
                    .unwrap_or_else(|| panic!("upload {id} has no state in the bucket"));
                let info: serde_json::Value =
                    serde_json::from_slice(&info).expect("the upload's state is JSON");
                info["offset"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("no offset in upload {id}'s state: {info}"))
            }
        }
    }
}

/// A client of the bucket `s3` names, seen from under its prefix.
fn bucket(s3: &S3Location) -> Arc<dyn ObjectStore> {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&s3.bucket)
        .with_allow_http(true)
        .with_http_connector(tellus_server::storage::RustlsConnector)
        .with_retry(RetryConfig {
            max_retries: 3,
            ..RetryConfig::default()
        });
    if let Some(endpoint) = &s3.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = &s3.region {
        builder = builder.with_region(region);
    }
    if let Some(key) = &s3.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &s3.secret_access_key {
        builder = builder.with_secret_access_key(secret);
    }
    let client = builder
        .build()
        .expect("a client of the test server's bucket");
    if s3.prefix.is_empty() {
        Arc::new(client)
    } else {
        Arc::new(PrefixStore::new(client, s3.prefix.as_str()))
    }
}

/// A client of the Azure container `az` names, seen from under its prefix.
fn container(az: &AzureLocation) -> Arc<dyn ObjectStore> {
    let mut builder = MicrosoftAzureBuilder::new()
        .with_container_name(&az.container)
        .with_allow_http(true)
        .with_http_connector(tellus_server::storage::RustlsConnector)
        .with_retry(RetryConfig {
            max_retries: 3,
            ..RetryConfig::default()
        });
    if let Some(account) = &az.account {
        builder = builder.with_account(account);
    }
    if let Some(key) = &az.access_key {
        builder = builder.with_access_key(key);
    }
    if let Some(endpoint) = &az.endpoint {
        builder = builder.with_endpoint(endpoint.clone());
    }
    let client = builder
        .build()
        .expect("a client of the test server's container");
    if az.prefix.is_empty() {
        Arc::new(client)
    } else {
        Arc::new(PrefixStore::new(client, az.prefix.as_str()))
    }
}

fn sorted_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("a folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

async fn get(store: &Arc<dyn ObjectStore>, key: &str) -> Option<Vec<u8>> {
    match store.get(&ObjectPath::from(key)).await {
        Ok(got) => Some(got.bytes().await.expect("read the object").to_vec()),
        Err(object_store::Error::NotFound { .. }) => None,
        Err(e) => panic!("get {key} from the bucket: {e}"),
    }
}
